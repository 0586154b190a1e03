import pytest

from erasure.errors import ErasureError
from erasure.methods.concepts import ARTISTS, I2P, joined, resolve_concepts
from erasure.methods.presets import resolve_settings


def test_unknown_setting_is_named():
    with pytest.raises(ErasureError, match="settings.learning_rate"):
        resolve_settings("sdd", "paper", {"learning_rate": 1e-4})
    with pytest.raises(ErasureError, match="preset 'nope'"):
        resolve_settings("sdd", "nope", {})


def test_overrides_and_defaults():
    s = resolve_settings("sdd", None, {"lr": 1e-4, "betas": [0.8, 0.9]})
    assert s.lr == 1e-4 and s.betas == (0.8, 0.9) and s.warmup_steps == 500
    assert resolve_settings("esd-x", None, {}).negative_guidance == 3.0
    with pytest.raises(ErasureError, match="sdd\\+retain"):
        resolve_settings("sdd+retain", "paper", {})
    with pytest.raises(ErasureError, match="retain_weight"):
        resolve_settings("sdd", "paper", {"retain_weight": 0.3})


def test_concept_sets():
    assert len(I2P) == 20 and resolve_concepts("i2p") == list(I2P)
    assert resolve_concepts("nudity") == ["nudity"]
    assert resolve_concepts("van-gogh") == ["Vincent van Gogh"] and len(ARTISTS) == 5
    assert resolve_concepts(["triangle", "red", "striped"]) == ["a triangle", "a red shape", "a striped shape"]
    assert resolve_concepts(["Andy Warhol"]) == ["Andy Warhol"]
    assert joined(["a", "b", "c"]) == "a, b, c"
    with pytest.raises(ErasureError, match="unknown concept set 'tirangle'"):
        resolve_concepts("tirangle")
