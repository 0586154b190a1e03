"""Pinned hub revisions (erasure.worlds.hub_ids, erasure.hub): a family's pinned hub id is read at
`snapshots/<commit>/` of the HF cache whatever `refs/main` names, by the loader, the DAG's inputs and preflight; an
unpinned id keeps `refs/main`. A fake huggingface_hub cache in tmp_path (HF_HUB_CACHE), no network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from erasure import external_inputs
from erasure.hub import hub_snapshot
from erasure.worlds.hub_ids import HUB_IDS, pinned_revision

REPO = Path(__file__).resolve().parents[1]
SD14 = "CompVis/stable-diffusion-v1-4"
SDXL = "stabilityai/stable-diffusion-xl-base-1.0"
SD15 = "stable-diffusion-v1-5/stable-diffusion-v1-5"  # a family's id that is not pinned
OTHER = "f" * 40  # a commit that is not the pin (what refs/main names after a plain `hf download`)


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """An empty HF hub cache: HF_HUB_CACHE for subprocesses, huggingface_hub.constants for this one (read at
    each call by erasure.hub and snapshot_download, but set from the environment only at import)."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def _snapshot(cache: Path, repo_id: str, commit: str, *, main: bool = False, weights: bool = False) -> Path:
    """snapshots/<commit>/ of `repo_id` holding a diffusers pipeline's files (model_index.json, unet config and,
    with `weights`, a one-tensor safetensors file), as `hf download --revision <commit>` leaves it: no ref,
    unless `main` (a plain `hf download`, which writes refs/main -> commit)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    folder = repo / "snapshots" / commit
    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps(
        {"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]}))
    (folder / "unet" / "config.json").write_text(json.dumps({"commit": commit}))
    if weights:
        import torch
        from safetensors.torch import save_file

        # bytes that differ between commits, so a digest tells which snapshot was read
        save_file({"w": torch.full((2,), float(int(commit[0], 16)))},
                  str(folder / "unet" / "diffusion_pytorch_model.safetensors"))
    if main:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(commit)
    return folder


def test_each_families_pins_are_full_commits_and_the_families_carry_them():
    import re

    from erasure.worlds.families import FAMILIES

    assert pinned_revision(SD14) == "133a221b8aa7292a167afc5127cb63fb5005638b"
    assert pinned_revision(SD15) is None and pinned_revision("org/unknown") is None
    for name, family in FAMILIES.items():
        assert dict(family.hub_ids) == HUB_IDS[name]
        assert all(pin is None or re.fullmatch(r"[0-9a-f]{40}", pin) for pin in family.hub_ids.values())
    assert {pin for ids in HUB_IDS.values() for pin in ids.values() if pin} == {
        "133a221b8aa7292a167afc5127cb63fb5005638b", "5cae40e6a2745ae2b01ad92ae5043f95f23644d6",
        "462165984030d82259a11f4367a4eed129e94a7b"}


def test_a_pinned_snapshot_resolves_without_refs_main_and_despite_one_naming_another_commit(hf_cache):
    pin = pinned_revision(SD14)
    folder = _snapshot(hf_cache, SD14, pin)  # `hf download --revision <pin>`: no refs/main
    found = hub_snapshot(SD14, pin)
    assert (found.folder, found.commit, found.ref) == (folder, pin, None)
    assert hub_snapshot(SD14) is None  # refs/main alone (what the code read before) finds nothing
    _snapshot(hf_cache, SD14, OTHER, main=True)  # a later plain download moved refs/main elsewhere
    assert hub_snapshot(SD14, pin).folder == folder
    assert hub_snapshot(SD14).folder.name == OTHER  # an unpinned read follows refs/main, as before
    assert hub_snapshot(SD14, "1" * 40) is None  # a commit not in the cache


@pytest.mark.parametrize("repo_id", [SD14, SDXL])
def test_the_dag_inputs_of_a_pinned_base_are_its_pinned_snapshots_files_only(hf_cache, repo_id):
    pin = pinned_revision(repo_id)
    assert external_inputs.base_model_files(repo_id) == []  # nothing cached: nothing pins it, the job says why
    _snapshot(hf_cache, repo_id, OTHER, main=True)
    assert external_inputs.base_model_files(repo_id) == []  # only another commit: not the bytes that will load
    folder = _snapshot(hf_cache, repo_id, pin)
    files = external_inputs.base_model_files(repo_id)
    assert files == [folder / "model_index.json", folder / "unet" / "config.json"]
    assert all(pin in f.parts for f in files) and not any("refs" in f.parts for f in files)


def test_the_dag_inputs_of_an_unpinned_hub_id_follow_refs_main_as_before(hf_cache):
    assert pinned_revision(SD15) is None
    folder = _snapshot(hf_cache, SD15, OTHER, main=True)
    refs = hf_cache / f"models--{SD15.replace('/', '--')}" / "refs" / "main"
    assert external_inputs.base_model_files(SD15) == [refs, folder / "model_index.json", folder / "unet" / "config.json"]


def test_the_shard_records_weights_fingerprint_hashes_the_pinned_snapshot(hf_cache, tmp_path):
    """Generation's record of the weights it drew with (erasure.generate.shard.weights_fingerprint) reads the
    snapshot the loader reads (erasure.models.base_directory): the pinned one, not refs/main's."""
    from erasure.generate.shard import weights_fingerprint
    from erasure.io import sha256_file
    from erasure.models import base_directory

    pin = pinned_revision(SD14)
    _snapshot(hf_cache, SD14, OTHER, main=True, weights=True)
    assert base_directory(SD14, tmp_path) is None
    assert weights_fingerprint(SD14, results=tmp_path, world="sd", method="sd") == {"base_model": SD14, "base": SD14}
    pinned = _snapshot(hf_cache, SD14, pin, weights=True)
    assert base_directory(SD14, tmp_path) == pinned
    unet = "unet/diffusion_pytorch_model.safetensors"
    record = weights_fingerprint(SD14, results=tmp_path, world="sd", method="sd")
    assert record == {"base_model": SD14, "base": {unet: sha256_file(pinned / unet)}}
    assert sha256_file(pinned / unet) != sha256_file(pinned.parent / OTHER / unet)
    other = _snapshot(hf_cache, SD15, OTHER, main=True, weights=True)  # unpinned: refs/main's
    assert base_directory(SD15, tmp_path) == other


