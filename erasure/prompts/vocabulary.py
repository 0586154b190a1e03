"""Text a user writes, checked against a closed-vocabulary world's words (the toy's: erasure.worlds).

The toy tokenizer does not refuse a word it does not know: it splits "triangles" into character pieces that
no caption ever trained, so "a red triangles" quietly asks for something else (the base draws 0 % triangles
for "triangles"). The tokenizer stays as it is (the shipped base's weights depend on it); this module makes
such words visible where they are written:

- config texts (concepts of runs / inference methods / prompt sets, a run's preserve list, retain
  prompts and guide concept, a prompt set's exclude words, a Ring-A-Bell concept):
  an ERROR when a concept names nothing the world knows — its unknown words are all it says (e.g.
  "triangles", "a triangles"), or an `exclude` word the captions can never contain, so it excludes
  nothing — since such a run erases, or such a set leaves out, nothing the base knows: a typo, not a
  choice. A WARNING when the concept also names a known attribute ("a sandy triangle"): it may be
  deliberate.
- prompt tables (a prompt set's, an attack's attacked copy): a WARNING in the log of each generate job
  that draws the set, and of the attack_merge job that writes an attacked copy, naming the set and its
  table, how many prompts, the words and an example. (Not in the prompts job: a change to its rule's
  script would make Snakemake rerun every finished prompt table, and everything drawn from it.) Never an error: Ring-A-Bell's prompts are
  token fragments by design, and a prompt set probing words the base never saw is a fair experiment (what
  such a prompt does is then what it measures). The toy's own sets, held-out wordings included
  (erasure.worlds.toy.prompts HELDOUT_*, experiments/scripts/erase_toy.py WORDINGS), stay inside the vocabulary —
  new word orders, not new words (tests/prompts/test_vocabulary.py).

Worlds with an open vocabulary (SD) have no unknown words; nothing is checked there. Torch-free.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterator, Mapping

import pandas as pd

from erasure.errors import ErasureError
from erasure.worlds import World, world_for

log = logging.getLogger(__name__)

MAX_WORDS = 8  # words named in one line; the count says how many there are


def _world(config: Mapping) -> World | None:
    try:
        return world_for(str(config.get("base_model", "")))
    except ErasureError:
        return None


def _known(world: World) -> str:
    return f"known {world.name} words: {' '.join(world.vocabulary())}"


def _listed(words: list[str]) -> str:
    more = f" and {len(words) - MAX_WORDS} more" if len(words) > MAX_WORDS else ""
    return ", ".join(words[:MAX_WORDS]) + more


def _suggest(world: World, words: list[str]) -> str:
    close = [m for w in words for m in difflib.get_close_matches(w, world.vocabulary(), n=1, cutoff=0.75)]
    return f"did you mean {', '.join(repr(c) for c in dict.fromkeys(close))}? " if close else ""


def config_texts(config: Mapping) -> Iterator[tuple[str, str, bool]]:
    """(config key, text, is an exclude word) for every concept text a config writes (named concept sets
    expanded, as the jobs expand them)."""
    from erasure.methods.concepts import resolve_concepts

    def concepts(key: str, value) -> Iterator[tuple[str, str, bool]]:
        if value is None:
            return
        try:
            texts = resolve_concepts(value)
        except ErasureError:
            return  # erasure.config._check_concept_sets names it
        for text in texts:
            yield key, text, False

    for section in ("runs", "inference_methods", "prompt_sets"):
        for name, spec in (config.get(section) or {}).items():
            if not isinstance(spec, Mapping):
                continue
            yield from concepts(f"{section}.{name}.concepts", spec.get("concepts"))
            settings = spec.get("settings") or {}
            yield from concepts(f"{section}.{name}.settings.preserve", settings.get("preserve"))
            for text in settings.get("retain_prompts") or ():
                yield f"{section}.{name}.settings.retain_prompts", str(text), False
            if settings.get("guide"):
                yield f"{section}.{name}.settings.guide", str(settings["guide"]), False
            for text in spec.get("exclude") or ():
                yield f"{section}.{name}.exclude", str(text), True
    for name, attack in ((config.get("attacks") or {}).get("attacks") or {}).items():
        concept = (attack or {}).get("concept") or {}
        key = f"attacks.attacks.{name}.concept"
        for field in ("prompts", "replacements"):
            for text in concept.get(field) or ():
                yield f"{key}.{field}", str(text), False
        if concept.get("word"):
            yield f"{key}.word", str(concept["word"]), False


def check_config(config: Mapping, source: str = "config") -> list[str]:
    """Raise ErasureError (one line: source, key, the text, its unknown words, the fix and the known words) for
    a config text that names nothing the world knows; return one warning line per text that has unknown
    words beside known attributes. Nothing for an open-vocabulary world."""
    world = _world(config)
    if world is None or not world.vocabulary():
        return []
    warnings = []
    for key, text, exclude in config_texts(config):
        unknown = world.unknown_words(text)
        if not unknown:
            continue
        if exclude or not world.parse_prompt(text):
            effect = "excludes nothing (no caption contains it)" if exclude else "names nothing the base knows"
            raise ErasureError(f"{source}: {key}: {text!r} {effect}: {_listed(unknown)} not in the {world.name} "
                               "vocabulary (its tokenizer splits such words into pieces no caption trained); "
                               f"{_suggest(world, unknown)}write it in the vocabulary's words ({_known(world)})")
        warnings.append(f"{source}: {key}: {text!r} has words outside the {world.name} vocabulary "
                        f"({_listed(unknown)}): the tokenizer splits them into pieces no caption trained, so the "
                        f"text quietly means something else ({_known(world)})")
    return warnings


def table_warning(table: pd.DataFrame, where: str, world: World) -> str | None:
    """One line for a prompt table whose prompts have words outside `world`'s vocabulary, or None."""
    if not world.vocabulary() or "prompt" not in table.columns:
        return None
    hits = [(str(pid), str(text), world.unknown_words(str(text)))
            for pid, text in zip(table.get("prompt_id", range(len(table))), table["prompt"])]
    hits = [h for h in hits if h[2]]
    if not hits:
        return None
    words = list(dict.fromkeys(w for _, _, unknown in hits for w in unknown))
    pid, text, _ = hits[0]
    return (f"{where}: {len(hits)} of {len(table)} prompts have words outside the {world.name} vocabulary "
            f"({_listed(words)}); its tokenizer splits them into pieces no caption trained, so those prompts "
            f"quietly mean something else (e.g. prompt_id {pid}: {text!r}; {_known(world)})")


def warn_table(table: pd.DataFrame, where: str, base_model: str | None) -> str | None:
    """Log `table_warning` as a warning (the job's log) and return it; None where there is nothing to say."""
    if not base_model:
        return None
    try:
        world = world_for(str(base_model))
    except ErasureError:
        return None
    line = table_warning(table, where, world)
    if line:
        log.warning("warning: %s", line)
    return line
