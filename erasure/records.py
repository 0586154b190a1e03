"""Job records: what one Snakemake job read and made, written by the job itself as it ends.

`erasure.runtime.job` (the wrapper every workflow shim runs its work in) calls `write_job_record` when the
job's work has succeeded. The record lies beside each output, `{output}.job.json` (a folder output: beside
the folder), so that whoever holds a file finds the job that made it without knowing the workflow:

    {"schema": 1, "rule": "summarize_score",
     "wildcards": {...}, "params": {...},              # as Snakemake gave them to the job (JSON-safe)
     "inputs":  [{"path", "type", "sha256", "bytes", "mtime_ns"[, "files", "stat"]}, ...],
     "outputs": [same],
     "log": [...], "slurm_job_id": "...", "host": "...", "started": ISO-8601 UTC, "ended": ...,
     "software": {"python": ..., "git": {"commit", "dirty"}, "packages": {name: version}}}

Paths are as the DAG names them (relative to the working directory where they lie inside it:
`dag_path`), so records move with results/ like the rest of them. A file's sha256 is reused from the record
of the job that made it when its size and mtime are what that record says (a 4 GB base model is hashed
once, by the job that built it, not by every job that reads it), and from `erasure.io.cached_sha256`
otherwise (this process's hashes, and the one cache across jobs for files no job made). A table's or figure's provenance is the closure over these records
(erasure.report.provenance); nothing re-derives it from path shapes.

Torch-free and snakemake-free: `job` is duck-typed (`rule`, `input`, `output`, `wildcards`, `params`,
`log`), Snakemake's script object or anything shaped like it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path

from erasure.io import cached_sha256, dag_path, write_json_atomic

SCHEMA = 1
SUFFIX = ".job.json"
PACKAGES = ("erasure", "snakemake", "torch", "diffusers", "transformers", "nudenet", "clean-fid", "lpips",
            "numpy", "pandas", "matplotlib", "pillow")
DIR_HASH_LIMIT = 5000  # folders with more files are fingerprinted by (name, size), not content


def record_path(output: str | os.PathLike) -> Path:
    """Where the record of the job that made `output` lies: `{output}.job.json` (trailing slash dropped)."""
    return Path(os.fspath(output).rstrip("/") + SUFFIX)


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def read_record(output: str | os.PathLike) -> dict | None:
    """The record beside `output`, or None where there is none (results made before job records, files from
    outside the DAG) or it does not parse (a torn copy: treated as absent, the file as unrecorded)."""
    try:
        record = json.loads(record_path(output).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("schema") == SCHEMA else None


def folder_files(directory: Path) -> list[Path]:
    """The files of a folder output, sorted; hidden ones skipped: Snakemake adds `.snakemake_timestamp` to a
    `directory()` output after its job ends, so the job's record and its readers' would differ by it."""
    directory = Path(directory)
    return sorted(p for p in directory.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(directory).parts))


def sha256_dir(directory: Path) -> tuple[str, str, int]:
    """(digest, what was hashed, file count) of a folder's files (`folder_files`) in sorted relative-path order:
    each file's relative path and sha256, or its size past DIR_HASH_LIMIT files."""
    files = folder_files(directory)
    digest = hashlib.sha256()
    by_content = len(files) <= DIR_HASH_LIMIT
    for file in files:
        rel = file.relative_to(directory).as_posix()
        part = _file_sha256(file) if by_content else str(file.stat().st_size)
        digest.update(f"{rel}\0{part}\n".encode())
    return digest.hexdigest(), ("relative paths + file sha256" if by_content else "relative paths + sizes"), len(files)


def _file_sha256(path: Path) -> str:
    """sha256 of a file, read at most once while its size and mtime stay the same: in this process (a file
    the job verified is not read again) and across jobs (a base model's weights outside results/, read by
    every job, are hashed by the first): erasure.io.cached_sha256, the one cache."""
    return cached_sha256(path)


