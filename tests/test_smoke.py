"""End to end: the smoke config (the default DAG's shape at CI size) runs, and a rerun does nothing."""

import os
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.snakemake_cli import snakemake as _snakemake

pytestmark = pytest.mark.slow


def snakemake(repo, workdir, *args, timeout=1800):
    return _snakemake(workdir, *args, configfile="config/smoke.yaml", timeout=timeout)


def wait_for_run_end(workdir: Path, timeout_s: float) -> str | None:
    """The end marker .ci/slurm/run-smoke.sh writes into its working directory: "complete", the failure it
    recorded (`.smoke-failed`'s text), or None after `timeout_s` seconds with neither (a run still going)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if (workdir / ".smoke-complete").exists():
            return "complete"
        if (workdir / ".smoke-failed").exists():
            return (workdir / ".smoke-failed").read_text().strip() or "failed"
        if time.monotonic() > deadline:
            return None
        time.sleep(5)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """A finished run of config/smoke.yaml: made here with `--cores 2`, or, with ERASURE_SMOKE_RUN=<dir>, the
    working directory of a run made elsewhere from this checkout (CI: the same config through SLURM, started
    alongside the suite by .ci/run; this file is ordered last then, tests/conftest.py). That run is waited
    for (ERASURE_SMOKE_WAIT_S, default 3600 s) and accepted only if this checkout's plan has nothing left to do
    there; after a failed one this fixture makes its own run. The tests below only read it (the moved-run
    test copies it first)."""
    repo = Path(__file__).resolve().parents[1]
    made_elsewhere = os.environ.get("ERASURE_SMOKE_RUN")
    if made_elsewhere:
        workdir = Path(made_elsewhere)
        wait_s = float(os.environ.get("ERASURE_SMOKE_WAIT_S", "3600"))
        end = wait_for_run_end(workdir, wait_s)
        assert end is not None, f"ERASURE_SMOKE_RUN={made_elsewhere}: no end marker after {wait_s:.0f} s"
        if end == "complete":
            plan = snakemake(repo, workdir, "-n")
            assert plan.returncode == 0 and "Nothing to be done" in plan.stdout + plan.stderr, (
                f"ERASURE_SMOKE_RUN={made_elsewhere}: not a finished run of config/smoke.yaml from this "
                f"checkout; snakemake -n there plans:\n{(plan.stdout + plan.stderr)[-3000:]}"
            )
            return repo, workdir
        print(f"ERASURE_SMOKE_RUN={made_elsewhere} ended without its outputs ({end}): making a run here")
    workdir = tmp_path_factory.mktemp("smoke")
    result = snakemake(repo, workdir, "--cores", "2")
    assert result.returncode == 0, result.stderr[-5000:]
    return repo, workdir


def test_smoke_run_makes_every_table_and_figure(smoke_run):
    repo, workdir = smoke_run
    world = workdir / "results" / "toy"
    table = pd.read_csv(world / "tables" / "table1.csv")  # long format: one row per (method, column)
    assert table["method"].nunique() == 8  # every method of the smoke Table 1
    assert len(table) == 8 * 5
    assert table.loc[table["method"] != "sd", "mean"].notna().all()
    assert list((world / "figures").glob("*.png"))
    assert list((world / "provenance").glob("*.json"))


def test_rerun_does_nothing(smoke_run):
    repo, workdir = smoke_run
    result = snakemake(repo, workdir, "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_the_finished_run_moved_plans_nothing(smoke_run, tmp_path):
    """Issue 32 kind 1 on a real run: its working directory moved alone (`-d`, the repository stays), and the
    code copied with the results into one checkout (the default layout), each plan nothing; no file a later
    job reads names a path of the folder the run was made in."""
    import shutil

    repo, workdir = smoke_run
    moved = tmp_path / "project-storage" / "smoke"
    shutil.copytree(workdir, moved, symlinks=True)  # `cp -a`
    result = snakemake(repo, moved, "-n")
    assert result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr, result.stdout[-3000:]

    checkout = tmp_path / "lab" / "erasure"
    shutil.copytree(repo, checkout, ignore=shutil.ignore_patterns(".git", ".snakemake", "results", "__pycache__",
                                                                   ".pytest_cache", "experiments", "bench"))
    for folder in ("results", ".snakemake"):
        shutil.copytree(workdir / folder, checkout / folder, symlinks=True)
    result = snakemake(checkout, checkout, "-n")
    assert result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr, result.stdout[-3000:]

    world = workdir / "results" / "toy"
    for file in [*world.glob("scores/**/*.csv"), *world.glob("images/**/*.csv"), *world.glob("models/*/*.json")]:
        assert str(workdir) not in file.read_text(), file


def test_waiting_for_a_cluster_run_reads_its_end_marker(tmp_path):
    """The CI handshake with .ci/slurm/run-smoke.sh: no marker is a run still going (None after the wait), a
    failed run's marker carries its status, and a complete one wins."""
    assert wait_for_run_end(tmp_path, timeout_s=0) is None
    (tmp_path / ".smoke-failed").write_text("exit status 1\n")
    assert wait_for_run_end(tmp_path, timeout_s=0) == "exit status 1"
    (tmp_path / ".smoke-failed").unlink()
    (tmp_path / ".smoke-complete").write_text("config/smoke.yaml\n")
    assert wait_for_run_end(tmp_path, timeout_s=0) == "complete"
