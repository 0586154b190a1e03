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
    # the chain goes on upstream: manifests -> checkpoints (complete.json) -> base model (a set of one shard is
    # drawn by one generate_set job: its shard manifest is that job's side file, not a node)
    stages = record["summary"]["by_stage"]
    assert stages["generate"] > 0 and stages["erase"] > 0
    assert nodes["base_model:toy:trained"]["stage"] == "toy_base"  # smoke trains its base in the DAG
    complete = nodes["results/toy/models/sdd-triangle/complete.json"]
    assert complete["checkpoints"]["steps"] == [2, 4] and complete["inputs"] == ["base_model:toy:trained"]
    train_log = "results/toy/models/sdd-triangle/train_log.csv"  # not an output of erase: pinned by complete.json
    assert complete["train_log"] == {"path": train_log, "sha256": sha256_file(built_workdir / train_log)}
    manifest = nodes["results/toy/images/sdd-triangle@4/body/manifest.csv"]
    assert manifest["wildcards"]["model_run"] == "sdd-triangle" and manifest["wildcards"]["model_step"] == 4
    assert "results/toy/models/sdd-triangle/complete.json" in manifest["inputs"]
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


def _local_base(root):
    base = root / "sd-base"
    for name, text in {"model_index.json": "{}", "unet/config.json": "{}", "vae/config.json": "{}",
                       "unet/diffusion_pytorch_model.safetensors": "unet v1",
                       "vae/diffusion_pytorch_model.safetensors": "vae"}.items():
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text(text)
    return base


def test_a_local_base_model_is_pinned_by_its_weights(tmp_path):
    """Issue 17 case 7: replacing the UNet weights of a local base changes its provenance node."""
    base = _local_base(tmp_path)
    config = {"world": "sd", "base_model": str(base)}
    unet = (base / "unet/diffusion_pytorch_model.safetensors").as_posix()

    def node():
        walker = provenance.Walker(tmp_path / "results", "sd", config)
        return walker.nodes, walker.nodes[walker.add_base_model()]

    nodes, before = node()
    assert unet in before["inputs"] and nodes[unet]["sha256"] == sha256_file(unet)
    (base / "unet/diffusion_pytorch_model.safetensors").write_text("unet v2")
    nodes, after = node()
    assert after["sha256"] != before["sha256"] and nodes[unet]["sha256"] == sha256_file(unet)


