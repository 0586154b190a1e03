"""Outputs honour the umask: files 0666 & ~umask, folders 0777 & ~umask (mkstemp / mkdtemp alone give 0600 /
0700, unreadable to colleagues in a shared group folder). Issue 17, case 8."""

from __future__ import annotations

import importlib.util
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
