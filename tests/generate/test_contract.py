"""Issue 17, generation side of the contract: nothing non-finite reaches disk (case 4), the batch size is part
of what an image is (case 9), and a broken base-model file is one line naming it (case 3)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from erasure.errors import ErasureError
from erasure.generate import generate_shard, merge_manifests
from erasure.prompts import build_prompt_table, write_table

SAMPLING = {"scheduler": "ddim", "steps": 3, "guidance": 5.0}


@pytest.fixture
def table(tmp_path) -> Path:
    frame = build_prompt_table("body", {"source": "toy-body", "n_prompts": 5, "metrics": []}, guidance=5.0)
    path = tmp_path / "prompts" / "body.csv"
    write_table(frame, path)
    return path


def _broken_copy(src: Path, dst: Path, component: str, parameter: str, value: float) -> Path:
    """A saved copy of the tiny pipeline with one parameter of `component` set to `value` (NaN, inf)."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(src, safety_checker=None, requires_safety_checker=False)
    with torch.no_grad():
        dict(getattr(pipe, component).named_parameters())[parameter].fill_(value)
    pipe.save_pretrained(dst)
    return dst


@pytest.fixture(scope="module")
def nan_decoder_dir(tiny_pipeline_dir, tmp_path_factory) -> Path:
    return _broken_copy(tiny_pipeline_dir, tmp_path_factory.mktemp("nan-vae") / "pipeline", "vae",
                        "decoder.conv_out.bias", float("nan"))


@pytest.fixture(scope="module")
def inf_unet_dir(tiny_pipeline_dir, tmp_path_factory) -> Path:
    return _broken_copy(tiny_pipeline_dir, tmp_path_factory.mktemp("inf-unet") / "pipeline", "unet",
                        "conv_out.bias", float("inf"))


def shard(table, root: Path, base: Path, *, method="sd", spec=None, batch_size=2, shard_index=0, shard_size=4):
    image_dir = root / "images" / method / "body"
    out = image_dir / "shards" / f"{shard_index:04d}.csv"
    stats = generate_shard(table, out, image_dir=image_dir, method=method, method_spec=spec or {"kind": "sd"},
                           shard=shard_index, shard_size=shard_size, images_per_prompt=1, sampling=SAMPLING,
                           batch_size=batch_size, base_model=str(base), results=root, world="toy", device="cpu")
    return stats, image_dir, out


# --- case 4: nothing non-finite reaches disk ------------------------------------------------------------

def test_nan_decoder_writes_no_black_png(table, tmp_path, nan_decoder_dir):
    # main: two all-black PNGs per batch, hashed into the manifest, only numpy's RuntimeWarning as a sign
    with pytest.raises(ErasureError) as err:
        shard(table, tmp_path, nan_decoder_dir)
    message = str(err.value)
    assert "\n" not in message
    assert "method sd" in message and "VAE decoder output" in message
    first = pd.read_csv(table, dtype={"prompt_id": str}).iloc[0]
    assert f"prompt_id {first.prompt_id}, seed {first.seed}" in message
    image_dir = tmp_path / "images" / "sd" / "body"
    assert not list(image_dir.glob("*.png")) and not (image_dir / "shards" / "0000.csv").exists()


@pytest.mark.parametrize("method,spec", [("sd", {"kind": "sd"}),
                                         ("sld-max", {"kind": "sld", "preset": "max", "concepts": ["triangle"]})])
def test_inf_unet_stops_at_the_first_denoising_step(table, tmp_path, inf_unet_dir, method, spec):
    # another instance: the UNet, not the decoder, goes non-finite; SLD's pipeline has only the old `callback`
    with pytest.raises(ErasureError) as err:
        shard(table, tmp_path, inf_unet_dir, method=method, spec=spec)
    message = str(err.value)
    assert "\n" not in message and f"method {method}" in message
    assert "latents after denoising step 0" in message and "float32" in message
    assert not list((tmp_path / "images" / method / "body").glob("*.png"))


