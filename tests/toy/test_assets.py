"""The shipped base: checksums verified, and a damaged copy fails with one line naming the file."""

from __future__ import annotations

import shutil

import pytest

from erasure.errors import ErasureError
from erasure.worlds.toy.assets import SHIPPED_BASE, shipped_base_dir, verify_base_dir

pytestmark = pytest.mark.skipif(not (SHIPPED_BASE / "SHA256SUMS").exists(), reason="shipped base not present")


def test_shipped_base_verifies_and_has_the_layout():
    base = shipped_base_dir()
    for rel in ("pipeline/model_index.json", "clip/config.json", "oracle/model.safetensors",
                "oracle/config.json", "MODEL_CARD.md"):
        assert (base / rel).is_file(), rel


@pytest.fixture
def copy(tmp_path):
    dest = tmp_path / "base"
    shutil.copytree(SHIPPED_BASE, dest)
    return dest


def test_corrupted_file_is_named(copy):
    target = copy / "oracle" / "model.safetensors"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ErasureError) as err:
        verify_base_dir(copy)
    msg = str(err.value)
    assert "\n" not in msg and str(target) in msg and "checksum" in msg and "toy_base" in msg


def test_missing_file_is_named(copy):
    target = copy / "pipeline" / "model_index.json"
    target.unlink()
    with pytest.raises(ErasureError) as err:
        verify_base_dir(copy)
    assert "\n" not in str(err.value) and str(target) in str(err.value) and "missing" in str(err.value)


def test_shipped_base_meets_the_base_bars():
    from erasure.worlds.toy.build import recorded_check
    from erasure.worlds.toy.check import failed_bars

    record = recorded_check(shipped_base_dir())
    assert record is not None, "the shipped base's model card has no check record"
    assert failed_bars(record) == []


def test_a_missed_bar_is_named_with_its_figure():
    from erasure.worlds.toy.build import recorded_check
    from erasure.worlds.toy.check import failed_bars

    record = recorded_check(shipped_base_dir())
    # the toy world v2 candidate's failure (grass 40% triangles), and a weak oracle attribute
    record["triangle_rate"]["grass"] = 0.40
    record["oracle_real"]["fill"] = 0.95
    assert failed_bars(record) == ["oracle_real.fill = 95.0%, bar >= 98%", "triangle_rate.grass = 40.0%, bar <= 25%"]
    del record["adherence"]["colour"]
    assert any(line.startswith("adherence.colour: missing") for line in failed_bars(record))


def test_model_card_records_the_bars_verdict():
    from erasure.worlds.toy.build import RECIPES, model_card, recorded_check

    record = recorded_check(shipped_base_dir())
    card = model_card("full", RECIPES["full"], 0, 2, {"unet": 1.0}, {}, record)
    assert "Base bars (`check.BASE_BARS`): all met." in card
    record["triangle_rate"]["grass"] = 0.40
    card = model_card("full", RECIPES["full"], 0, 2, {"unet": 1.0}, {}, record)
    assert "must not ship" in card and "- triangle_rate.grass = 40.0%, bar <= 25%" in card
