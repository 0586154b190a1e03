"""Provenance: the closure over the job records (erasure.records) behind a table or figure, its PROV export
read by the `prov` package, and the lineage command that prints it as a tree or verifies it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from erasure import paths, plan, records
from erasure.io import sha256_file
from erasure.report import lineage, provenance
from erasure.report.tables import expected_cells

REPO = Path(__file__).resolve().parents[2]


def _score_files_behind(config, name="table1"):
    spec = config["report"]["tables"][name]
    files = set()
    for method, promptset, metric in expected_cells(spec, plan.reference_method(config)):
        files.add(paths.score_summary("results", "toy", metric, method, promptset).as_posix())
        files.add(paths.score_csv("results", "toy", metric, method, promptset).as_posix())
    return files


def test_table1_provenance_is_the_closure_over_the_job_records(built_workdir, smoke_config):
    """The report workflow of these tests runs summarize_score, the report rules and report_provenance; the
    per-image score files are fixtures no job made: leaves, hashed as the summarize jobs recorded them."""
    record = json.loads((built_workdir / "results/toy/provenance/table1.json").read_text())
    nodes = record["artifacts"]
    assert {k for k in nodes if k.startswith("results/toy/scores/")} == _score_files_behind(smoke_config)
    for key in _score_files_behind(smoke_config):
        assert nodes[key]["sha256"] == sha256_file(built_workdir / key)
        if key.endswith(".summary.csv"):
            assert nodes[key]["rule"] == "summarize_score" and nodes[key]["inputs"] == [key[:-12] + ".csv"]
            assert nodes[key]["jobs"][0]["seconds"] >= 0
        else:
            assert nodes[key]["stage"] == provenance.UNRECORDED
    table = nodes["results/toy/tables/table1.csv"]
    assert table["rule"] == "report_table" and set(table["inputs"]) == {
        k for k in _score_files_behind(smoke_config) if k.endswith(".summary.csv")}
    assert record["summary"]["unrecorded"] == sorted(k for k in _score_files_behind(smoke_config)
                                                     if not k.endswith(".summary.csv"))
    assert record["outputs"] == [f"results/toy/tables/table1.{e}" for e in ("csv", "md", "tex")]
    assert record["config"]["report"]["table"]["methods"] == smoke_config["report"]["tables"]["table1"]["methods"]
    assert set(record["packages"]) >= {"snakemake", "pandas", "matplotlib"} and "commit" in record["git"]


def test_the_prov_export_is_read_by_the_prov_package(built_workdir, smoke_config):
    """W3C PROV-JSON, loaded by the third-party `prov` package (not our code): every score file an entity
    with its sha256, each summarize_score job an activity that used its per-image file."""
    from prov.constants import PROV_ATTR_ACTIVITY, PROV_ATTR_ENTITY
    from prov.model import ProvActivity, ProvDocument, ProvEntity, ProvUsage

    document = ProvDocument.deserialize(built_workdir / "results/toy/provenance/table1.prov.json", format="json")
    entities = {str(e.identifier): e for e in document.get_records(ProvEntity)}
    for key in _score_files_behind(smoke_config):
        sha = [v for k, v in entities[f"file:{key}"].attributes if str(k) == "erasure:sha256"]
        assert sha == [sha256_file(built_workdir / key)]
    used = {(str(next(iter(u.get_attribute(PROV_ATTR_ACTIVITY)))), str(next(iter(u.get_attribute(PROV_ATTR_ENTITY)))))
            for u in document.get_records(ProvUsage)}
    summary = "results/toy/scores/target/sd/body.summary.csv"
    assert (f"erasure:job/summarize_score/{summary}", f"file:{summary[:-12]}.csv") in used
    assert {str(a.identifier) for a in document.get_records(ProvActivity)} >= {
        "erasure:job/report_table/results/toy/tables/table1.csv", f"erasure:job/summarize_score/{summary}"}


def test_lineage_prints_a_tree_with_every_score_file(built_workdir, smoke_config, capsys):
    assert lineage.main([str(built_workdir / "results/toy/tables/table1.csv")]) == 0
    out = capsys.readouterr().out
    for file in _score_files_behind(smoke_config):
        assert file in out
    assert "├── " in out and "└── " in out and "rule summarize_score" in out
    assert "have no job record (made before jobs wrote records)" in out  # the fixtures' per-image files
    assert lineage.main([str(built_workdir / "results/toy/figures/samples-body.png"), "--depth", "1"]) == 0
    assert "images/sd/body/manifest.csv" in capsys.readouterr().out
    assert lineage.main([str(built_workdir / "results/toy/figures/nope.png")]) == 1
    assert "no provenance record" in capsys.readouterr().err


SCRATCH_SNAKEFILE = """
rule all:
    input: "results/w/figures/fig.png"

