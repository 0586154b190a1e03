"""The toy world's closed vocabulary: every attribute a prompt can name, and a parser for prompts."""

from __future__ import annotations

import re

SHAPES = ("circle", "square", "triangle", "cross", "diamond")
# Picked to stay distinct from each other and from every background (no green on grass, no navy at night).
COLOURS = ("red", "yellow", "blue", "purple", "white")
BACKGROUNDS = ("plain", "grass", "sky", "beach", "night")
FILLS = ("solid", "striped", "dotted")

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "shape": SHAPES,
    "colour": COLOURS,
    "background": BACKGROUNDS,
    "fill": FILLS,
}

# Words the caption templates use besides attribute values; the tokenizer gives each one token.
FUNCTION_WORDS = ("a", "on", "the", "shape", "with", "background", "filled", "image", "of", "in")

_WORD_TO_ATTR = {value: attr for attr, values in ATTRIBUTES.items() for value in values}


def all_words() -> tuple[str, ...]:
    """Every word the tokenizer must treat as one token."""
    words = list(FUNCTION_WORDS)
    for values in ATTRIBUTES.values():
        words.extend(values)
    return tuple(dict.fromkeys(words))


def parse_prompt(text: str) -> dict[str, str]:
    """Attributes a prompt names, e.g. "a red striped circle on the beach" -> shape, colour, fill, background.

    A word naming a value twice for one attribute keeps the first; unknown words are ignored, so
    free-text prompts from other prompt sets parse to the attributes they happen to mention.
    """
    found: dict[str, str] = {}
    for word in re.findall(r"[a-z]+", text.lower()):
        attr = _WORD_TO_ATTR.get(word)
        if attr is not None and attr not in found:
            found[attr] = word
    return found
