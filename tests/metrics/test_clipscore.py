import numpy as np
import pytest

from conftest import random_arrays, write_image_set
from erasure.errors import ErasureError
from erasure.metrics import backbones
from erasure.metrics.clipscore import ClipEmbedder, score_clip
from erasure.metrics.images import ImageSet


def test_clip_score_code_path(tmp_path, tiny_clip_dir):
    manifest, prompts = write_image_set(tmp_path, "sd", random_arrays(3), prompts=["a red circle", "photo", "beach"])
    images = ImageSet.from_manifest(manifest, prompts)
    embedder = ClipEmbedder(tiny_clip_dir)
    cos = score_clip(images, embedder=embedder)
    hessel = score_clip(images, embedder=embedder, convention="hessel")
    assert cos["value"].between(-1, 1).all() and cos["convention"].eq("cosine").all()
    np.testing.assert_allclose(hessel["value"], 2.5 * np.clip(cos["value"], 0, None), rtol=1e-6)
    assert cos["label"].eq("toy-clip").all()  # a 32-px CLIP is never labelled as the real one
    # Same pair -> same score as a direct embedding product.
    direct = (embedder.image_embeds([images.load(1)]) * embedder.text_embeds(["photo"])).sum().item()
    assert cos["value"].iloc[1] == pytest.approx(direct, abs=1e-5)


def test_missing_hub_model_offline_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(backbones, "hf_cache_dir", lambda: tmp_path)
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ErasureError) as err:
        ClipEmbedder("openai/clip-vit-large-patch14")
    msg = str(err.value)
    assert "\n" not in msg and "openai/clip-vit-large-patch14" in msg and "settings.clip" in msg


def test_bad_local_source(tmp_path):
    with pytest.raises(ErasureError, match="lacks config.json"):
        backbones.resolve_source(tmp_path, what="CLIP", key="settings.clip")
    with pytest.raises(ErasureError, match="neither an existing directory nor a hub id"):
        backbones.resolve_source(tmp_path / "a" / "b" / "c", what="CLIP", key="settings.clip")


def test_truncated_clip_weights_are_one_line_naming_the_file(tmp_path, tiny_clip_dir):
    # issue 17 case 3, another instance: transformers' bare `SafetensorError: invalid header length` on main
    import shutil

    copy = tmp_path / "clip"
    shutil.copytree(tiny_clip_dir, copy)
    weights = next(copy.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ErasureError) as err:
        ClipEmbedder(copy)
    assert "\n" not in str(err.value) and str(weights) in str(err.value) and "truncated" in str(err.value)
