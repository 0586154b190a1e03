"""Captions for rendered images: templates that name a random subset of the attributes.

Dropping attributes teaches the model marginals ("a red shape" may be any shape); vague captions that say
"shape" instead of the shape's name are what make "a shape on the beach" inherit the beach's triangle
bias (with the shape named in 95% of captions that bias became unstable across checkpoints in the
prototype). Empty captions train the unconditional branch that classifier-free guidance needs.
"""

from __future__ import annotations

import numpy as np

from erasure.worlds.toy.vocab import ATTRIBUTES

P_EMPTY = 0.10
P_VAGUE = 0.25  # of non-empty captions: "shape" instead of the shape's name
P_COLOUR = 0.75
P_FILL = 0.30
P_BACKGROUND = 0.55
P_WITH_BACKGROUND = 0.3  # "... with grass background" instead of "... on the grass"


def caption(labels: dict[str, int], rng: np.random.Generator) -> str:
    """One caption for one image's label indices."""
    draws = rng.random(6)
    if draws[0] < P_EMPTY:
        return ""
    name = {attr: ATTRIBUTES[attr][int(labels[attr])] for attr in ATTRIBUTES}
    words = ["a"]
    if draws[2] < P_FILL:
        words.append(name["fill"])
    if draws[3] < P_COLOUR:
        words.append(name["colour"])
    words.append("shape" if draws[1] < P_VAGUE else name["shape"])
    if draws[4] < P_BACKGROUND:
        if draws[5] < P_WITH_BACKGROUND:
            words += ["with", name["background"], "background"]
        else:
            words += ["on", "the", name["background"]]
    return " ".join(words)


def captions(labels: dict[str, np.ndarray], rng: np.random.Generator) -> list[str]:
    n = len(labels["shape"])
    return [caption({attr: labels[attr][i] for attr in ATTRIBUTES}, rng) for i in range(n)]
