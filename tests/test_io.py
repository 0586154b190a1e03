"""Outputs honour the umask: files 0666 & ~umask, folders 0777 & ~umask (mkstemp / mkdtemp alone give 0600 /
0700, unreadable to colleagues in a shared group folder). Issue 17, case 8."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import stat
from pathlib import Path

import pytest
import torch

from erasure.io import atomic_path, atomic_write, write_json_atomic

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=[0o002, 0o022], ids=["umask002", "umask022"])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_current_umask_reads_without_changing(umask):
    from erasure.io import current_umask

    assert current_umask() == umask
    assert current_umask() == umask


def test_atomic_files_have_the_umask_mode(tmp_path, umask):
    write_json_atomic(tmp_path / "a.json", {"x": 1})
    with atomic_write(tmp_path / "b.txt") as handle:
        handle.write("b")
    with atomic_path(tmp_path / "c.csv") as tmp:
        tmp.write_text("c")
    for name in ("a.json", "b.txt", "c.csv"):
        assert mode(tmp_path / name) == 0o666 & ~umask, name
    # same as a plain open() under this umask
    (tmp_path / "plain").write_text("p")
    assert mode(tmp_path / "plain") == mode(tmp_path / "a.json")


def test_a_library_that_writes_0600_through_atomic_path_gets_the_umask_mode(tmp_path, umask):
    # safetensors' save_file creates 0600 files whatever the umask (Q16 prompts, toy weights go this way)
    from safetensors.torch import save_file

    with atomic_path(tmp_path / "w.safetensors") as tmp:
        save_file({"w": torch.zeros(2)}, str(tmp))
    assert mode(tmp_path / "w.safetensors") == 0o666 & ~umask


def test_checkpoint_folder_and_files_have_the_umask_mode(tmp_path, umask):
    from erasure import checkpoints as ckpt

    final = ckpt.save_checkpoint(tmp_path / "run", 2, {"student": {"w": torch.zeros(3)}}, {"rng": torch.zeros(1)},
                                 {"seconds": 0.0}, {"method": "sdd", "deliverable": "student"})
    assert mode(final) == 0o777 & ~umask
    assert {f.name for f in final.iterdir()} >= {"student.safetensors", "sha256.json", "meta.json"}
    assert all(mode(f) == 0o666 & ~umask for f in final.iterdir())
    record = ckpt.write_complete(tmp_path / "run", tmp_path / "run" / "complete.json", iterations=2)
    assert mode(tmp_path / "run" / "complete.json") == 0o666 & ~umask and record["steps"] == [2]


def test_toy_reference_folder_has_the_umask_mode(tmp_path, umask):
    spec = importlib.util.spec_from_file_location("toy_reference_shim", ROOT / "workflow_scripts" / "toy_reference.py")
    shim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shim)
    out = tmp_path / "reference"
    shim.main(out, n=3, seed=0)
    assert mode(out) == 0o777 & ~umask
    assert len(list(out.iterdir())) == 3 and all(mode(f) == 0o666 & ~umask for f in out.iterdir())


def test_atomic_dir_replaces_whole_with_the_umask_mode(tmp_path, umask):
    from safetensors.torch import save_file

    from erasure.io import atomic_dir

    out = tmp_path / "deep" / "out"
    with atomic_dir(out) as tmp:
        assert tmp.parent == out.parent and tmp != out and not out.exists()
        (tmp / "sub").mkdir()
        save_file({"w": torch.zeros(2)}, str(tmp / "sub" / "w.safetensors"))  # 0600 whatever the umask
    assert mode(out) == mode(out / "sub") == 0o777 & ~umask
    assert mode(out / "sub" / "w.safetensors") == 0o666 & ~umask
    with atomic_dir(out, durable=True) as tmp:  # a second build replaces the first whole: no stale file
        (tmp / "new").write_text("n")
    assert sorted(p.name for p in out.iterdir()) == ["new"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]


def test_atomic_dir_leaves_no_partial_folder_on_an_error(tmp_path):
    from erasure.io import atomic_dir

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):  # a job killed half-way (BaseException, not only Exception)
        with atomic_dir(out, prefix=".tmp-out-") as tmp:
            (tmp / "half").write_text("h")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    out.mkdir()
    (out / "old").write_text("o")
    with pytest.raises(ValueError):
        with atomic_dir(out) as tmp:
            (tmp / "half").write_text("h")
            raise ValueError("bad input")
    # the previous complete folder is untouched, and no temporary is left beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and (out / "old").read_text() == "o"


def test_standins_folder_has_the_umask_mode(tmp_path, umask, monkeypatch):
    # a second instance of the pattern (erasure.standins.build): its safetensors were 0600 before atomic_dir
    from erasure.standins import build as standins

    for name in ("build_clip", "build_q16", "build_inception", "build_alexnet", "build_reference", "build_grounded_sam"):
        monkeypatch.setattr(standins, name, lambda path: None)
    monkeypatch.setattr(standins, "build_family_pipeline", lambda path, family: None)

    def pipeline(path):
        from safetensors.torch import save_file

        path.mkdir(parents=True)
        save_file({"w": torch.zeros(2)}, str(path / "w.safetensors"))

    monkeypatch.setattr(standins, "build_pipeline", pipeline)
    out = standins.build(tmp_path / "standins")
    assert mode(out / "sd-v1-4" / "w.safetensors") == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["standins"]


# --- the one sha256 cache across jobs (erasure.io.cached_sha256) ---------------------------------------------

@pytest.fixture
def hashing(monkeypatch):
    """Count the files actually read by sha256; a fresh per-process memo (each call below is 'a new job')."""
    from erasure import io

    calls = []
    real = io.sha256_file
    monkeypatch.setattr(io, "sha256_file", lambda path: calls.append(Path(path).name) or real(path))
    monkeypatch.setattr(io, "DIGEST_CACHE_MIN_BYTES", 0)
    return calls


def _new_process():
    from erasure import io

    io._DIGESTS.clear()


def test_the_digest_cache_reuses_a_digest_while_size_and_mtime_are_unchanged(tmp_path, hashing):
    from erasure.io import cached_sha256

    weights = tmp_path / "unet.safetensors"
    weights.write_bytes(b"weights v1")
    cache = tmp_path / "cache"
    first = cached_sha256(weights, cache)
    assert first == hashlib.sha256(b"weights v1").hexdigest() and hashing == ["unet.safetensors"]
    hashing.clear()
    _new_process()
    assert cached_sha256(weights, cache) == first and hashing == []  # a later job reads the entry
    assert cached_sha256(tmp_path / "." / "unet.safetensors", cache) == first and hashing == []  # same real path


def test_the_digest_cache_rehashes_a_file_rewritten_to_the_same_size(tmp_path, hashing):
    from erasure.io import cached_sha256

    weights = tmp_path / "unet.safetensors"
    weights.write_bytes(b"weights v1")
    cache = tmp_path / "cache"
    first = cached_sha256(weights, cache)
    before = weights.stat()
    weights.write_bytes(b"weights v2")  # same size, new bytes
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))  # a new mtime, whatever the clock
    _new_process()
    hashing.clear()
    second = cached_sha256(weights, cache)
    assert second == hashlib.sha256(b"weights v2").hexdigest() != first and hashing == ["unet.safetensors"]
    other = tmp_path / "vae.safetensors"  # another instance: a second file, entries do not mix
    other.write_bytes(b"weights v1")
    assert cached_sha256(other, cache) == first and len(list(cache.iterdir())) == 2


def test_the_digest_cache_rehashes_on_a_damaged_entry_and_writes_with_the_umask_mode(tmp_path, hashing, umask):
    from erasure.io import cached_sha256

    weights = tmp_path / "unet.safetensors"
    weights.write_bytes(b"weights")
    cache = tmp_path / "cache"
    first = cached_sha256(weights, cache)
    (entry,) = cache.iterdir()
    assert stat.S_IMODE(entry.stat().st_mode) == 0o666 & ~umask
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temporary left (atomic write)
    entry.write_text("{not json")
    _new_process()
    hashing.clear()
    assert cached_sha256(weights, cache) == first and hashing == ["unet.safetensors"]
    assert json.loads(entry.read_text())["sha256"] == first  # rewritten whole


def test_the_digest_cache_skips_small_files_and_an_unwritable_folder(tmp_path, monkeypatch):
    from erasure import io

    small = tmp_path / "config.json"
    small.write_text("{}")
    io.cached_sha256(small, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()  # under DIGEST_CACHE_MIN_BYTES: hashing is cheaper than an entry
    monkeypatch.setattr(io, "DIGEST_CACHE_MIN_BYTES", 0)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    assert io.cached_sha256(small, blocked) == io.sha256_file(small)  # no cache: hashed, nothing raised
