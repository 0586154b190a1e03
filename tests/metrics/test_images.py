import pandas as pd
import pytest
import torch
from conftest import random_arrays, write_image_set

from erasure.errors import ErasureError
from erasure.metrics.images import ImageSet, pair_on_seed


def test_manifest_joins_prompt_table(tmp_path):
    manifest, prompts = write_image_set(tmp_path, "sd", random_arrays(3), prompts=["a", "b", "c"])
    images = ImageSet.from_manifest(manifest, prompts)
    assert len(images) == 3 and images.method == "sd" and images.promptset == "tiny"
    assert list(images.table["prompt"]) == ["a", "b", "c"]
    assert {"prompt_seed", "guidance", "categories", "file"} <= set(images.table.columns)
    rows, batch = next(images.iter_tensor(batch_size=2))
    assert batch.shape == (2, 3, 32, 32) and batch.dtype == torch.float32 and 0 <= batch.min() <= batch.max() <= 1
    assert len(rows) == 2


def test_missing_image_is_one_line_error(tmp_path):
    manifest, prompts = write_image_set(tmp_path, "sd", random_arrays(2))
    next(manifest.parent.glob("*.png")).unlink()
    with pytest.raises(ErasureError) as err:
        ImageSet.from_manifest(manifest, prompts)
    assert "\n" not in str(err.value) and "missing" in str(err.value)


def test_unknown_prompt_id_is_an_error(tmp_path):
    manifest, prompts = write_image_set(tmp_path, "sd", random_arrays(2))
    pd.read_csv(prompts).iloc[:1].to_csv(prompts, index=False)
    with pytest.raises(ErasureError, match="not in the prompt table"):
        ImageSet.from_manifest(manifest, prompts)


def test_pairing_needs_every_partner(tmp_path):
    m_sd, prompts = write_image_set(tmp_path, "sd", random_arrays(2))
    m_x, _ = write_image_set(tmp_path, "x", random_arrays(3, seed=1))
    with pytest.raises(ErasureError, match="no reference image"):
        pair_on_seed(ImageSet.from_manifest(m_x), ImageSet.from_manifest(m_sd))
    pairs = pair_on_seed(ImageSet.from_manifest(m_sd), ImageSet.from_manifest(m_sd))
    assert (pairs["file"] == pairs["reference_file"]).all()
