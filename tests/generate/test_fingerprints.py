"""Shard fingerprints name the GPU and library versions (CPU fingerprints as before); a local base model's
digests are hashed once and reused; a set's shards drawn on different GPUs do not merge."""

from __future__ import annotations

import json

import pytest
import torch

from erasure import io
from erasure.errors import ErasureError
from erasure.generate import manifest, shard

COMMON = dict(method_identity={"name": "sd"}, weights={"base": "x"}, sampling={"steps": 2}, batch_size=2,
              dtype=torch.float16, image_size=32)


def test_cpu_fingerprint_has_no_hardware_and_cuda_names_gpu_and_versions(monkeypatch):
    cpu = shard.shard_fingerprint(device=torch.device("cpu"), **COMMON)
    assert "hardware" not in cpu  # the toy default and every CPU run keep their fingerprints
    assert set(cpu) == {"method", "weights", "sampling", "device", "dtype", "image_size", "latents", "batch_size"}
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    gpu = shard.shard_fingerprint(device=torch.device("cuda"), **COMMON)
    assert gpu["hardware"]["gpu"] == "NVIDIA H100 80GB HBM3" and gpu["hardware"]["torch"] == torch.__version__
    assert {"diffusers", "cuda"} <= set(gpu["hardware"])
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA A100-SXM4-80GB")
    assert not shard._same(gpu, shard.shard_fingerprint(device=torch.device("cuda"), **COMMON))


def test_a_base_files_digest_is_hashed_once_then_read_while_it_is_unchanged(tmp_path, monkeypatch):
    """A local base model's weights go through the one digest cache (erasure.io.cached_sha256, its own tests in
    tests/test_io.py); a hub blob is named by its sha256 and never read."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(io, "DIGEST_CACHE_MIN_BYTES", 0)
    weights = tmp_path / "unet" / "diffusion_pytorch_model.safetensors"
    weights.parent.mkdir()
    weights.write_bytes(b"weights v1")
    calls = []
    real = io.sha256_file
    monkeypatch.setattr(io, "sha256_file", lambda p: (calls.append(p), real(p))[1])
    first = shard._file_digest(weights)
    assert first == real(weights) and len(calls) == 1
    io._DIGESTS.clear()  # the next shard job: a new process
    assert shard._file_digest(weights) == first and len(calls) == 1  # the second job reads the cache
    assert [p.name for p in (tmp_path / io.DIGEST_CACHE).iterdir()] != []  # the one cache, nowhere else
    blob = tmp_path / ("ab" * 32)
    blob.write_bytes(b"hub blob")
    assert shard._file_digest(blob) == "ab" * 32 and len(calls) == 1


def _shard(folder, index, hardware):
    csv = folder / f"{index:04d}.csv"
    csv.write_text("prompt_id,seed,method,run,step,sha256,path,batch_size\n"
                   f"p{index},1,sd,,,{'0' * 64},p{index}_1.png,2\n")
    record = {"device": "cuda", **({"hardware": hardware} if hardware else {})}
    csv.with_suffix(".fingerprint.json").write_text(json.dumps(record))
    return csv


def test_shards_drawn_on_different_gpus_do_not_merge(tmp_path):
    h100 = {"gpu": "NVIDIA H100", "torch": "2.14.1", "diffusers": "0.42.1", "cuda": "13.0"}
    same = [_shard(tmp_path, 0, h100), _shard(tmp_path, 1, h100)]
    assert len(manifest.merge_manifests(same, tmp_path / "manifest.csv", expected=2)) == 2
    mixed = same + [_shard(tmp_path, 2, {**h100, "gpu": "NVIDIA A100"})]
    with pytest.raises(ErasureError) as error:
        manifest.merge_manifests(mixed, tmp_path / "manifest.csv", expected=3)
    assert "shard 0002.csv was drawn on" in str(error.value) and "NVIDIA A100" in str(error.value)
    newer = same + [_shard(tmp_path, 2, {**h100, "torch": "2.15.0"})]  # another instance: a library version
    with pytest.raises(ErasureError, match="0002.csv"):
        manifest.merge_manifests(newer, tmp_path / "manifest.csv", expected=3)