def test_float16_failure_names_overflow_and_the_way_out():
    from types import SimpleNamespace

    from erasure.generate.pipelines import NonFinite
    from erasure.generate.shard import ImageSpec, non_finite_message

    pipe = SimpleNamespace(name="sdd-nudity@1500", pipe=SimpleNamespace(unet=SimpleNamespace(dtype=torch.float16)))
    message = non_finite_message(pipe, ImageSpec("body-007", "a body", 3, 7.5), NonFinite("latents", [0], 12))
    assert "method sdd-nudity@1500" in message and "prompt_id body-007, seed 3" in message
    assert "float16 overflow" in message and "bfloat16 or float32" in message


# --- case 9: the batch size is part of the image ----------------------------------------------------------

def test_resume_with_another_batch_size_regenerates_and_records_it(table, tmp_path, tiny_pipeline_dir):
    stats, image_dir, out = shard(table, tmp_path / "a", tiny_pipeline_dir, batch_size=2)
    assert stats["drawn"] == 4 and set(pd.read_csv(out)["batch_size"]) == {2}
    # main: drawn == 0 — the shard silently keeps batch-2 images under a batch-3 config
    stats, _, _ = shard(table, tmp_path / "a", tiny_pipeline_dir, batch_size=3)
    assert stats["drawn"] == 4 and stats["removed_stale"] == 4
    assert set(pd.read_csv(out)["batch_size"]) == {3}
    fresh_stats, fresh_dir, _ = shard(table, tmp_path / "b", tiny_pipeline_dir, batch_size=3)
    assert {p.name: p.read_bytes() for p in image_dir.glob("*.png")} == \
           {p.name: p.read_bytes() for p in fresh_dir.glob("*.png")}


def test_merge_refuses_shards_of_different_batch_sizes(table, tmp_path, tiny_pipeline_dir):
    # another instance: a set assembled from shards drawn at two batch sizes (e.g. shards run by hand)
    _, image_dir, first = shard(table, tmp_path, tiny_pipeline_dir, batch_size=2, shard_index=0)
    _, _, second = shard(table, tmp_path, tiny_pipeline_dir, batch_size=3, shard_index=1)
    with pytest.raises(ErasureError, match=r"different batch sizes \[2, 3\]"):
        merge_manifests([first, second], image_dir / "manifest.csv", expected=5)
    assert not (image_dir / "manifest.csv").exists()


# --- case 3: a broken base-model file is one line naming it ------------------------------------------------

def test_truncated_text_encoder_of_a_local_base_is_named(table, tmp_path, tiny_pipeline_dir):
    # main: transformers' bare `SafetensorError: invalid header length`, naming no file
    base = tmp_path / "base"
    shutil.copytree(tiny_pipeline_dir, base)
    weights = base / "text_encoder" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ErasureError) as err:
        shard(table, tmp_path, base)
    assert "\n" not in str(err.value) and str(weights) in str(err.value) and "truncated" in str(err.value)


def test_malformed_shard_manifest_is_one_line(tmp_path):
    bad = tmp_path / "0000.csv"
    bad.write_bytes(b"prompt_id,seed\n\"unterminated,1\n" + bytes(range(256)))
    with pytest.raises(ErasureError) as err:
        merge_manifests([bad], tmp_path / "manifest.csv")
    assert "\n" not in str(err.value) and str(bad) in str(err.value) and "generate_shard" in str(err.value)


@pytest.fixture(scope="module")
def fp16_overflow_dir(tiny_pipeline_dir, tmp_path_factory) -> Path:
    # 1e5 is finite in float32 and beyond float16's 65504: the decoder overflows only in half precision
    return _broken_copy(tiny_pipeline_dir, tmp_path_factory.mktemp("fp16-vae") / "pipeline", "vae",
                        "decoder.conv_out.bias", 1e5)


