"""Provenance: table1's record lists every score file behind it, changes when one changes, and the
lineage command prints it as a tree."""

from __future__ import annotations

import json
import shutil

from erasure import paths, plan
from erasure.io import sha256_file
from erasure.report import lineage, provenance
from erasure.report.tables import expected_cells


def _score_files_behind(config, name="table1"):
    spec = config["report"]["tables"][name]
    files = set()
    for method, promptset, metric in expected_cells(spec, plan.reference_method(config)):
        files.add(paths.score_summary("results", "toy", metric, method, promptset).as_posix())
        files.add(paths.score_csv("results", "toy", metric, method, promptset).as_posix())
    return files


def test_table1_provenance_lists_every_score_file(built_workdir, smoke_config):
    record = json.loads((built_workdir / "results/toy/provenance/table1.json").read_text())
    assert set(provenance.score_files(record)) == _score_files_behind(smoke_config)
    nodes = record["artifacts"]
    for key in _score_files_behind(smoke_config):
        assert nodes[key]["sha256"] and nodes[key]["scorer"]["label"].startswith("toy-")
    # the chain goes on upstream: manifests -> shards -> checkpoints (complete.json) -> base model
    stages = record["summary"]["by_stage"]
    assert stages["generate"] > 0 and stages["erase"] > 0
    assert nodes["base_model:toy:trained"]["stage"] == "toy_base"  # smoke trains its base in the DAG
    complete = nodes["results/toy/models/sdd-triangle/complete.json"]
    assert complete["checkpoints"]["steps"] == [2, 4] and complete["inputs"] == ["base_model:toy:trained"]
    train_log = "results/toy/models/sdd-triangle/train_log.csv"  # not an output of erase: pinned by complete.json
    assert complete["train_log"] == {"path": train_log, "sha256": sha256_file(built_workdir / train_log)}
    shard = nodes["results/toy/images/sdd-triangle@4/body/shards/0000.csv"]
    assert shard["wildcards"]["model_run"] == "sdd-triangle" and shard["wildcards"]["model_step"] == 4
    sd_score = nodes["results/toy/scores/target/sd/body.summary.csv"]
    assert sd_score["jobs"][0]["slurm_job_ids"] == ["424242"] and sd_score["jobs"][0]["benchmark_s"] == 1.25
    assert record["outputs"] == [f"results/toy/tables/table1.{e}" for e in ("csv", "md", "tex")]
    assert record["config"]["report"]["table"]["methods"] == smoke_config["report"]["tables"]["table1"]["methods"]
    assert set(record["packages"]) >= {"snakemake", "pandas", "matplotlib"} and "commit" in record["git"]


def test_provenance_changes_when_a_score_file_changes(built_workdir, smoke_config, tmp_path, monkeypatch):
    workdir = tmp_path / "w"
    shutil.copytree(built_workdir / "results", workdir / "results")
    monkeypatch.chdir(workdir)
    spec = smoke_config["report"]["tables"]["table1"]
    summaries = sorted(f for f in _score_files_behind(smoke_config) if f.endswith(".summary.csv"))

    def build():
        return provenance.build(artifact="table1", kind="table", outputs=["results/toy/tables/table1.csv"],
                                inputs=summaries, root="results", world="toy", config=smoke_config, spec=spec,
                                rule="report_table")

    before = build()
    changed = "results/toy/scores/clip/sld-max/coco.csv"  # a per-image file, one level behind the summaries
    with open(changed, "a") as handle:
        handle.write("clip,x,0,x.png,0.5,clip:fixture,toy-clip\n")
    after = build()
    assert before["artifacts"][changed]["sha256"] != after["artifacts"][changed]["sha256"]
    differing = {k for k in before["artifacts"] if before["artifacts"][k] != after["artifacts"][k]}
    assert differing == {changed}


def test_lineage_prints_a_tree_with_every_summary(built_workdir, smoke_config, capsys):
    assert lineage.main([str(built_workdir / "results/toy/tables/table1.csv")]) == 0
    out = capsys.readouterr().out
    for file in _score_files_behind(smoke_config):
        assert file in out
    assert "├── " in out and "└── " in out and "scorer toy-oracle" in out and "slurm 424242" in out
    assert lineage.main([str(built_workdir / "results/toy/figures/samples-body.png"), "--depth", "1"]) == 0
    assert "images/sd/body/manifest.csv" in capsys.readouterr().out
    assert lineage.main([str(built_workdir / "results/toy/figures/nope.png")]) == 1
    assert "no provenance record" in capsys.readouterr().err