def _base_item(tmp_path, base_model):
    from erasure.preflight import Context, check_base

    [item] = check_base(Context({"world": "sd", "base_model": base_model}, [], tmp_path / "results"))
    return item


def test_preflight_names_the_commit_a_cache_holds_and_the_pinned_one_it_wants(hf_cache, tmp_path):
    pin = pinned_revision(SD14)
    item = _base_item(tmp_path, SD14)  # nothing cached
    assert not item.ok and item.detail == (f"'{SD14}' is not in the HF cache at the pinned commit {pin} "
                                           "(SD 1.x, erasure/worlds/hub_ids.py)")
    assert item.provide.startswith(f"hf download {SD14} --revision {pin}  (after `hf auth login`; into {hf_cache})")
    _snapshot(hf_cache, SD14, OTHER, main=True, weights=True)  # a loadable snapshot, but not the pinned one
    item = _base_item(tmp_path, SD14)
    assert not item.ok and item.detail == (f"'{SD14}' in the HF cache is at {OTHER} (refs/main), not the pinned "
                                           f"commit {pin} (SD 1.x, erasure/worlds/hub_ids.py)")
    assert item.provide.startswith(f"hf download {SD14} --revision {pin} ")
    assert "\n" not in item.line() and item.line().startswith("MISSING  base model: ")
    _snapshot(hf_cache, SD14, pin, weights=True)  # the pinned download, refs/main still elsewhere
    item = _base_item(tmp_path, SD14)
    assert item.ok and item.detail == f"{SD14} (SD 1.x: unet 1 tensors) [snapshot {pin}]"


def test_preflight_of_an_unpinned_hub_id_reads_refs_main_and_asks_no_revision(hf_cache, tmp_path):
    item = _base_item(tmp_path, SD15)
    assert not item.ok and item.detail == f"'{SD15}' is neither a local directory nor in the HF cache"
    assert item.provide.startswith(f"hf download {SD15}  (") and "--revision" not in item.provide
    _snapshot(hf_cache, SD15, OTHER, main=True, weights=True)
    item = _base_item(tmp_path, SD15)
    assert item.ok and item.detail.endswith(f"[snapshot {OTHER}]")


def test_the_loader_reads_the_pinned_snapshots_bytes_not_refs_mains(tmp_path):
    """A tiny pipeline saved as the pinned snapshot (no ref) and a perturbed copy that refs/main names: the
    pipeline and the text encoder load the pinned bytes; the unpinned SD 1.5 id loads refs/main's. In a
    subprocess: huggingface_hub, transformers and diffusers read HF_HUB_CACHE when imported."""
    script = f"""
import sys, torch
sys.path.insert(0, {str(REPO / "tests")!r})
from pathlib import Path
from tiny_pipeline import tiny_pipeline
from erasure.models import load_base_pipeline, load_text_encoder
from erasure.worlds.hub_ids import pinned_revision

cache = Path({str(tmp_path / "hub")!r})
pipe = tiny_pipeline(Path({str(tmp_path / "tok")!r}))
def save(repo_id, commit, shift, main):
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    with torch.no_grad():
        for p in [*pipe.unet.parameters(), *pipe.text_encoder.parameters()]:
            p.add_(shift)
    pipe.save_pretrained(repo / "snapshots" / commit)
    if main:
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(commit)
w0 = next(pipe.unet.parameters()).detach().clone()
e0 = next(pipe.text_encoder.parameters()).detach().clone()
pin = pinned_revision("{SD14}")
save("{SD14}", pin, 0.0, False)
save("{SD14}", "{OTHER}", 1.0, True)  # refs/main: every weight + 1
save("{SD15}", "{OTHER}", 0.0, True)  # the same weights + 1, unpinned
pinned = load_base_pipeline("{SD14}")
_, encoder = load_text_encoder("{SD14}")
unpinned = load_base_pipeline("{SD15}")
moved = next(pipe.unet.parameters())  # w0 + 1: refs/main's bytes
print(torch.equal(next(pinned.unet.parameters()), w0), torch.equal(next(encoder.parameters()), e0),
      torch.equal(next(unpinned.unet.parameters()), moved), not torch.equal(w0, moved))
"""
    (tmp_path / "hub").mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-4:] == ["True"] * 4, out.stdout + out.stderr[-2000:]
