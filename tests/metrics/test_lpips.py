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


def _alexnet_file(tmp_path, seed=0):
    import torchvision

    torch.manual_seed(seed)
    state = torchvision.models.alexnet(weights=None).state_dict()
    file = tmp_path / lpips_metric.ALEXNET_FILE
    torch.save(state, file)
    return file, state


def test_alexnet_trunk_is_hash_checked_and_loaded_tensor_only(tmp_path):
    from erasure.io import sha256_file

    file, state = _alexnet_file(tmp_path)
    # a file that is not torchvision's (its sha256 does not start with 7be5be79) is refused, in one line
    with pytest.raises(ErasureError) as err:
        lpips_metric.load_lpips(weights=file)
    assert "\n" not in str(err.value) and str(file) in str(err.value) and "7be5be79" in str(err.value)

    # with the prefix it does carry, every AlexNet conv tensor lands in lpips' trunk
    loaded = lpips_metric.alexnet_state(file, sha256_prefix=sha256_file(file)[:8])
    model = lpips_metric.load_lpips(pnet_rand=True)
    before = model.net.slice5._modules["10"].weight.clone()
    lpips_metric.load_trunk(model, loaded)
    for index, block in ((0, model.net.slice1), (3, model.net.slice2), (6, model.net.slice3),
                         (8, model.net.slice4), (10, model.net.slice5)):
        assert torch.equal(block._modules[str(index)].weight, state[f"features.{index}.weight"])
        assert torch.equal(block._modules[str(index)].bias, state[f"features.{index}.bias"])
    assert not torch.equal(before, model.net.slice5._modules["10"].weight)


class _NotATensor:
    pass


def test_alexnet_file_with_objects_is_refused_not_unpickled(tmp_path):
    from erasure.io import sha256_file

    file = tmp_path / lpips_metric.ALEXNET_FILE
    torch.save({"features.0.weight": _NotATensor()}, file)
    with pytest.raises(ErasureError, match="not a tensor-only state dict"):
        lpips_metric.alexnet_state(file, sha256_prefix=sha256_file(file)[:8])