rule make_a:
    input: "source.txt"
    output: "results/w/a.txt"
    params: factor=2
    log: "results/w/logs/make_a.log"
    script: "shim.py"

rule added:  # the rule this test adds: no provenance code names it
    input: a="results/w/a.txt", side="side.txt"
    output: "results/w/b.txt"
    log: "results/w/logs/added.log"
    script: "shim.py"

rule figure:
    input: "results/w/b.txt"
    output: "results/w/figures/fig.png"
    log: "results/w/logs/figure.log"
    script: "shim.py"
"""

SCRATCH_SHIM = """
from pathlib import Path

from erasure.runtime import job

with job(snakemake.log[0]):
    text = "".join(Path(f).read_text() for f in snakemake.input)
    for out in snakemake.output:
        Path(out).write_text(text + snakemake.rule + "\\n")
"""


def test_a_rule_added_to_a_workflow_shows_its_inputs_in_a_downstream_figures_lineage(tmp_path, monkeypatch, capsys):
    """Adding a rule needs no change to provenance code: a scratch workflow whose shims run in the job
    wrapper; the figure's provenance reaches the added rule's inputs through the records alone."""
    (tmp_path / "Snakefile").write_text(SCRATCH_SNAKEFILE)
    (tmp_path / "shim.py").write_text(SCRATCH_SHIM)
    (tmp_path / "source.txt").write_text("source\n")
    (tmp_path / "side.txt").write_text("side\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "SLURM_JOB_ID": "777"}
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    monkeypatch.chdir(tmp_path)
    figure = "results/w/figures/fig.png"
    record = provenance.build(artifact="fig", kind="figure", outputs=[figure], config={}, spec={}, rule="figure")
    nodes = record["artifacts"]
    assert set(nodes) == {figure, "results/w/b.txt", "results/w/a.txt", "side.txt", "source.txt"}
    added = nodes["results/w/b.txt"]
    assert added["rule"] == "added" and added["inputs"] == ["results/w/a.txt", "side.txt"]
    assert added["jobs"][0]["slurm_job_ids"] == ["777"] and nodes["results/w/a.txt"]["params"] == {"factor": 2}
    assert nodes["side.txt"]["stage"] == provenance.SOURCE and nodes["side.txt"]["sha256"] == sha256_file("side.txt")
    assert record["summary"]["unrecorded"] == [] and record["summary"]["conflicts"] == []

    out = Path("results/w/provenance/fig.json")
    provenance.write(out, record)
    provenance.write_prov(out.with_suffix(".prov.json"), record)
    assert lineage.main([figure]) == 0
    tree = capsys.readouterr().out
    assert "side.txt  [source]" in tree and "rule added" in tree and "slurm 777" in tree
    assert lineage.main([figure, "--verify"]) == 0
    assert "all 5 recorded sha256 match" in capsys.readouterr().out
    Path("side.txt").write_text("edited\n")
    assert lineage.main([figure, "--verify"]) == 1
    assert capsys.readouterr().out.startswith("side.txt: recorded sha256")

    from prov.model import ProvDocument

    document = ProvDocument.deserialize(out.with_suffix(".prov.json"), format="json")
    assert "file:side.txt" in {str(e.identifier) for e in document.get_records()}


def test_two_jobs_that_read_different_bytes_under_one_path_are_named(tmp_path, monkeypatch):
    """A file changed between the jobs that read it: the closure keeps both digests (`conflict`)."""
    monkeypatch.chdir(tmp_path)
    Path("results/w").mkdir(parents=True)
    Path("shared.txt").write_text("one")

    def run(rule, inputs, output):
        step = type("Step", (), {"rule": rule, "input": inputs, "output": [output], "wildcards": {}, "params": {},
                                 "log": []})()
        Path(output).write_text(rule)
        records.write_job_record(step, started=records.now())

    run("first", ["shared.txt"], "results/w/a.txt")
    Path("shared.txt").write_text("two")
    os.utime("shared.txt", ns=(0, os.stat("shared.txt").st_mtime_ns + 10**9))
    run("second", ["shared.txt"], "results/w/b.txt")
    run("report", ["results/w/a.txt", "results/w/b.txt"], "results/w/t.csv")
    nodes = provenance.closure(["results/w/t.csv"])
    assert len(nodes["shared.txt"]["conflict"]) == 2


def _record(tmp_path):
    """A provenance record over three files and a folder, as the job records hash them, made now."""
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
        nodes[key] = {**records.fingerprint(tmp_path / key), "path": key, "stage": "score"}
    nodes["config/prompts/x.csv"] = {"path": "config/prompts/x.csv", "stage": "source"}  # read by no recorded job
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
