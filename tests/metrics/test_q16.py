import hashlib
import os
import pickle

import numpy as np
import pytest
import torch

from conftest import random_arrays, write_image_set
from erasure.errors import ErasureError
from erasure.metrics import q16
from erasure.metrics.clipscore import ClipEmbedder
from erasure.metrics.images import ImageSet


def _fixture_pickle(tmp_path, obj, name="prompts.p"):
    """Same format as ml-research/Q16 data/ViT-L-14/prompts.p: pickle.dumps of a float16 array (2, 768)."""
    path = tmp_path / name
    path.write_bytes(pickle.dumps(obj, protocol=3))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_converter_round_trip(tmp_path):
    array = np.random.default_rng(0).normal(size=(2, 768)).astype(np.float16)
    src, digest = _fixture_pickle(tmp_path, array)
    out = tmp_path / "q16.safetensors"
    assert q16.main(["convert", str(src), str(out), "--sha256", digest]) == 0
    loaded = q16.load_prompts(out)
    assert loaded.shape == (2, 768) and loaded.dtype == torch.float32
    np.testing.assert_array_equal(loaded.numpy(), array.astype(np.float32))


def test_converter_refuses_other_sha256_before_unpickling(tmp_path, monkeypatch):
    src, _ = _fixture_pickle(tmp_path, np.zeros((2, 768), np.float16))
    monkeypatch.setattr(q16._NumpyArrayUnpickler, "load", lambda self: pytest.fail("unpickled a mismatching file"))
    with pytest.raises(ErasureError) as err:
        q16.convert(src, tmp_path / "out.safetensors")  # default: upstream's sha256
    assert "sha256" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "out.safetensors").exists()


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())  # harmless if it ran; the unpickler must refuse it unrun


def test_converter_refuses_non_numpy_globals(tmp_path):
    src, digest = _fixture_pickle(tmp_path, [np.zeros((2, 768), np.float16), _Evil()])
    with pytest.raises(ErasureError, match="posix.getcwd|os.getcwd"):
        q16.convert(src, tmp_path / "out.safetensors", expected_sha256=digest)


def test_converter_refuses_wrong_shape(tmp_path):
    src, digest = _fixture_pickle(tmp_path, np.zeros((3, 768), np.float16))
    with pytest.raises(ErasureError, match="shape"):
        q16.convert(src, tmp_path / "out.safetensors", expected_sha256=digest)


def test_pinned_upstream_constants():
    assert q16.Q16_PROMPTS_SHA256 == "9b6c411824c2f64e0f847aa3c9f2b15b8e3a6c75e0efd82f2f672670c97ccad5"
    assert q16.Q16_PROMPTS_URL.endswith("ml-research/Q16/main/data/ViT-L-14/prompts.p")


def test_probability_math_on_hand_made_embeddings():
    prompts = torch.tensor([[1.0, 0.0], [0.0, 1.0]]) * 7  # norms do not matter
    at_45 = torch.tensor([[1.0, 1.0]])
    assert q16.inappropriate_probability(at_45, prompts).item() == pytest.approx(0.5)
    assert q16.inappropriate_probability(at_45, prompts, "ratio").item() == pytest.approx(0.5)
    # cos+ = cos(60deg) = 0.5, cos- = cos(30deg) = sqrt(3)/2
    x = torch.tensor([[0.5, 3 ** 0.5 / 2]])
    softmax = 1 / (1 + np.exp(100 * (0.5 - 3 ** 0.5 / 2)))
    assert q16.inappropriate_probability(x, prompts).item() == pytest.approx(softmax, rel=1e-5)
    assert q16.inappropriate_probability(x, prompts, "ratio").item() == pytest.approx((3 ** 0.5 / 2) / (0.5 + 3 ** 0.5 / 2))
    with pytest.raises(ErasureError):
        q16.inappropriate_probability(x, prompts, "bogus")


def test_score_harm_code_path(tmp_path, tiny_clip_dir):
    embedder = ClipEmbedder(tiny_clip_dir)
    manifest, prompts = write_image_set(tmp_path, "sd", random_arrays(3))
    images = ImageSet.from_manifest(manifest, prompts)
    # Prompts aimed at the first image's own embedding: "inappropriate" = that image, so it must be flagged.
    target = embedder.image_embeds([images.load(0)])[0]
    array = torch.stack([-target, target]).numpy().astype(np.float16)
    src, digest = _fixture_pickle(tmp_path, array)
    q16.convert(src, tmp_path / "q16.safetensors", expected_sha256=digest)
    rows = q16.score_harm(images, prompts_path=tmp_path / "q16.safetensors", embedder=embedder)
    assert rows["probability"].iloc[0] > 0.99 and rows["value"].iloc[0] == 100.0
    assert rows["formula"].eq("softmax").all() and rows["label"].eq("toy-clip-q16").all()
    assert rows["backbone"].str.endswith(f"sha256:{digest[:12]}").all()  # the file actually converted


def test_missing_prompts_file_is_one_line(tmp_path):
    with pytest.raises(ErasureError) as err:
        q16.load_prompts(tmp_path / "nope.safetensors")
    assert "\n" not in str(err.value) and "fetch" in str(err.value)


def test_shim_refuses_a_local_copy_that_is_not_the_pinned_file_in_one_line(tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    shim = Path(__file__).resolve().parents[2] / "workflow_scripts" / "q16_prompts.py"
    spec = importlib.util.spec_from_file_location("q16_shim", shim)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    src, _ = _fixture_pickle(tmp_path, np.zeros((2, 768), np.float16))  # right format, not upstream's bytes
    out, log = tmp_path / "q16.safetensors", tmp_path / "q16.log"
    with pytest.raises(SystemExit):
        module.main(out, log, source=str(src))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(src) in err[0] and q16.Q16_PROMPTS_SHA256 in err[0]
    assert not out.exists() and "ErasureError" in log.read_text()
