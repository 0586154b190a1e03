"""End to end in world `sd` (config/sd-smoke.yaml): the paper's DAG shape on stand-in weights, from the
stand-ins' own rule to the HTML report. Every rule of the paper's plan runs, every output exists, every
number is labelled stand-in, no reader-facing text carries a machine path, preflight is all ok afterwards,
and a rerun does nothing.

Run by pytest (CI's `.ci/run` runs it with the rest; `-m "not slow"` skips it): the assertions on the outputs
live here, next to tests/test_smoke.py, while the SLURM job keeps exercising the cluster path on the toy
smoke config (running both DAGs through sbatch would double CI's cluster time for no new code path).
"""

from __future__ import annotations

import time

import pandas as pd
import pytest

from tests.snakemake_cli import REPO, job_counts
from tests.snakemake_cli import snakemake as _snakemake

pytestmark = pytest.mark.slow

CONFIG = "config/sd-smoke.yaml"


def snakemake(workdir, *args, configfile=CONFIG, timeout=3600):
    return _snakemake(workdir, *args, configfile=configfile, timeout=timeout)


@pytest.fixture(scope="module")
def sd_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("sd-smoke")
    (workdir / "config").symlink_to(REPO / "config")  # the config's relative prompt-fixture paths
    start = time.monotonic()
    result = snakemake(workdir, "--cores", "2")
    seconds = time.monotonic() - start
    assert result.returncode == 0, result.stderr[-6000:]
    print(f"sd-smoke: {seconds:.0f} s wall; jobs per rule: {dict(job_counts(result.stderr))}")
    return workdir, result


def test_every_rule_of_the_papers_plan_runs(sd_run, tmp_path):
    workdir, result = sd_run
    ran = job_counts(result.stderr)
    paper = snakemake(tmp_path, "-n", configfile="config/paper.yaml")
    assert paper.returncode == 0, paper.stderr[-3000:]
    planned = set(job_counts(paper.stdout + paper.stderr))
    assert planned - {"standins"} <= set(ran), planned - set(ran)
    assert {"standins", "preflight_gate", "q16_prompts", "fetch_prompts", "score_lpips", "score_fid",
            "score_harm", "score_nude_mace", "report_matrix"} <= set(ran)


def test_every_number_is_labelled_stand_in(sd_run):
    world = sd_run[0] / "results" / "sd"
    summaries = list((world / "scores").glob("*/*/*.summary.csv"))
    assert summaries
    for file in summaries:
        labels = pd.read_csv(file)["label"]
        assert labels.str.startswith("stand-in:").all(), file
    for table in ("table1", "table2", "table3"):
        md = (world / "tables" / f"{table}.md").read_text()
        assert "stand-in:" in md and "these numbers mean nothing" in md
    matrix = pd.read_csv(world / "scores" / "clip" / "sd" / "artists.csv")
    assert matrix["standin"].str.contains("stand-in").all()


def test_paper_columns_only_where_method_and_concepts_match(sd_run):
    world = sd_run[0] / "results" / "sd"
    table2 = pd.read_csv(world / "tables" / "table2.csv")
    nudity_only = table2[table2["method"] == "sdd-nudity@2"]
    assert nudity_only["paper"].isna().all()  # not the paper's 20-concept SDD (12.62)
    multi = table2[(table2["method"] == "sdd-i2p@2") & (table2["metric"] == "nude")]
    assert multi["paper"].item() == 12.62


def test_no_machine_path_in_reader_facing_text(sd_run):
    workdir = sd_run[0]
    world = workdir / "results" / "sd"
    for file in list((world / "tables").glob("*.*")):
        assert str(workdir) not in file.read_text(), file
    provenance = next((world / "provenance").glob("*.json")).read_text()
    assert str(workdir) in provenance or "results/sd" in provenance  # provenance keeps its paths


def test_provenance_records_the_fetched_i2p_files_sha256(sd_run):
    import json

    from erasure.io import sha256_file

    workdir = sd_run[0]
    record = json.loads((workdir / "results" / "sd" / "provenance" / "table2.json").read_text())
    text = json.dumps(record)
    expected = sha256_file(workdir / "results" / "sd" / "prompts" / "sources" / "i2p.csv")
    assert "prompts/sources/i2p.csv" in text and expected in text


def test_preflight_is_all_ok_and_the_html_report_builds(sd_run):
    workdir = sd_run[0]
    result = snakemake(workdir, "--cores", "1", "preflight")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = [line for line in (result.stdout + result.stderr).splitlines()
             if line.startswith(("ok ", "MISSING"))]
    assert lines and all(line.startswith("ok ") for line in lines)
    report = snakemake(workdir, "--report", str(workdir / "report.html"))
    assert report.returncode == 0, report.stderr[-3000:]
    html = (workdir / "report.html").read_text(errors="replace")
    assert "Stand-in weights" in html


def test_rerun_does_nothing(sd_run):
    result = snakemake(sd_run[0], "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr
