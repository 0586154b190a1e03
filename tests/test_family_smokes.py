"""End to end on the SD 2.1 and SDXL stand-ins (config/sd21-smoke.yaml, config/sdxl-smoke.yaml; issue 36): SDD,
ESD-x, ESD-u, UCE, RECE, SD and SD+NEG through the model-family adapter, from the stand-ins' own rule to the
report. Every rule the config plans runs, every number is labelled stand-in, the family the pipeline loads as is
the config's, and a rerun does nothing. Slow (each job is a process importing torch): `-m "not slow"` skips it."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.snakemake_cli import REPO, job_counts, snakemake

pytestmark = pytest.mark.slow

FAMILIES = {"sd21": ("config/sd21-smoke.yaml", "sd-2-1", "sd2"), "sdxl": ("config/sdxl-smoke.yaml", "sdxl-base-1.0", "sdxl")}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family_run(request, tmp_path_factory):
    world = request.param
    configfile = FAMILIES[world][0]
    workdir = tmp_path_factory.mktemp(f"{world}-smoke")
    (workdir / "config").symlink_to(REPO / "config")
    planned = snakemake(workdir, "-n", configfile=configfile)
    assert planned.returncode == 0, planned.stderr[-3000:]
    result = snakemake(workdir, "--cores", "2", configfile=configfile)
    assert result.returncode == 0, result.stderr[-6000:]
    print(f"{world}-smoke: jobs per rule: {dict(job_counts(result.stderr))}")
    return world, workdir, result, job_counts(planned.stdout + planned.stderr)


def test_every_planned_rule_runs_and_a_rerun_does_nothing(family_run):
    world, workdir, result, planned = family_run
    ran = job_counts(result.stderr)
    assert ran == planned
    assert {"standins", "erase", "edit", "generate_set", "score_nude", "report_table", "report_grid"} <= set(ran)
    assert ran["erase"] == 3 and ran["edit"] == 2  # SDD, ESD-x, ESD-u; UCE, RECE
    again = snakemake(workdir, "-n", configfile=FAMILIES[world][0])
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_every_number_is_labelled_stand_in_and_every_method_drew(family_run):
    world, workdir, _, _ = family_run
    results = workdir / "results" / world
    summaries = list((results / "scores").glob("*/*/*.summary.csv"))
    assert summaries
    for file in summaries:
        assert pd.read_csv(file)["label"].str.startswith("stand-in:").all(), file
    assert "these numbers mean nothing" in (results / "tables" / "table1.md").read_text()
    for method in ("sd", "sd-neg", "sdd-nudity@2", "esd-x-nudity@1", "esd-u-nudity@1", "uce-nudity@1", "rece-nudity@2"):
        sets = ("country-body",) if method in ("sd", "sd-neg", "sdd-nudity@2") else ("samples",)
        for promptset in sets:
            manifest = pd.read_csv(results / "images" / method / promptset / "manifest.csv")
            assert len(manifest) == 2, (method, promptset)


def test_the_base_loads_as_its_family(family_run):
    world, workdir, _, _ = family_run
    from erasure.models import load_base_pipeline
    from erasure.worlds.families import family_of_pipeline

    base = workdir / "results" / world / "standins" / FAMILIES[world][1]
    pipe = load_base_pipeline(str(base))
    assert family_of_pipeline(pipe).name == FAMILIES[world][2]
    edited = json.loads((workdir / "results" / world / "models" / "uce-nudity" / "run.json").read_text())
    assert edited["method"] == "uce" and edited["base_model"].endswith(FAMILIES[world][1])
