"""The one way tests run this repository's workflow as a user does (`python -m snakemake` in a subprocess) and
read its `Job stats` table; the end-to-end and dry-run tests share it."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def snakemake(workdir: Path, *args: str, configfile: str | None = None, timeout: float = 1800,
              env: dict | None = None) -> subprocess.CompletedProcess:
    """`snakemake -s <repo>/Snakefile -d WORKDIR [--configfile <repo>/CONFIGFILE] ARGS...`, output captured.

    Targets go in ARGS: `--configfile` is placed before them only when CONFIGFILE is given here, since
    Snakemake reads every word after `--configfile` as another config file."""
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    if configfile is not None:
        command += ["--configfile", str(REPO / configfile)]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout, env=env)


def job_counts(text: str) -> Counter:
    """Jobs per rule from the `Job stats` table of a Snakemake run or dry run (stdout + stderr); raises
    ValueError when the text has no such table."""
    if "Job stats:" not in text:
        raise ValueError(f"no 'Job stats' table in the Snakemake output:\n{text[-2000:]}")
    table = text.split("Job stats:", 1)[1].split("total", 1)[0]
    return Counter({m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)})