def test_float16_overflow_is_caught_where_float32_is_fine(tmp_path, fp16_overflow_dir):
    # fp16 included (CUDA runs generation in float16; CPU runs float16 too, so this is testable here). main:
    # the pipeline clamps inf to 1 and writes white images without a word
    from erasure.generate.pipelines import load_method
    from erasure.generate.shard import ImageSpec, run_images

    specs = [ImageSpec("body-000", "a shape on the beach", 0, 5.0), ImageSpec("body-001", "a shape in space", 0, 5.0)]
    for dtype in (torch.float32, torch.float16):
        method = load_method("sd", {"kind": "sd"}, base_model=str(fp16_overflow_dir), results=tmp_path, world="toy",
                             scheduler="ddim", dtype=dtype)
        out = tmp_path / str(dtype)
        if dtype == torch.float32:
            assert run_images(method, specs, out, steps=2, batch_size=2) == 2
            continue
        with pytest.raises(ErasureError) as err:
            run_images(method, specs, out, steps=2, batch_size=2)
        message = str(err.value)
        assert "prompt_id body-000, seed 0" in message and "VAE decoder output" in message
        assert "float16 overflow" in message and not list(out.glob("*.png"))


class _FakeMethod:
    """The generate contract's surface of a method pipeline: grey images, no model."""
    latent_shape = (4, 2, 2)
    name = "fake"

    def __call__(self, prompts, latents, *, guidance, steps):
        import numpy as np

        return [np.full((4, 4, 3), 128, dtype=np.uint8) for _ in prompts]


def test_run_images_lists_the_folder_once_and_clears_only_its_own_torn_writes(tmp_path, monkeypatch, caplog):
    # issue 38: the folder was globbed once per image (a 1,000-image shard in a 30,000-file folder scanned it
    # 1,000 times); torn writes of this shard's images are still removed, another shard's are not touched
    import logging
    import os

    from erasure.generate import shard as shard_mod
    from erasure.generate.shard import ImageSpec, run_images

    specs = [ImageSpec(f"p{i}", "a shape", 0, 5.0) for i in range(5)]
    (tmp_path / specs[0].name).write_bytes(b"drawn before")  # present: not drawn again
    torn = tmp_path / f".{specs[1].name}.abc123_x.tmp"
    torn.write_bytes(b"torn")
    other = tmp_path / ".q9_0.png.zz9.tmp"  # another shard's image being written right now
    other.write_bytes(b"busy")
    scans = []
    real_scandir = os.scandir
    monkeypatch.setattr(shard_mod.os, "scandir", lambda p: scans.append(p) or real_scandir(p))
    monkeypatch.setattr(type(tmp_path), "glob", lambda *a, **k: pytest.fail("run_images globbed the folder"))
    with caplog.at_level(logging.INFO, logger="erasure.generate.shard"):
        assert run_images(_FakeMethod(), specs, tmp_path, steps=1, batch_size=2) == 4
    assert len(scans) == 1
    assert not torn.exists() and other.exists()
    assert (tmp_path / specs[0].name).read_bytes() == b"drawn before"
    assert all((tmp_path / s.name).read_bytes().startswith(b"\x89PNG") for s in specs[1:])
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("images ")]
    assert [line.split(",")[0] for line in progress] == ["images 2/4", "images 4/4"]
    assert "images/s" in progress[-1] and "ETA 0 s" in progress[-1]


def test_run_images_surfaces_a_failed_png_write(tmp_path, monkeypatch):
    # PNGs are written by a thread pool while the next batch denoises: a write error must still stop the job
    from erasure.generate import shard as shard_mod
    from erasure.generate.shard import ImageSpec, run_images

    def broken_save(self, *args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(shard_mod.Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="No space left"):
        run_images(_FakeMethod(), [ImageSpec("p0", "a shape", 0, 5.0)], tmp_path, steps=1, batch_size=1)
    assert not list(tmp_path.iterdir())  # the atomic write left nothing behind
