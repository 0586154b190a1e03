"""Atomic file writes and content hashes.

A job killed mid-write must never leave a file that looks complete, so every output is written under a
temporary name in the same directory and renamed into place (rename is atomic on POSIX file systems).

Outputs honour the process umask like any `open()` would (files 0666 & ~umask, folders 0777 & ~umask):
`tempfile.mkstemp` / `mkdtemp` create 0600 / 0700 whatever the umask, which would make every result
unreadable to colleagues in a shared group folder, so every temporary that becomes an output is made here
(`temp_file`, `temp_dir`) and given the umask's mode. Some writers ignore the umask as well (safetensors'
`save_file`, and so `save_pretrained`, creates 0600 files), so what they wrote is given the umask's mode
(`honour_umask`) before it is renamed into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (/proc), else set-and-restore."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_file(directory: str | os.PathLike, prefix: str, suffix: str = ".tmp") -> Path:
    """An empty temporary file in `directory` with the mode `open()` would give it (0666 & ~umask)."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=suffix)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    finally:
        os.close(fd)
    return Path(tmp)


def temp_dir(directory: str | os.PathLike, prefix: str) -> Path:
    """A temporary folder in `directory` with the mode `mkdir()` would give it (0777 & ~umask)."""
    tmp = Path(tempfile.mkdtemp(dir=directory, prefix=prefix))
    os.chmod(tmp, 0o777 & ~current_umask())
    return tmp


def honour_umask(path: str | os.PathLike) -> None:
    """Give `path` the mode a plain `open()` / `mkdir()` would have: a file 0666 & ~umask; a folder, and
    every folder and file below it, 0777 & ~umask and 0666 & ~umask."""
    mask = current_umask()
    path = Path(path)
    if not path.is_dir():
        os.chmod(path, 0o666 & ~mask)
        return
    os.chmod(path, 0o777 & ~mask)
    for root, dirs, files in os.walk(path):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o777 & ~mask)
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~mask)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_kwargs: Any) -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; rename it onto `path` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_file(path.parent, prefix=f".{path.name}.")
    try:
        with open(tmp, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary sibling path for libraries that want a file name (PIL, safetensors, pandas)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_file(path.parent, prefix=f".{path.name}.")
    try:
        yield tmp
        honour_umask(tmp)  # the library may have replaced the file with one of its own mode (safetensors: 0600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename into it) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, prefix: str | None = None, durable: bool = False) -> Iterator[Path]:
    """A temporary sibling folder to fill; on success it replaces `path` whole, so that a killed or failed
    job never leaves a half-written folder under the final name.

    Args:
        path: the folder to create or replace (its parent is created).
        prefix: the temporary's name prefix (default `.{name}.`), for callers that sweep up what a killed
            job left (erasure.checkpoints.remove_temporaries).
        durable: fsync every file, the folder and its parent before and after the rename (checkpoints a
            resumed run must trust after a power cut).

    Yields:
        The temporary folder (mode 0777 & ~umask). Everything in it is given the umask's modes before the
        rename (safetensors writes 0600 files whatever the umask).

    Raises:
        Whatever the block raises; the temporary is removed first and `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir(path.parent, prefix=f".{path.name}." if prefix is None else prefix)
    try:
        yield tmp
        honour_umask(tmp)
        if durable:
            for root, _, files in os.walk(tmp):
                for name in files:
                    with open(os.path.join(root, name), "rb") as handle:
                        os.fsync(handle.fileno())
            fsync_dir(tmp)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        os.rename(tmp, path)
        if durable:
            fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    with atomic_write(path) as handle:
        json.dump(data, handle, indent=2, sort_keys=True, default=str)
        handle.write("\n")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def dag_path(path: str | os.PathLike) -> Path:
    """`path` as a DAG input or param names it: relative to the working directory (the process's, which is
    Snakemake's `-d`, by default the repository) where it lies inside it, else as given.

    A job's identity (its recorded inputs and params, .snakemake/metadata) must hold no machine path, or the
    same results moved to another folder would all be planned again ("Set of input files has changed"): inside
    the working directory lie results/ and, in the default layout, the repository with its shipped assets (the
    toy base, config/prompts/). A file outside it (a Hugging Face cache, a weight on another disk) does not
    move with the results and is named as given. Jobs run in the same working directory, so the relative
    path still reads the same file."""
    given = Path(str(path)).expanduser()
    if not given.is_absolute():
        return given
    for absolute, cwd in ((os.path.abspath(given), os.getcwd()),
                          (os.path.realpath(given), os.path.realpath(os.getcwd()))):
        try:
            return Path(absolute).relative_to(cwd)
        except ValueError:
            continue
    return given


def built_root(value: str | os.PathLike | None, built: Sequence[Path] = ()) -> Path | None:
    """The folder of `built` that the path `value` lies in (or is), or None."""
    if not value or not built:
        return None
    path = Path(os.path.normpath(Path(str(value)).expanduser()))
    for root in built:
        root = Path(os.path.normpath(root))
        if path == root or root in path.parents:
            return root
    return None


# {(device, inode, size, mtime_ns): sha256} of the files this process has hashed: a job that reads one file
# twice (the reference method's images for two paired metrics, a figure's images, a verified input it then
# records) hashes it once. A file rewritten in place changes its mtime, and so its key.
_DIGESTS: dict[tuple[int, int, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 (lowercase hex) of `path`'s bytes, hashed at most once per process while the file is unchanged.
    Raises FileNotFoundError / OSError as `open` does."""
    stat = os.stat(path)
    key = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = sha256_file(path)
    return _DIGESTS[key]


# The one cache of sha256 across jobs, under the working directory (Snakemake's `-d`, where every job runs):
# {sha256 of the real path, 32 hex}.json per file hashed. A file a job made has its digest in that job's
# record (erasure.records); this cache is for files no job made (a base model's weights outside results/,
# read by every shard and record of every job).
DIGEST_CACHE = Path(".snakemake") / "erasure-sha256"
DIGEST_CACHE_MIN_BYTES = 1 << 20  # a smaller file hashes faster than its cache entry is read


def cached_sha256(path: str | os.PathLike, cache: str | os.PathLike | None = DIGEST_CACHE) -> str:
    """sha256 (lowercase hex) of `path`, reused across processes while the file keeps its size and mtime.

    The entry `cache`/{key}.json holds the real path, size (bytes), mtime (ns) and digest; a later call whose
    file has that path, size and mtime reads the digest instead of the file (as Snakemake trusts mtime for
    inputs over 1 MB), any other (a file rewritten, even to the same size, gets a new mtime; a damaged entry)
    hashes the file again. Entries are written atomically with the umask's mode (`write_json_atomic`), one
    per file, so concurrent jobs race harmlessly; files under DIGEST_CACHE_MIN_BYTES get none, and a cache
    that cannot be written (a read-only working directory) only costs the next job a hash. `cache=None`:
    this process's memo only (`file_sha256`).

    Raises FileNotFoundError / OSError as `open` does for `path`."""
    real = os.path.realpath(path)
    if cache is None:
        return file_sha256(real)
    stat = os.stat(real)
    entry = Path(cache) / f"{hashlib.sha256(real.encode()).hexdigest()[:32]}.json"
    try:
        record = json.loads(entry.read_text())
        if (record["path"], record["bytes"], record["mtime_ns"]) == (real, stat.st_size, stat.st_mtime_ns):
            return str(record["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = file_sha256(real)
    if stat.st_size >= DIGEST_CACHE_MIN_BYTES:
        with contextlib.suppress(OSError):
            write_json_atomic(entry, {"path": real, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                                      "sha256": digest})
    return digest
