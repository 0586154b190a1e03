"""The SLURM profile against a real scheduler: jobs go through sbatch, a GPU job is scheduled on a GPU,
successful job logs are kept, and a failing job makes snakemake exit non-zero within a minute, naming the
job's log.

Runs only where a cluster is up and ERASURE_SLURM_TESTS=1, e.g. in CI:

    .ci/slurm/up.sh && source /tmp/erasure-slurm/env.sh
    ERASURE_SLURM_TESTS=1 python -m pytest tests/cluster -q
    .ci/slurm/down.sh

The cluster from .ci/slurm/up.sh has one node with a fake GPU (gres.conf File=/dev/null).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = Path(__file__).resolve().parent / "workflow" / "Snakefile"


REQUESTED = os.environ.get("ERASURE_SLURM_TESTS") == "1"


def cluster_problem() -> str | None:
    """Why no usable SLURM answers here, or None when a node is up."""
    if not shutil.which("sbatch"):
        return "sbatch is not on PATH"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"sinfo failed: {err}"
    if out.returncode != 0 or not any(s.startswith(("idle", "mix", "alloc")) for s in out.stdout.split()):
        return f"sinfo shows no usable node: {(out.stdout + out.stderr).strip()!r}"
    return None


pytestmark = pytest.mark.skipif(not REQUESTED, reason="needs ERASURE_SLURM_TESTS=1 and a running SLURM")


@pytest.fixture(autouse=True, scope="module")
def _cluster():
    # Asked for explicitly (CI), a cluster that is not there is a failure: a skip would pass CI silently.
    problem = cluster_problem()
    if problem:
        pytest.fail(f"ERASURE_SLURM_TESTS=1 but {problem} (start one with .ci/slurm/up.sh)", pytrace=False)


def snakemake(workdir: Path, *args: str, timeout: int = 300) -> tuple[int, str, float]:
    """Run the test workflow through the repository's profile; (exit status, output, seconds)."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--profile",
        str(ROOT / "slurm"),
        "--snakefile",
        str(workdir / "Snakefile"),
        "--directory",
        str(workdir),
        "--seconds-between-status-checks",
        "3",
        "--slurm-init-seconds-before-status-checks",
        "3",
        *args,
    ]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    print(out)  # shown by pytest on failure: the CI log then has the job ids
    return proc.returncode, out, time.monotonic() - t0


@pytest.fixture()
def workdir(tmp_path):
    shutil.copy(WORKFLOW, tmp_path / "Snakefile")
    return tmp_path


def submitted(out: str) -> dict[str, tuple[str, Path]]:
    """snakemake job id -> (SLURM job id, SLURM log) from 'Job N has been submitted with SLURM jobid M (log: L).'"""
    found = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.", out)
    return {job: (slurm_id, Path(log)) for job, slurm_id, log in found}


def sacct_tres(slurm_id: str) -> str:
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-j", slurm_id, "-o", "AllocTRES,State"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout


def test_dag_runs_through_sbatch_with_a_gpu_job(workdir):
    rc, out, seconds = snakemake(workdir, "--config", 'cluster={"gpus": True}')
    assert rc == 0, out
    jobs = submitted(out)
    assert len(jobs) == 2, "cpu_step and gpu_step each go through sbatch"
    for slurm_id, log in jobs.values():
        assert log.exists(), f"SLURM log {log} kept for a successful job (slurm-keep-successful-logs)"
        assert "COMPLETED" in sacct_tres(slurm_id)
    text = (workdir / "out" / "gpu.txt").read_text()
    gpu_job = re.search(r"gpu_step job=(\d+)", text)[1]
    assert "gres/gpu=1" in sacct_tres(gpu_job), "gpu_step was allocated the node's GPU"
    cpu_job = re.search(r"cpu_step job=(\d+)", text)[1]
    assert "gres/gpu" not in sacct_tres(cpu_job), "cpu_step asked for no GPU"
    print(f"DAG of 2 sbatch jobs finished in {seconds:.1f} s")


def test_failing_job_fails_the_run_within_a_minute_naming_its_log(workdir):
    rc, out, seconds = snakemake(workdir, "out/never.txt", timeout=120)
    assert rc != 0
    assert seconds < 60, f"failure took {seconds:.0f} s to surface"
    (job,) = submitted(out).values()
    slurm_id, log = job
    assert f"SLURM-job '{slurm_id}' failed" in out
    assert str(log) in out, "the error names the SLURM job's log"
    assert log.exists() and "about to fail on purpose" in out  # the rule's log is shown too
    print(f"failure surfaced after {seconds:.1f} s")
