"""The report rules in a real (temporary) workflow: targets, reruns on content changes only, the report."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml

from erasure.io import sha256_file

from .conftest import snakemake


def _planned(workdir):
    """{rule: [output files]} of the jobs a dry-run would run."""
    result = snakemake(workdir, "-n", quiet=False)
    jobs, rule = {}, None
    for line in (result.stdout + result.stderr).splitlines():
        if m := re.match(r"^(?:local)?rule (\S+):$", line):
            rule = m[1]
            jobs.setdefault(rule, [])
        elif rule and (m := re.match(r"^\s+output: (.*)$", line)):
            jobs[rule] += [p.strip() for p in m[1].split(",")]
    return jobs


def test_every_target_is_built(built_workdir, smoke_config):
    world = built_workdir / "results" / "toy"
    for name in ("samples-body", "training-curves", "shape-interference", "shape-interference-images", "frontier"):
        assert (world / "figures" / f"{name}.png").stat().st_size > 5000
    for ext in ("csv", "md", "tex"):
        assert (world / "tables" / f"table1.{ext}").is_file()
    for name in ("table1", "samples-body", "training-curves", "shape-interference", "frontier"):
        assert (world / "provenance" / f"{name}.json").is_file()
        assert (world / "benchmarks").glob("report_*/*.tsv")
    result = snakemake(built_workdir, "-n", quiet=False)
    assert "Nothing to be done" in result.stdout + result.stderr


def test_changing_one_plots_parameter_reruns_only_that_plot(built_workdir, tmp_path):
    workdir = tmp_path / "w"
    shutil.copytree(built_workdir, workdir, symlinks=True)
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["report"]["grids"]["samples-body"]["n_prompts"] = 2  # content, not mtime
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = _planned(workdir)
    assert jobs.pop("all", None) is not None
    assert jobs == {"report_grid": ["results/toy/figures/samples-body.png"],
                    "report_provenance": ["results/toy/provenance/samples-body.json",
                                          "results/toy/provenance/samples-body.prov.json"]}


def test_a_changed_score_summary_reruns_its_table_and_provenance_only(built_workdir, tmp_path):
    workdir = tmp_path / "w"
    shutil.copytree(built_workdir, workdir, symlinks=True)
    summary = workdir / "results/toy/scores/fid-toy/sega/coco.summary.csv"
    summary.write_text(summary.read_text().replace("toy-oracle", "toy-oracle "))
    jobs = _planned(workdir)
    jobs.pop("all", None)
    assert jobs == {"report_table": ["results/toy/tables/table1.csv", "results/toy/tables/table1.md",
                                     "results/toy/tables/table1.tex"],
                    "report_provenance": ["results/toy/provenance/table1.json",
                                          "results/toy/provenance/table1.prov.json"]}


def test_a_hand_edited_per_image_score_flows_into_summary_table_frontier_and_lineage(built_workdir, tmp_path):
    """Issue 32 kind 3 (issue 17 case 6 before it): one row of a per-image score file changed by hand, as a lab
    reviewing detector false positives does. The summary was written by the score job, so nothing reran it:
    the frontier moved, the summary and Table 1 did not, and lineage showed the new file's hash under the old
    summary. Now the summary has its own rule: after `snakemake` the summary, Table 1, the frontier and the
    lineage agree; before it, `lineage --verify` names the edited file."""
    import pandas as pd

    from erasure.metrics.summary import summarize_file
    from erasure.report import lineage

    workdir = tmp_path / "w"
    shutil.copytree(built_workdir, workdir, symlinks=True)
    changed = "results/toy/scores/target/sdd-triangle@4/body.csv"
    summary = changed.replace(".csv", ".summary.csv")
    frame = pd.read_csv(workdir / changed, dtype={"prompt_id": str})
    frame.loc[0, "value"] = 100.0 - frame.loc[0, "value"]  # one image's verdict flipped
    frame.loc[0, "flagged"] = not frame.loc[0, "flagged"]
    frame.to_csv(workdir / changed, index=False)
    expected = float(frame["value"].mean())

    table1 = workdir / "results/toy/provenance/table1.json"
    stale = lineage.verify(json.loads(table1.read_text()), workdir=workdir)
    assert [(m.path, m.current) for m in stale] == [(changed, sha256_file(workdir / changed))]
    assert lineage.main([str(table1), "--verify"]) == 1

    jobs = _planned(workdir)
    jobs.pop("all", None)
    assert jobs.pop("summarize_score") == [summary]  # the summary first, then everything that reads either file
    assert jobs.pop("report_table") == [f"results/toy/tables/table1.{ext}" for ext in ("csv", "md", "tex")]
    assert jobs.pop("report_frontier") == ["results/toy/figures/frontier.png", "results/toy/tables/frontier.csv"]
    assert jobs.pop("report_curves") == ["results/toy/figures/training-curves.png"]
    assert sorted(jobs.pop("report_provenance")) == sorted(
        f"results/toy/provenance/{name}{ext}" for name in ("table1", "frontier", "training-curves")
        for ext in (".json", ".prov.json"))
    assert jobs == {}

    snakemake(workdir)
    summary_mean = float(pd.read_csv(workdir / summary)["mean"].iloc[0])
    assert summary_mean == pytest.approx(expected)
    rederived = summarize_file(workdir / changed, tmp_path / "s.csv", metric="target", method="sdd-triangle@4",
                               promptset="body")
    pd.testing.assert_frame_equal(pd.read_csv(workdir / summary), pd.read_csv(tmp_path / "s.csv"))
    assert rederived["mean"].iloc[0] == pytest.approx(expected)
    table = pd.read_csv(workdir / "results/toy/tables/table1.csv")
    cell = table[(table["method"] == "sdd-triangle@4") & (table["metric"] == "target")]
    assert float(cell["mean"].iloc[0]) == pytest.approx(expected)
    frontier = pd.read_csv(workdir / "results/toy/tables/frontier.csv")
    point = frontier[frontier["method"] == "sdd-triangle@4"]
    assert len(point) and all(value == pytest.approx(expected) for value in point["target"].astype(float))
    for name in ("table1", "frontier", "training-curves"):
        record_file = workdir / f"results/toy/provenance/{name}.json"
        record = json.loads(record_file.read_text())
        assert record["artifacts"][changed]["sha256"] == sha256_file(workdir / changed)
        assert lineage.verify(record, workdir=workdir) == []
    assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(snakemake(workdir, "-n", quiet=False))


def test_an_edited_shard_manifest_of_a_one_shard_set_reruns_nothing(built_workdir, tmp_path):
    """The smoke run's sets are one shard each: generate_set wrote each set's manifest from its shard manifest in
    the same job, and nothing reads the shard manifest again, so editing it reruns nothing (a set of several
    shards: merge_manifest reads its shard manifests, and its job record lists them)."""
    workdir = tmp_path / "w"
    shutil.copytree(built_workdir, workdir, symlinks=True)
    shard = workdir / "results/toy/images/sega/coco/shards/0000.csv"
    shard.write_text(shard.read_text() + "\n")
    jobs = _planned(workdir)
    jobs.pop("all", None)
    assert jobs == {}


def test_snakemake_report_holds_every_table_and_figure_with_a_caption(built_workdir):
    snakemake(built_workdir, "--report", "report.html")
    html = (built_workdir / "report.html").read_text()
    for text in ("Concept removal (toy analogue", "Training curves (the paper", "Samples of",
                 "Removal matrix", "Provenance of", "Safe self-Distillation Diffusion", "Erasure-retention frontier", "retention frontier <tt"):
        assert text in html, text
