"""Toy world v2's captions (issue 24) and the build's per-component cache keys that let a caption variant
reuse a base's image-side components."""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
import pytest

from erasure.errors import ErasureError
from erasure.worlds.toy import build
from erasure.worlds.toy import captions as captions_mod
from erasure.worlds.toy.data import make_data
from erasure.worlds.toy.render import sample_labels
from erasure.worlds.toy.vocab import ATTRIBUTES, COLOURS, FILLS, SHAPES, parse_prompt


@pytest.fixture(scope="module")
def v2():
    labels = sample_labels(6000, np.random.default_rng(6))
    return labels, captions_mod.captions(labels, np.random.default_rng(7), "v2")


def _wording(text: str) -> str:
    if "," not in text:
        return "tags" if text and not text.startswith("a ") else "template"
    return "tags" if not text.startswith("a ") else "list"


def test_v2_names_only_true_attributes_and_keeps_the_empty_and_vague_shares(v2):
    labels, caps = v2
    assert caps == captions_mod.captions(labels, np.random.default_rng(7), "v2")
    for i, c in enumerate(caps):
        for attr, value in parse_prompt(c).items():
            assert ATTRIBUTES[attr].index(value) == labels[attr][i], (c, i)
    nonempty = [c for c in caps if c]
    assert 0.07 < 1 - len(nonempty) / len(caps) < 0.13
    # the shape goes unnamed in a quarter of captions, whatever the wording: the beach bias needs it
    vague = np.mean([not any(s in re.findall(r"[a-z]+", c) for s in SHAPES) for c in nonempty])
    assert 0.2 <= vague <= 0.3, vague


def test_v2_mixes_templates_tag_lists_and_phrase_lists(v2):
    _, caps = v2
    counts = Counter(_wording(c) for c in caps if c)
    n = sum(counts.values())
    assert 0.45 < counts["template"] / n < 0.65, counts
    assert 0.12 < counts["tags"] / n, counts
    assert 0.15 < counts["list"] / n, counts
    # the paper's joined multi-concept prompt (§3.3: erasure.methods.concepts) is a caption's shape in v2
    joined = re.compile(r"^a (%s), a (%s) shape, a (%s) shape$" % ("|".join(SHAPES), "|".join(COLOURS),
                                                                   "|".join(FILLS)))
    assert any(joined.match(c) for c in caps)


def test_v2_leaves_the_held_out_phrasings_held_out(v2):
    """prompts.HELDOUT_* judge methods on wordings no training caption has: v2 must not use their words."""
    from erasure.worlds.toy.prompts import HELDOUT_OTHER, HELDOUT_TARGET

    words = {w for c in v2[1] for w in re.findall(r"[a-z]+", c)}
    held_only = {"image", "of", "in", "filled"}
    assert not words & held_only
    assert all(set(re.findall(r"[a-z]+", t)) & held_only for t in HELDOUT_TARGET + HELDOUT_OTHER)


def test_v1_stays_templates_and_the_style_changes_no_image():
    v1 = make_data(300, 0, "train", caption_style="v1")
    other = make_data(300, 0, "train", caption_style="v2")
    assert np.array_equal(v1.images, other.images)
    assert all("," not in c for c in v1.captions) and any("," in c for c in other.captions)
    assert v1.captions == make_data(300, 0, "train").captions  # v1 is the default
    with pytest.raises(ValueError, match="caption style 'v3'"):
        captions_mod.captions(v1.labels, np.random.default_rng(0), "v3")


def test_stage_keys_follow_what_each_component_is_trained_from():
    full = build.RECIPES["full"]
    key = {s: build.stage_key(s, full, 0) for s in build.STAGES}
    captions = {s: build.stage_key(s, build.RECIPES["full-v2"], 0) for s in build.STAGES}
    assert {s for s in key if key[s] != captions[s]} == {"clip", "unet", "unet-ft"}
    vae = {s: build.stage_key(s, full | {"vae_steps": 10}, 0) for s in build.STAGES}
    assert {s for s in key if key[s] != vae[s]} == {"vae", "oracle", "unet", "unet-ft"}
    seed = {s: build.stage_key(s, full, 1) for s in build.STAGES}
    assert all(key[s] != seed[s] for s in key)
    # every recipe names every key a stage reads
    for name, recipe in build.RECIPES.items():
        assert set(recipe) >= {k for keys, _ in build.STAGES.values() for k in keys}, name


def test_a_caption_longer_than_max_length_is_refused(tmp_path):
    from erasure.worlds.toy.tokenizer import build_tokenizer

    caps = make_data(2000, 0, "train", caption_style="v2").captions
    with pytest.raises(ErasureError, match=r"recipe full-v2: max_length 16 .* tokens") as err:
        build.check_captions_fit(caps, build_tokenizer(tmp_path, max_length=16), "full-v2")
    assert "\n" not in str(err.value)
    build.check_captions_fit(caps, build_tokenizer(tmp_path, max_length=20), "full-v2")


def test_seeding_a_cache_from_the_shipped_base_reuses_exactly_its_image_stages(tmp_path):
    from erasure.worlds.toy.assets import SHIPPED_BASE

    if not (SHIPPED_BASE / "MODEL_CARD.md").is_file():
        pytest.skip("shipped base not present")
    seeded = build.seed_cache_from_base(SHIPPED_BASE, tmp_path / "a", "full-v2-wide", 0, log=lambda s: None)
    assert seeded == ["vae", "oracle"]
    cache = build._StageCache(tmp_path / "a", build.RECIPES["full-v2-wide"], 0)
    assert cache.has("vae") and cache.has("oracle") and not cache.has("clip")
    assert (cache.path("vae") / "config.json").is_file() and (cache.path("oracle") / "model.safetensors").is_file()
    assert json.loads(cache.path("vae").with_suffix(".json").read_text())["from"] == str(SHIPPED_BASE)
    # another seed, or a recipe that trains the VAE differently, reuses nothing
    assert build.seed_cache_from_base(SHIPPED_BASE, tmp_path / "b", "full", 1, log=lambda s: None) == []
    build.RECIPES["vae-variant"] = build.RECIPES["full"] | {"vae_steps": 1}
    try:
        assert build.seed_cache_from_base(SHIPPED_BASE, tmp_path / "c", "vae-variant", 0, log=lambda s: None) == []
    finally:
        del build.RECIPES["vae-variant"]


def test_a_directory_without_a_model_card_is_named(tmp_path):
    with pytest.raises(ErasureError) as err:
        build.recorded_recipe(tmp_path)
    assert str(tmp_path / "MODEL_CARD.md") in str(err.value) and "\n" not in str(err.value)
