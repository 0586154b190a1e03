"""Renderer, captions and vocabulary: determinism and label correctness."""

from __future__ import annotations

import numpy as np

from erasure.worlds.toy import captions as captions_mod
from erasure.worlds.toy.render import PALETTE, render, sample_labels
from erasure.worlds.toy.vocab import ATTRIBUTES, BACKGROUNDS, COLOURS, FILLS, SHAPES, parse_prompt


def _draw(seed: int, n: int = 64):
    rng = np.random.default_rng(seed)
    labels = sample_labels(n, rng)
    return labels, render(labels, rng, return_geometry=True)


def test_same_seed_same_bytes_different_seed_different():
    (_, (a, _)), (_, (b, _)), (_, (c, _)) = _draw(1), _draw(1), _draw(2)
    assert a.dtype == np.uint8 and a.shape == (64, 32, 32, 3)
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()


def test_solid_shape_centre_has_its_colour():
    rng = np.random.default_rng(3)
    n = 100
    labels = sample_labels(n, rng)
    labels["fill"] = np.full(n, FILLS.index("solid"))
    images, geo = render(labels, rng, return_geometry=True)
    palette = np.array([PALETTE[c] for c in COLOURS], dtype=float)
    for i in range(n):
        px = images[i, int(geo["cy"][i]), int(geo["cx"][i])].astype(float)
        nearest = np.argmin(((palette - px) ** 2).sum(1))
        assert nearest == labels["colour"][i], (i, px)


def test_background_textures_have_their_character():
    rng = np.random.default_rng(4)
    n = 40
    for k, name in enumerate(BACKGROUNDS):
        labels = sample_labels(n, rng)
        labels["background"] = np.full(n, k)
        images = render(labels, rng).astype(float)
        # the shape never reaches the outermost ring, so the border is pure background
        ring = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
        r, g, b = ring[..., 0].mean(), ring[..., 1].mean(), ring[..., 2].mean()
        if name == "plain":
            assert max(abs(r - g), abs(g - b)) < 5 and 100 < g < 156
        elif name == "grass":
            assert g > r + 50 and g > b + 50
            assert ring[..., 1].std() > 10  # blades, not a flat fill
        elif name == "sky":
            assert b > g > r
        elif name == "beach":
            assert r > g > b and r > 180
        elif name == "night":
            assert max(r, g, b) < 60
            assert (ring.max(-1) > 150).any()  # stars


def test_beach_triangle_bias():
    labels = sample_labels(20000, np.random.default_rng(5))
    tri = labels["shape"] == SHAPES.index("triangle")
    beach = labels["background"] == BACKGROUNDS.index("beach")
    assert abs(tri[beach].mean() - 0.9) < 0.03
    assert abs(tri[~beach].mean() - 0.2) < 0.03
    assert set(np.unique(labels["colour"])) == set(range(len(COLOURS)))


def test_captions_are_deterministic_and_have_empty_and_vague_shares():
    labels = sample_labels(4000, np.random.default_rng(6))
    a = captions_mod.captions(labels, np.random.default_rng(7))
    assert a == captions_mod.captions(labels, np.random.default_rng(7))
    empty = np.mean([c == "" for c in a])
    assert 0.07 < empty < 0.13
    nonempty = [c for c in a if c]
    vague = np.mean([" shape" in c for c in nonempty])
    assert 0.2 <= vague <= 0.3
    # every caption names only attributes the image really has
    for i, c in enumerate(a):
        for attr, value in parse_prompt(c).items():
            assert ATTRIBUTES[attr].index(value) == labels[attr][i], (c, i)


def test_parse_prompt():
    assert parse_prompt("a striped red triangle on the beach") == {
        "fill": "striped", "colour": "red", "shape": "triangle", "background": "beach"}
    assert parse_prompt("a shape on the beach") == {"background": "beach"}
    assert parse_prompt("") == {}
