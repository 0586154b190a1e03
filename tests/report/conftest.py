"""A temporary workflow directory with fake upstream results, and a Snakefile holding only the report rules
(plus common.smk and the stages' *_common.smk, and summarize.smk: summaries are derived from the per-image files), so that report tests do not depend on the other stages' rules or their inputs."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from erasure.config import validate_config

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = f'''
import sys
from pathlib import Path

sys.path.insert(0, {str(REPO)!r})

from erasure import paths, plan
from erasure.config import validate_config
from erasure.errors import ErasureError

configfile: "config.yaml"

config.update(validate_config(config, {str(REPO / "config" / "schema.yaml")!r}))


include: {str(REPO / "rules" / "common.smk")!r}
include: {str(REPO / "rules" / "preflight_common.smk")!r}
include: {str(REPO / "rules" / "generate_common.smk")!r}
include: {str(REPO / "rules" / "score_common.smk")!r}
include: {str(REPO / "rules" / "report_common.smk")!r}
include: {str(REPO / "rules" / "summarize.smk")!r}
include: {str(REPO / "rules" / "report.smk")!r}


rule all:
    default_target: True
    input:
        report_targets(),
'''


def load_config(name: str = "smoke") -> dict:
    with open(REPO / "config" / f"{name}.yaml") as handle:
        raw = yaml.safe_load(handle)
    return validate_config(raw, REPO / "config" / "schema.yaml")


def make_workdir(tmp: Path, config: dict) -> Path:
    from .fixtures import make_results

    config = copy.deepcopy(config)
    config["results"] = "results"
    (tmp / "Snakefile").write_text(SNAKEFILE)
    (tmp / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    make_results(tmp / "results", config)
    return tmp


def snakemake(workdir: Path, *args: str, check: bool = True, cores: int = 1,
              quiet: bool = True) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--cores", str(cores), *(["--quiet", "rules"] if quiet else []), *args]
    result = subprocess.run(command,
                            cwd=workdir, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def smoke_config() -> dict:
    return load_config("smoke")


@pytest.fixture(scope="session")
def built_workdir(tmp_path_factory, smoke_config) -> Path:
    """A workdir on the smoke config whose report targets have all been built, once per session: the fixtures'
    upstream files, then the summaries, tables, figures and provenance made by their rules (and job records)."""
    config = copy.deepcopy(smoke_config)  # plus a frontier (erasure/report/frontier.py) over two checkpoints
    config["report"]["frontiers"] = {"frontier": {
        "rows": [{"label": "config prompt sets", "target": "body", "retention": "coco"}],
        "series": [{"label": "SDD", "methods": ["sdd-triangle@2", "sdd-triangle@4"]}], "methods": ["sd"]}}
    workdir = make_workdir(tmp_path_factory.mktemp("report-workflow"), config)
    for summary in (workdir / "results").rglob("*.summary.csv"):  # made by summarize_score, with its job record
        summary.unlink()
    snakemake(workdir, cores=2)
    return workdir
