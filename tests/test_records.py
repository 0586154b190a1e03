"""Job records (erasure.records): what each job read and made, written by the job wrapper beside its outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from erasure import records
from erasure.errors import ErasureError
from erasure.io import sha256_file
from erasure.runtime import job


def _step(**overrides):
    """A Snakemake job as the script preamble gives it (the fields erasure.records reads)."""
    fields = dict(rule="summarize_score", input=["results/w/scores/a.csv"], output=["results/w/scores/a.summary.csv"],
                  wildcards={"metric": "target", "method": "sd@4"}, params={"threshold": 0.5, "out": Path("x/y")},
                  log=["results/w/logs/a.log"])
    fields.update(overrides)
    return SimpleNamespace(**fields)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results/w/scores").mkdir(parents=True)
    (tmp_path / "results/w/scores/a.csv").write_text("metric,value\ntarget,1.0\n")
    return tmp_path


def test_the_job_wrapper_records_what_the_job_read_and_made(workdir, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "9001")
    step = _step()
    with job(None, step=step):
        Path(step.output[0]).write_text("metric,mean\ntarget,1.0\n")
    record = json.loads(Path("results/w/scores/a.summary.csv.job.json").read_text())
    assert record["rule"] == "summarize_score" and record["slurm_job_id"] == "9001"
    assert record["wildcards"] == {"metric": "target", "method": "sd@4"}
    assert record["params"] == {"threshold": 0.5, "out": "x/y"}
    assert [(e["path"], e["sha256"]) for e in record["inputs"]] == [
        ("results/w/scores/a.csv", sha256_file("results/w/scores/a.csv"))]
    assert [(e["path"], e["sha256"]) for e in record["outputs"]] == [
        ("results/w/scores/a.summary.csv", sha256_file("results/w/scores/a.summary.csv"))]
    assert record["started"] <= record["ended"] and record["log"] == ["results/w/logs/a.log"]
    assert record["software"]["packages"]["snakemake"] and "commit" in record["software"]["git"]


def test_an_absolute_path_inside_the_working_directory_is_recorded_relative(workdir):
    """results/ are portable (erasure.io.dag_path): a record names no path of the folder it was made in."""
    step = _step(input=[str(workdir / "results/w/scores/a.csv")], output=[str(workdir / "results/w/b.csv")])
    with job(None, step=step):
        Path(step.output[0]).write_text("b\n")
    text = Path("results/w/b.csv.job.json").read_text()
    assert str(workdir) not in text and '"path": "results/w/scores/a.csv"' in text


def test_a_failed_job_writes_no_record(workdir):
    step = _step()
    with pytest.raises(SystemExit), job(None, step=step):
        Path(step.output[0]).write_text("half")
        raise ErasureError("a.csv: column 'value' missing")
    assert not records.record_path(step.output[0]).exists()


def test_a_hash_is_reused_while_size_and_mtime_are_those_recorded(workdir):
    """The upstream job's record gives the digest of its output to every reader, unread, while the file's size
    and mtime are unchanged; a rewrite (new mtime) is hashed again."""
    file = Path("results/w/scores/a.csv")
    stat = file.stat()
    planted = {"path": file.as_posix(), "type": "file", "sha256": "f" * 64, "bytes": stat.st_size,
               "mtime_ns": stat.st_mtime_ns}
    records.write_job_record(_step(rule="score", input=[], output=[str(file)]), started=records.now())
    upstream = json.loads(records.record_path(file).read_text())
    upstream["outputs"] = [planted]  # as if the job had recorded this digest
    records.record_path(file).write_text(json.dumps(upstream))
    assert records.job_record(_step(), started="", ended="")["inputs"][0]["sha256"] == "f" * 64
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert records.job_record(_step(), started="", ended="")["inputs"][0]["sha256"] == sha256_file(file)


def test_a_file_no_job_made_is_hashed_once_across_jobs(workdir, monkeypatch):
    """A file from outside results/ (a base model's weights) is hashed by the first job that reads it; later
    jobs take the digest from the cache while its size and mtime are unchanged."""
    monkeypatch.setattr("erasure.io.DIGEST_CACHE_MIN_BYTES", 0)
    weights = workdir / "weights.safetensors"
    weights.write_bytes(b"w" * 100)
    first = records.fingerprint(weights)
    calls = []
    monkeypatch.setattr("erasure.io._DIGESTS", {})  # a later job: a new process
    monkeypatch.setattr("erasure.io.sha256_file", lambda path: calls.append(path) or "0" * 64)
    assert records.fingerprint(weights)["sha256"] == first["sha256"] == sha256_file(weights) and calls == []
    weights.write_bytes(b"v" * 100)
    os.utime(weights, ns=(0, first["mtime_ns"] + 10**9))
    assert records.fingerprint(weights)["sha256"] == "0" * 64 and len(calls) == 1


def test_a_folder_is_hashed_by_its_files_and_reused_by_their_stats(workdir):
    folder = workdir / "results/w/reference"
    folder.mkdir()
    (folder / "0.png").write_bytes(b"png")
    entry = records.fingerprint(folder)
    assert entry["type"] == "directory" and entry["files"] == 1
    assert records.fingerprint(folder, {**entry, "sha256": "e" * 64})["sha256"] == "e" * 64
    (folder / ".snakemake_timestamp").write_bytes(b"")  # what Snakemake adds to a folder output after its job
    assert records.fingerprint(folder)["sha256"] == entry["sha256"]
    (folder / "1.png").write_bytes(b"another")
    assert records.fingerprint(folder, {**entry, "sha256": "e" * 64})["sha256"] not in ("e" * 64, entry["sha256"])
