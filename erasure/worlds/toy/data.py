"""Seeded toy data sets (images, labels, captions) and the caption -> attribute table the trainers share.

Training and held-out sets come from disjoint seed streams (`split`), so re-measuring a base never
scores images it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from erasure.worlds.toy import captions as captions_mod
from erasure.worlds.toy.render import render, sample_labels
from erasure.worlds.toy.vocab import ATTRIBUTES, parse_prompt

_SPLIT_OFFSET = {"train": 0, "heldout": 1_000_003}


@dataclass
class ToyData:
    images: np.ndarray  # uint8 [N, 32, 32, 3]
    labels: dict[str, np.ndarray]  # attribute -> int index [N]
    captions: list[str]


def make_data(n: int, seed: int, split: str = "train", *, beach_triangle_bias: float = 0.9,
              caption_style: str = "v1") -> ToyData:
    """`n` images of `split`. Captions are drawn after the images, from the same stream: the caption style
    changes no image, which is what lets a caption variant of a base reuse its VAE and oracle (build.py)."""
    rng = np.random.default_rng([seed, _SPLIT_OFFSET[split]])
    labels = sample_labels(n, rng, beach_triangle_bias=beach_triangle_bias)
    images = render(labels, rng)
    caps = captions_mod.captions(labels, rng, caption_style)
    return ToyData(images, labels, caps)


def caption_attributes(texts: list[str]) -> np.ndarray:
    """int [len(texts), n_attributes]: the index a text names per attribute, -1 where it names none."""
    out = np.full((len(texts), len(ATTRIBUTES)), -1, dtype=np.int64)
    for i, text in enumerate(texts):
        named = parse_prompt(text)
        for a, (attr, values) in enumerate(ATTRIBUTES.items()):
            if attr in named:
                out[i, a] = values.index(named[attr])
    return out


def label_matrix(labels: dict[str, np.ndarray]) -> np.ndarray:
    return np.stack([labels[attr] for attr in ATTRIBUTES], axis=1)