def test_a_hub_base_model_records_its_snapshot_revision_and_files(tmp_path, monkeypatch):
    """Another instance of case 7: a hub id was recorded by id alone; now by the cached snapshot it resolves to."""
    repo = tmp_path / "hub" / "models--CompVis--stable-diffusion-v1-4"
    for revision in ("aaa111", "bbb222"):
        (repo / "snapshots" / revision / "unet").mkdir(parents=True)
        (repo / "snapshots" / revision / "model_index.json").write_text("{}")
        (repo / "snapshots" / revision / "unet" / "diffusion_pytorch_model.safetensors").write_text(revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("aaa111")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    config = {"world": "sd", "base_model": "CompVis/stable-diffusion-v1-4"}

    def node():
        walker = provenance.Walker(tmp_path / "results", "sd", config)
        return walker.nodes[walker.add_base_model()]

    first = node()
    assert first["revision"] == "aaa111" and first["sha256"] and len(first["inputs"]) == 3  # refs/main + 2 files
    (repo / "refs" / "main").write_text("bbb222")
    second = node()
    assert second["revision"] == "bbb222" and second["sha256"] != first["sha256"]


def test_provenance_refuses_to_hash_a_file_that_is_not_an_input_of_its_job(built_workdir, smoke_config, monkeypatch):
    """The invariant behind case 6: the walk may only fingerprint the provenance job's inputs."""
    import pytest

    from erasure.errors import ErasureError
    from erasure.report.targets import provenance_inputs

    monkeypatch.chdir(built_workdir)
    spec = smoke_config["report"]["tables"]["table1"]
    files = provenance_inputs(smoke_config, "results", "toy", "table1")
    kwargs = dict(artifact="table1", kind="table", outputs=files["outputs"], inputs=files["inputs"], root="results",
                  world="toy", config=smoke_config, spec=spec, rule="report_table")
    record = provenance.build(**kwargs, upstream=files["upstream"])
    hashed = {k for k, n in record["artifacts"].items() if n.get("sha256") and not k.startswith("base_model:")}
    assert hashed <= set(files["outputs"] + files["inputs"] + files["upstream"])
    assert "results/toy/scores/clip/sld-max/coco.csv" in files["upstream"]
    missing = [f for f in files["upstream"] if f != "results/toy/scores/clip/sld-max/coco.csv"]
    with pytest.raises(ErasureError, match="scores/clip/sld-max/coco.csv is upstream .* not an input"):
        provenance.build(**kwargs, upstream=missing)


def test_a_score_of_a_sets_job_finds_that_jobs_log_and_benchmark(tmp_path):
    """The toy world scores a set's metrics in one job (erasure.plan.set_score_jobs), logged per (method, prompt
    set); a metric's own rule logs per (metric, method, prompt set) and wins where both exist."""
    from erasure.report.provenance import _JobIndex

    world = tmp_path / "results" / "toy"
    for file, text in {"logs/score/sdd@4/coco.log": "SLURM_JOB_ID=77  host=n1\n",
                       "benchmarks/score/sdd@4/coco.tsv": "s\th:m:s\n2.5\t0:00:02\n",
                       "logs/score/target/sdd@4/body.log": "SLURM_JOB_ID=78\n",
                       "logs/score/sdd@4/body.log": "SLURM_JOB_ID=79\n"}.items():
        (world / file).parent.mkdir(parents=True, exist_ok=True)
        (world / file).write_text(text)
    index = _JobIndex(world, tmp_path / ".snakemake" / "slurm_logs")
    node = {"stage": "score", "wildcards": {"metric": "alignment", "method": "sdd@4", "promptset": "coco"}}
    index.attach(node)
    assert [(j["rule"], j["slurm_job_ids"], j["benchmark_s"]) for j in node["jobs"]] == [("score", ["77"], 2.5)]
    own = {"stage": "score", "wildcards": {"metric": "target", "method": "sdd@4", "promptset": "body"}}
    index.attach(own)
    assert [j["slurm_job_ids"] for j in own["jobs"]] == [["78"]]


def test_a_summary_lists_its_own_summarize_job_and_an_old_runs_summary_its_score_job(tmp_path):
    """Issue 32: summaries are derived by `summarize_score`; a run from before that wrote them in the score job."""
    from erasure.report.provenance import _JobIndex

    world = tmp_path / "results" / "toy"
    for file in ("logs/score/target/sd/body.log", "logs/summarize_score/target/sd/body.log",
                 "logs/score/target/sd/i2p.log"):
        (world / file).parent.mkdir(parents=True, exist_ok=True)
        (world / file).write_text("SLURM_JOB_ID=\n")
    index = _JobIndex(world, tmp_path / ".snakemake" / "slurm_logs")
    for promptset, rule in (("body", "summarize_score"), ("i2p", "score")):
        summary = {"stage": "score", "path": f"results/toy/scores/target/sd/{promptset}.summary.csv",
                   "wildcards": {"metric": "target", "method": "sd", "promptset": promptset}}
        index.attach(summary)
        assert [j["rule"] for j in summary["jobs"]] == [rule]
    per_image = {"stage": "score", "path": "results/toy/scores/target/sd/body.csv",
                 "wildcards": {"metric": "target", "method": "sd", "promptset": "body"}}
    index.attach(per_image)
    assert [j["rule"] for j in per_image["jobs"]] == ["score"]


def _record(tmp_path):
    """A provenance record over three files and a folder, as `provenance.build` writes them, made now."""
    (tmp_path / "results/toy/scores/target/sd").mkdir(parents=True)
    (tmp_path / "results/toy/reference").mkdir(parents=True)
    files = {"results/toy/scores/target/sd/body.csv": "metric,value\ntarget,0.0\n",
             "results/toy/scores/target/sd/body.summary.csv": "metric,mean\ntarget,0.0\n",
             "results/toy/tables/table1.csv": "method,mean\nsd,0.0\n",
             "results/toy/reference/00000.png": "png"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    nodes = {}
    for key in ("results/toy/scores/target/sd/body.csv", "results/toy/scores/target/sd/body.summary.csv",
                "results/toy/tables/table1.csv", "results/toy/reference"):
        nodes[key] = {"path": key, "stage": "score", **provenance._fingerprint(tmp_path / key)}
    nodes["base_model:"] = {"path": "base_model:", "stage": "base model", "sha256": "0" * 64}
    record = {"outputs": ["results/toy/tables/table1.csv"], "artifacts": nodes}
    out = tmp_path / "results/toy/provenance/table1.json"
    out.parent.mkdir(parents=True)
    out.write_text(json.dumps(record))
    return record, out


def test_verify_names_each_file_that_differs_from_its_record(tmp_path, capsys):
    """Issue 32 kind 3: lineage printed the record's hashes and nothing compared them with the files."""
    record, out = _record(tmp_path)
    assert lineage.verify(record, workdir=tmp_path) == []
    assert lineage.main([str(out), "--verify"]) == 0
    assert "all 4 recorded sha256 match" in capsys.readouterr().out

    edited = "results/toy/scores/target/sd/body.csv"
    recorded = record["artifacts"][edited]["sha256"]
    (tmp_path / edited).write_text("metric,value\ntarget,100.0\n")  # a reviewed false negative, by hand
    (tmp_path / "results/toy/reference/00001.png").write_text("another")  # a folder changes by its files
    (tmp_path / "results/toy/tables/table1.csv").unlink()
    found = lineage.verify(record, workdir=tmp_path)
    assert [m.path for m in found] == [edited, "results/toy/tables/table1.csv", "results/toy/reference"]
    assert found[0] == lineage.Mismatch(edited, recorded, sha256_file(tmp_path / edited))
    assert found[1].current is None
    assert lineage.main([str(out), "--verify"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[0] == (f"{edited}: recorded sha256 {recorded[:16]}…, now {sha256_file(tmp_path / edited)[:16]}…; "
                        f"the record and what was made from this file are stale: `touch {edited}` (if it is there) "
                        "and rerun snakemake, which remakes everything made from it, then this record")
    assert "now missing" in lines[1]


def test_lineage_labels_the_hashes_it_prints_as_recorded(tmp_path, capsys):
    record, out = _record(tmp_path)
    record.update(kind="table", artifact="table1", rule="report_table", git={}, summary={"artifacts": 4, "by_stage": {}})
    record["artifacts"]["results/toy/tables/table1.csv"]["inputs"] = ["results/toy/scores/target/sd/body.summary.csv"]
    out.write_text(json.dumps(record))
    (tmp_path / "results/toy/scores/target/sd/body.summary.csv").write_text("changed since")
    assert lineage.main([str(out)]) == 0
    text = capsys.readouterr().out
    summary = record["artifacts"]["results/toy/scores/target/sd/body.summary.csv"]["sha256"]
    assert f"recorded sha256 {summary[:12]}" in text  # the record's, not the file's now
