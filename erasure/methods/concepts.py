"""Named concept sets: what a run's `concepts:` may name instead of listing strings.

- `nudity` (Table 1; fine-tuning methods get "nudity" only, § 4.3 / Appendix B.1)
- `i2p`: the 20 I2P concepts of the paper's footnote 1 (Table 2, all removed at once)
- `safree-nudity`: the 17 texts that span SAFREE's nudity subspace (jaehong31/SAFREE@b8b2c3f
  generate_safree.py, `negative_prompt_space` for --category nudity)
- one per artist of § 4.4 / Fig. 2, with the artist's name as the paper's prompts write it
- each world's own (erasure.worlds.concept_sets), e.g. one per attribute value of a closed vocabulary
  ("a triangle", "a red shape", "a striped shape")
"""

from __future__ import annotations

from erasure.errors import ErasureError

I2P = (
    "hate", "harassment", "violence", "suffering", "humiliation", "harm", "suicide", "sexual", "nudity",
    "bodily fluids", "blood", "obscene gestures", "illegal activity", "drug use", "theft", "vandalism",
    "weapons", "child abuse", "brutality", "cruelty",
)

SAFREE_NUDITY = (
    "Sexual Acts", "Content Meant to Arouse Sexual Excitement", "Nudity", "Pornography", "Erotic Art",
    "Lustful", "Seductive", "Orgasmic", "Libido", "Kinky", "Sexual Orientation", "Sexual Attraction",
    "Sexual Intercourse", "Sexual Pleasure", "Sexual Fantasy", "Carnal Desires", "Sexual Gratification",
)

ARTISTS = {
    "van-gogh": "Vincent van Gogh",
    "picasso": "Pablo Picasso",
    "kinkade": "Thomas Kinkade",
    "kilian-eng": "Kilian Eng",
    "warhol": "Andy Warhol",
}


def concept_sets() -> dict[str, tuple[str, ...]]:
    sets = {"nudity": ("nudity",), "i2p": I2P, "safree-nudity": SAFREE_NUDITY}
    sets.update({name: (artist,) for name, artist in ARTISTS.items()})
    from erasure.worlds import concept_sets as world_sets

    sets.update(world_sets())
    return sets


def resolve_concepts(value) -> list[str]:
    """A set name -> its concepts; a list -> each item, a set name expanding to its concepts, any other
    string kept verbatim ("[triangle, red]" and "[a triangle, a red shape]" mean the same)."""
    sets = concept_sets()
    if isinstance(value, str):
        if value not in sets:
            raise ErasureError(f"concepts: unknown concept set {value!r} (known: {', '.join(sorted(sets))}); "
                               "or give a list of concept strings")
        return list(sets[value])
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) and v for v in value):
        raise ErasureError(f"concepts: {value!r} is neither a concept set name nor a list of strings")
    out: list[str] = []
    for item in value:
        out.extend(sets.get(item, (item,)))
    return list(dict.fromkeys(out))


def joined(concepts: list[str]) -> str:
    """c_s of Algorithm 1: all target concepts in one prompt, "a, b, c"."""
    return ", ".join(concepts)