def _dir_stat(directory: Path) -> str:
    """A digest of (relative path, size, mtime_ns) of every file: equal means the folder's hash can be reused."""
    digest = hashlib.sha256()
    for file in folder_files(directory):
        stat = file.stat()
        digest.update(f"{file.relative_to(directory).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def fingerprint(path: str | os.PathLike, known: Mapping | None = None) -> dict:
    """{path, type, sha256, ...} of a file or folder as a record holds it; `known` (the same file's entry in an
    earlier record) gives its sha256 without reading the bytes when size and mtime (a folder: every file's)
    are unchanged."""
    path = Path(path)
    entry: dict = {"path": dag_path(path).as_posix()}
    if path.is_file():
        stat = path.stat()
        entry.update(type="file", bytes=stat.st_size, mtime_ns=stat.st_mtime_ns)
        same = known and known.get("type") == "file" and known.get("sha256") and \
            known.get("bytes") == stat.st_size and known.get("mtime_ns") == stat.st_mtime_ns
        entry["sha256"] = known["sha256"] if same else _file_sha256(path)
    elif path.is_dir():
        stat = _dir_stat(path)
        if known and known.get("type") == "directory" and known.get("stat") == stat and known.get("sha256"):
            entry.update(type="directory", sha256=known["sha256"], sha256_of=known.get("sha256_of"),
                         files=known.get("files"), stat=stat)
        else:
            digest, how, count = sha256_dir(path)
            entry.update(type="directory", sha256=digest, sha256_of=how, files=count, stat=stat)
    else:
        entry.update(type="missing", sha256=None)
    return entry


def known_entry(path: str | os.PathLike) -> dict | None:
    """`path`'s entry among the outputs of the record of the job that made it (None: no such record)."""
    record = read_record(path)
    if record is None:
        return None
    wanted = dag_path(path).as_posix()
    return next((o for o in record.get("outputs", []) if o.get("path") == wanted), None)


def _files(named) -> list[str]:
    """Every path of a Snakemake Namedlist (or list / dict / str), flattened, each once, in order."""
    out: list[str] = []

    def add(value):
        if isinstance(value, (str, os.PathLike)):
            out.append(os.fspath(value))
        elif isinstance(value, Mapping):
            for item in value.values():
                add(item)
        elif isinstance(value, Iterable):
            for item in value:
                add(item)

    add(list(named) if named is not None else [])
    return list(dict.fromkeys(out))


def jsonable(value):
    """`value` as JSON can hold it: mappings (Snakemake's Namedlist `items()` too) and sequences kept, paths and
    anything else as their string."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if hasattr(value, "_names") and hasattr(value, "items"):  # snakemake.io.Namedlist: its names, not positions
        named = dict(value.items())
        return {str(k): jsonable(v) for k, v in named.items()} if named else [jsonable(v) for v in value]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return os.fspath(value) if isinstance(value, os.PathLike) else str(value)


def git_state(repo: str | os.PathLike | None = None) -> dict:
    """{commit, dirty} of the checkout whose code ran (the erasure package's), or a note why there is none."""
    repo = repo or Path(__file__).resolve().parents[1]

    def run(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30)

    try:
        head = run("rev-parse", "HEAD")
        status = run("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None, "note": "git not available"}
    if head.returncode != 0:
        return {"commit": None, "dirty": None, "note": "not a git checkout"}
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def package_versions(names: Iterable[str] = PACKAGES) -> dict:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def software() -> dict:
    return {"python": sys.version.split()[0], "git": git_state(), "packages": package_versions()}


def job_record(job, *, started: str, ended: str) -> dict:
    """The record of a finished Snakemake job `job` (duck-typed: rule, input, output, wildcards, params, log)."""
    inputs = [fingerprint(f, known_entry(f)) for f in _files(getattr(job, "input", None))]
    outputs = [fingerprint(f) for f in _files(getattr(job, "output", None))]
    return {
        "schema": SCHEMA,
        "rule": getattr(job, "rule", None),
        "wildcards": jsonable(getattr(job, "wildcards", {}) or {}),
        "params": jsonable(getattr(job, "params", {}) or {}),
        "inputs": inputs,
        "outputs": outputs,
        "log": [dag_path(f).as_posix() for f in _files(getattr(job, "log", None))],
        "slurm_job_id": os.environ.get("SLURM_JOB_ID") or None,
        "host": socket.gethostname(),
        "started": started,
        "ended": ended,
        "software": software(),
    }


def write_job_record(job, *, started: str, ended: str | None = None) -> dict:
    """Write the record of `job` beside each of its outputs (atomically, umask modes); returns it."""
    record = job_record(job, started=started, ended=ended or now())
    for output in _files(getattr(job, "output", None)):
        write_json_atomic(record_path(output), record)
    return record
