import numpy as np
import pytest
import torch

from conftest import random_arrays, write_image_set
from erasure.errors import ErasureError
from erasure.metrics import fid
from erasure.metrics.images import ImageSet


class TinyExtractor(torch.nn.Module):
    """Random fixed projection of an 8x8 pooled image: takes clean-fid batches [B, 3, 299, 299] in [0, 255]."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(3 * 8 * 8, 6)
        torch.nn.init.normal_(self.proj.weight, generator=torch.Generator().manual_seed(0))

    @torch.no_grad()
    def forward(self, x):
        return self.proj(torch.nn.functional.adaptive_avg_pool2d(x / 255.0, 8).flatten(1))


def test_fid_self_zero_shifted_positive_and_equal_to_compute_fid(tmp_path):
    from cleanfid.fid import compute_fid

    extractor = TinyExtractor()
    m_a, prompts = write_image_set(tmp_path / "a", "sd", random_arrays(10, seed=0))
    m_b, _ = write_image_set(tmp_path / "b", "x", random_arrays(10, seed=1, shift=0.4))
    a = ImageSet.from_manifest(m_a)
    self_fid, n_ref = fid.fid(a, m_a.parent, extractor)
    assert n_ref == 10 and abs(self_fid) < 1e-6
    shifted, _ = fid.fid(a, m_b.parent, extractor)
    assert shifted > 0.1
    # The same number clean-fid's own two-folder entry point gives.
    expected = compute_fid(str(m_a.parent), str(m_b.parent), mode="clean", custom_feat_extractor=extractor,
                           device=torch.device("cpu"), num_workers=0, verbose=False)
    assert shifted == pytest.approx(expected, rel=1e-6)
    # Stray PNGs in the image folder (not in the manifest) do not enter the generated side.
    from PIL import Image

    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(m_a.parent / "stale_0.png")
    assert fid.fid(a, m_b.parent, extractor)[0] == pytest.approx(shifted)
    row = fid.set_row(a, shifted, n_reference=10, reference=m_b.parent, backbone="tiny", label="test")
    assert len(row) == 1 and bool(row["set_level"].iloc[0])


def test_saved_reference_statistics(tmp_path):
    extractor = TinyExtractor()
    m_a, _ = write_image_set(tmp_path / "a", "sd", random_arrays(6, seed=0))
    mu, sigma, n = fid.reference_statistics(m_a.parent, extractor)
    np.savez(tmp_path / "ref.npz", mu=mu, sigma=sigma, n=n)
    value, n_ref = fid.fid(ImageSet.from_manifest(m_a), str(tmp_path / "ref.npz"), extractor)
    assert n_ref == 6 and abs(value) < 1e-6


def test_reference_statistics_computed_once_give_the_folders_fid_with_provenance(tmp_path):
    """fid_reference's statistics (rules/score.smk) give every FID job the value the folder gives; instance: a
    shifted set; another: the set against itself (0). The sidecar names the folder, its count and listing."""
    import json

    extractor = TinyExtractor()
    m_ref, _ = write_image_set(tmp_path / "ref", "sd", random_arrays(8, seed=3))
    m_a, _ = write_image_set(tmp_path / "a", "x", random_arrays(6, seed=4, shift=0.3))
    out = tmp_path / "stats" / "coco.npz"
    out.parent.mkdir()
    record = fid.write_reference_statistics(m_ref.parent, out, extractor, provenance={"key": "coco"})
    folder_value, n_folder = fid.fid(ImageSet.from_manifest(m_a), m_ref.parent, extractor)
    stats_value, n_stats = fid.fid(ImageSet.from_manifest(m_a), str(out), extractor)
    assert (stats_value, n_stats) == (pytest.approx(folder_value, abs=1e-9), n_folder) and folder_value > 0.01
    assert abs(fid.fid(ImageSet.from_manifest(m_ref), str(out), extractor)[0]) < 1e-6
    sidecar = json.loads(out.with_suffix(".provenance.json").read_text())
    assert sidecar == json.loads(json.dumps(record)) and sidecar["n"] == 8 and sidecar["key"] == "coco"
    assert sidecar["folder"] == str(m_ref.parent) and len(sidecar["listing_sha256"]) == 64
    with pytest.raises(ErasureError, match="reference image folder not found"):
        fid.write_reference_statistics(tmp_path / "nowhere", tmp_path / "x.npz", extractor)


def test_missing_inception_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(fid, "CLEANFID_CACHE", tmp_path)
    monkeypatch.delenv(fid.INCEPTION_ENV, raising=False)
    with pytest.raises(ErasureError) as err:
        fid.inception_extractor()
    msg = str(err.value)
    assert "\n" not in msg and fid.INCEPTION_FILE in msg and fid.INCEPTION_ENV in msg and str(tmp_path) in msg


def test_pinned_inception_sha256_is_checked_before_the_torchscript_loads(tmp_path):
    fake = tmp_path / fid.INCEPTION_FILE
    fake.write_bytes(b"not torchscript: loading it would fail inside torch")
    with pytest.raises(ErasureError) as err:
        fid.inception_extractor(str(fake), sha256="0" * 64)
    msg = str(err.value)
    assert "\n" not in msg and "settings.inception_sha256" in msg and str(fake) in msg


# --- issue 17, case 5: an image folder is listed by clean-fid's rules -------------------------------------------

def _reference_with_hidden_files(root):
    from PIL import Image

    m_b, _ = write_image_set(root, "ref", random_arrays(10, seed=1, shift=0.4))
    folder = m_b.parent
    m_b.unlink()  # a reference folder holds images only
    hidden = folder / ".ipynb_checkpoints"
    hidden.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(hidden / "x-checkpoint.png")
    Image.fromarray(np.full((32, 32, 3), 255, np.uint8)).save(folder / "._resource-fork.png")  # macOS copy
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(folder / "upper.Png")  # not a clean-fid suffix
    return folder


def test_reference_folder_counts_what_clean_fid_counts(tmp_path):
    # main: 13 reference images (.ipynb_checkpoints, ._x.png and .Png counted) and another FID than clean-fid's
    from cleanfid.fid import compute_fid

    from erasure.metrics.images import folder_images

    extractor = TinyExtractor()
    m_a, _ = write_image_set(tmp_path / "a", "sd", random_arrays(10, seed=0))
    folder = _reference_with_hidden_files(tmp_path / "b")
    assert len(folder_images(folder)) == 10
    value, n_ref = fid.fid(ImageSet.from_manifest(m_a), folder, extractor)
    expected = compute_fid(str(m_a.parent), str(folder), mode="clean", custom_feat_extractor=extractor,
                           device=torch.device("cpu"), num_workers=0, verbose=False)
    assert n_ref == 10 and value == pytest.approx(expected, rel=1e-6)
    # another instance: the same listing feeds the saved statistics of `python -m erasure.metrics.fid stats`
    assert fid.reference_statistics(folder, extractor)[2] == 10


def test_unreadable_reference_image_is_one_line_naming_it(tmp_path):
    # main: clean-fid's dataset raises `OSError: image file is truncated` naming no file
    m_a, _ = write_image_set(tmp_path / "a", "sd", random_arrays(4, seed=0))
    folder = _reference_with_hidden_files(tmp_path / "b")
    bad = sorted(folder.glob("*.png"))[3]
    bad.write_bytes(bad.read_bytes()[:80])
    with pytest.raises(ErasureError) as err:
        fid.fid(ImageSet.from_manifest(m_a), folder, TinyExtractor())
    assert "\n" not in str(err.value) and str(bad) in str(err.value) and "unreadable image" in str(err.value)


def test_truncated_inception_is_one_line_naming_it(tmp_path):
    # another instance of a checked load: torch.jit.load's RuntimeError names no file on main
    fake = tmp_path / fid.INCEPTION_FILE
    fake.write_bytes(b"PK\x03\x04 truncated torchscript zip")
    with pytest.raises(ErasureError) as err:
        fid.inception_extractor(str(fake))
    assert "\n" not in str(err.value) and str(fake) in str(err.value) and "download" in str(err.value)
