import pytest
import torch

from conftest import random_arrays, write_image_set
from erasure.errors import ErasureError
from erasure.metrics import lpips_metric
from erasure.metrics.images import ImageSet


def test_lpips_identical_zero_different_positive(tmp_path):
    model = lpips_metric.load_lpips(pnet_rand=True)  # TEST ONLY: random trunk, numbers mean nothing
    arrays = random_arrays(3, size=64, seed=0)
    m_sd, prompts = write_image_set(tmp_path, "sd", arrays)
    m_same, _ = write_image_set(tmp_path, "same", arrays)
    m_other, _ = write_image_set(tmp_path, "other", random_arrays(3, size=64, seed=5))
    sd = ImageSet.from_manifest(m_sd, prompts)
    same = lpips_metric.score_lpips(ImageSet.from_manifest(m_same, prompts), reference=sd, model=model)
    other = lpips_metric.score_lpips(ImageSet.from_manifest(m_other, prompts), reference=sd, model=model)
    assert same["value"].abs().max() < 1e-6
    assert (other["value"] > 1e-3).all()
    assert other["label"].eq("lpips-random-TEST").all() and other["backbone"].str.contains("RANDOM").all()


def test_missing_alexnet_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(ErasureError) as err:
        lpips_metric.load_lpips()
    msg = str(err.value)
    assert "\n" not in msg and lpips_metric.ALEXNET_FILE in msg and "TORCH_HOME" in msg
