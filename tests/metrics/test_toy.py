import numpy as np
import pytest

from conftest import write_image_set
from erasure.errors import ErasureError
from erasure.worlds.toy import scorers as toy  # the toy world's scorers, tested directly
from erasure.metrics.images import ImageSet


def _solid(r, g, b, size=32):
    return np.full((size, size, 3), (r, g, b), np.uint8)


RED_TRIANGLE = _solid(230, 20, 20)   # TinyOracle: triangle (r > .5), red (g < .5)
BLUE_CIRCLE = _solid(20, 230, 20)    # circle, blue
RED_CIRCLE = _solid(20, 20, 20)      # circle, red


def test_target_flags_the_erased_concept(tmp_path, oracle):
    manifest, prompts = write_image_set(tmp_path, "sd", [RED_TRIANGLE, BLUE_CIRCLE, RED_CIRCLE])
    images = ImageSet.from_manifest(manifest, prompts)
    rows = toy.score_target(images, oracle=oracle, concepts="shape=triangle")
    assert list(rows["value"]) == [100.0, 0.0, 0.0] and rows["label"].eq("toy-oracle").all()
    both = toy.score_target(images, oracle=oracle, concepts=["shape=triangle", "colour=red"])
    assert list(both["value"]) == [100.0, 0.0, 100.0]
    assert {"p_shape=triangle", "p_colour=red"} <= set(both.columns)
    # the config's dict form, one value or a list of values per attribute (config/schema.yaml allows both)
    listed = toy.score_target(images, oracle=oracle, concepts={"shape": ["triangle", "circle"]})
    assert list(listed["value"]) == [100.0, 100.0, 100.0]
    assert list(toy.score_target(images, oracle=oracle, concepts={"colour": "red"})["value"]) == [100.0, 0.0, 100.0]
    with pytest.raises(ErasureError, match="unknown toy concept"):
        toy.score_target(images, oracle=oracle, concepts="shape=hexagon")


def test_alignment_uses_named_attributes_only(tmp_path, oracle):
    prompts = ["a red triangle", "a red circle", "a circle", "something else"]
    manifest, table = write_image_set(tmp_path, "sd", [RED_TRIANGLE, BLUE_CIRCLE, BLUE_CIRCLE, RED_CIRCLE],
                                      prompts=prompts)
    # Attribute columns in the prompt table win over parsing (the toy prompt sets carry them).
    import pandas as pd

    t = pd.read_csv(table)
    t["shape"] = ["triangle", "circle", "circle", None]
    t["colour"] = ["red", "red", None, None]
    t.to_csv(table, index=False)
    rows = toy.score_alignment(ImageSet.from_manifest(manifest, table), oracle=oracle)
    assert rows["value"].iloc[:3].tolist() == [100.0, 0.0, 100.0] and np.isnan(rows["value"].iloc[3])
    assert rows["ok_shape"].iloc[1] == 1.0 and rows["ok_colour"].iloc[1] == 0.0 and np.isnan(rows["ok_colour"].iloc[2])


def test_fid_toy_self_zero_shifted_positive(tmp_path, oracle):
    rng = np.random.default_rng(0)
    real = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(12)]
    manifest, _ = write_image_set(tmp_path / "gen", "sd", real)
    reference = tmp_path / "reference"
    write_image_set(reference, "real", real)
    images = ImageSet.from_manifest(manifest)
    same = toy.score_fid_toy(images, reference=reference, oracle=oracle)
    assert abs(same["value"].iloc[0]) < 1e-6 and same["label"].iloc[0] == "toy-oracle"
    brighter = [np.clip(a.astype(int) + 60, 0, 255).astype(np.uint8) for a in real]
    m_b, _ = write_image_set(tmp_path / "b", "x", brighter)
    assert toy.score_fid_toy(ImageSet.from_manifest(m_b), reference=reference, oracle=oracle)["value"].iloc[0] > 0.01


def test_paired_distance(tmp_path, oracle):
    m_sd, table = write_image_set(tmp_path, "sd", [RED_TRIANGLE, BLUE_CIRCLE])
    m_x, _ = write_image_set(tmp_path, "x", [RED_TRIANGLE, RED_CIRCLE])
    rows = toy.score_paired_distance(ImageSet.from_manifest(m_x, table), reference=ImageSet.from_manifest(m_sd, table),
                                     oracle=oracle)
    assert rows["value"].iloc[0] == pytest.approx(0.0, abs=1e-6) and rows["value"].iloc[1] > 0.1


def test_missing_oracle_dir_is_one_line(tmp_path):
    with pytest.raises(ErasureError) as err:
        toy.load(tmp_path)
    assert "\n" not in str(err.value) and "model.safetensors" in str(err.value)


def test_vocabulary_from_class_counts():
    """The toy Oracle stores attr -> class count; names come from the toy vocabulary in its order."""
    from erasure.worlds.toy.vocab import ATTRIBUTES

    class Counts:
        attributes = {"shape": len(ATTRIBUTES["shape"]), "fill": len(ATTRIBUTES["fill"])}

    assert toy.vocabulary(Counts()) == {"shape": ATTRIBUTES["shape"], "fill": ATTRIBUTES["fill"]}
    Counts.attributes = {"shape": 2}
    with pytest.raises(ErasureError, match="rebuild the oracle"):
        toy.vocabulary(Counts())


def test_an_oracle_directory_is_loaded_once_per_process_until_its_weights_change(tmp_path):
    """A set's score job reads the oracle for several metrics: one load, keyed to the weights file's version."""
    import os

    from erasure.worlds.toy import scorers
    from erasure.worlds.toy.oracle import Oracle, save_oracle

    save_oracle(Oracle(width=8, feature_dim=16), tmp_path)
    first, label = scorers.load(tmp_path)
    assert scorers.load(str(tmp_path))[0] is first and label == f"oracle:{tmp_path}" and not first.training
    weights = tmp_path / "model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    assert scorers.load(tmp_path)[0] is not first  # rewritten weights are read again
