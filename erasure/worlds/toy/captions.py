"""Captions for rendered images: a random subset of the image's attributes, worded in one of a few styles.

Dropping attributes teaches the model marginals ("a red shape" may be any shape); vague captions that say
"shape" instead of the shape's name are what make "a shape on the beach" inherit the beach's triangle
bias (with the shape named in 95% of captions that bias became unstable across checkpoints in the
prototype). Empty captions train the unconditional branch that classifier-free guidance needs.

Two caption styles sets (`STYLES`), chosen by the base recipe's ``captions`` key:

- ``v1`` — templates only ("a striped red triangle on the beach"): the first toy base.
- ``v2`` — the templates plus the shapes of web alt-text that SD's CLIP was trained on: tag lists
  ("triangle, red, striped, beach"), phrase lists ("a triangle, a red shape, a striped shape") and longer
  compositional ones ("a red triangle on the beach, a striped shape"). The paper's multi-concept prompt
  (§3.3, concepts joined with commas: erasure.methods.concepts) is a phrase list, so under v2 it is in
  distribution; under v1 the toy CLIP reads it as "a red triangle" (toy world v2, issue 24).

Every style names only attributes the image has, so `data.caption_attributes` (the CLIP loss's positives)
holds for all of them. None uses the held-out phrasings' words ("image of", "in the", "filled":
prompts.HELDOUT_*), which stay wordings no training caption has.
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
# v2: the share of each wording among non-empty captions (templates keep the majority, so every v1 prompt
# stays in distribution)
V2_STYLE_SHARES = {"template": 0.55, "tags": 0.20, "phrases": 0.15, "compositional": 0.10}
STYLES = ("v1", "v2")


def _named(labels: dict[str, int], draws: np.ndarray) -> dict[str, str]:
    """The attributes one caption names ("shape" → None when the caption is vague), v1's probabilities."""
    name = {attr: ATTRIBUTES[attr][int(labels[attr])] for attr in ATTRIBUTES}
    named = {"shape": None if draws[1] < P_VAGUE else name["shape"]}
    if draws[2] < P_FILL:
        named["fill"] = name["fill"]
    if draws[3] < P_COLOUR:
        named["colour"] = name["colour"]
    if draws[4] < P_BACKGROUND:
        named["background"] = name["background"]
    return named


def _background_words(background: str, with_form: bool) -> list[str]:
    return ["with", background, "background"] if with_form else ["on", "the", background]


def _template(named: dict[str, str | None], with_form: bool) -> str:
    words = ["a"]
    for attr in ("fill", "colour"):
        if attr in named:
            words.append(named[attr])
    words.append(named["shape"] or "shape")
    if "background" in named:
        words += _background_words(named["background"], with_form)
    return " ".join(words)


def _phrase(attr: str, value: str, with_form: bool) -> str:
    """One attribute as its own noun phrase: "a triangle", "a red shape", "a shape on the beach"."""
    if attr == "shape":
        return f"a {value}"
    if attr == "background":
        return " ".join(["a", "shape"] + _background_words(value, with_form))
    return f"a {value} shape"


def caption(labels: dict[str, int], rng: np.random.Generator, style: str = "v1") -> str:
    """One caption for one image's label indices, in caption style `style` (`STYLES`)."""
    draws = rng.random(6)
    if draws[0] < P_EMPTY:
        return ""
    named = _named(labels, draws)
    with_form = bool(draws[5] < P_WITH_BACKGROUND)
    if style == "v1":
        return _template(named, with_form)
    if style != "v2":
        raise ValueError(f"caption style {style!r}: use one of {STYLES}")
    wording = rng.choice(list(V2_STYLE_SHARES), p=list(V2_STYLE_SHARES.values()))
    if wording == "template":
        return _template(named, with_form)
    attrs = [a for a in named if named[a] is not None]
    order = [attrs[i] for i in rng.permutation(len(attrs))]
    if wording == "tags":
        return ", ".join(named[a] for a in order) or "shape"
    if wording == "phrases":
        return ", ".join(_phrase(a, named[a], with_form) for a in order) or "a shape"
    # compositional: a template over some attributes, the rest as phrases after it
    k = int(rng.integers(1, len(order) + 1)) if order else 0
    head = {"shape": None} | {a: named[a] for a in order[:k]}
    return ", ".join([_template(head, with_form)] + [_phrase(a, named[a], with_form) for a in order[k:]])


def captions(labels: dict[str, np.ndarray], rng: np.random.Generator, style: str = "v1") -> list[str]:
    n = len(labels["shape"])
    return [caption({attr: labels[attr][i] for attr in ATTRIBUTES}, rng, style) for i in range(n)]
