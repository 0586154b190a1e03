"""End to end: the smoke config (the default DAG's shape at CI size) runs, and a rerun does nothing."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def snakemake(repo, workdir, *args, timeout=1800):
    command = [
        sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "-d", str(workdir),
        "--configfile", str(repo / "config/smoke.yaml"), *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    repo = Path(__file__).resolve().parents[1]
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
