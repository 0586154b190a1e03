"""What the attack stage must produce, from the config alone (no torch, no file system): the attack jobs
(method × attack × prompt set × shard of prompts), the attacked image sets `{promptset}~{attack}` that the
normal generate rules draw, the scores ASR is read from, and Table 3's files.

The `attacks` section of the config (config/schema.yaml) drives it; without one, nothing is planned.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from erasure.errors import ErasureError
from erasure.plan import SEPARATOR, ImageSet, base_promptset

__all__ = ["SEPARATOR", "base_promptset", "attacked_name", "section", "jobs", "n_attack_shards", "image_sets",
           "scores", "detector_metric"]


def attacked_name(promptset: str, attack: str) -> str:
    """The attacked image set's prompt-set name: `{promptset}~{attack}` (same prompt_ids and seeds)."""
    return f"{promptset}{SEPARATOR}{attack}"


def section(config: Mapping) -> Mapping:
    return config.get("attacks") or {}


def jobs(config: Mapping) -> list[tuple[str, str, str]]:
    """(method, attack, prompt set) triples, checked against the config's methods and prompt sets."""
    spec = section(config)
    if not spec:
        return []
    for promptset in spec["promptsets"]:
        if promptset not in config["prompt_sets"]:
            raise ErasureError(f"attacks.promptsets: unknown prompt set {promptset!r} (see prompt_sets)")
        if int(config["prompt_sets"][promptset].get("images_per_prompt", 1)) != 1:
            raise ErasureError(f"attacks.promptsets: {promptset!r} has images_per_prompt > 1; an attack optimises "
                               "one prompt for one (prompt, seed) image, so give the attack its own set with 1")
    return [(m, a, p) for m in spec["methods"] for a in spec["attacks"] for p in spec["promptsets"]]


def shard_size(config: Mapping) -> int:
    return int(section(config).get("shard_size", 25))


def n_attack_shards(config: Mapping, promptset: str) -> int:
    """Attack jobs per (method, attack, prompt set): ceil(n_prompts / attacks.shard_size)."""
    return max(1, math.ceil(int(config["prompt_sets"][promptset]["n_prompts"]) / shard_size(config)))


def target_method(config: Mapping) -> str:
    """The method whose image of (prompt, seed) is the white-box target (the base model: `sd`)."""
    return section(config).get("target_method", "sd")


def detector_metric(config: Mapping) -> str:
    """The score metric whose per-image `flagged` (toy %TARGET) or detections (NudeNet) say 'concept shown'."""
    return section(config).get("metric", "target")


def image_sets(config: Mapping) -> list[ImageSet]:
    """Every attacked method's plain and attacked image sets."""
    sets = set()
    for method, attack, promptset in jobs(config):
        sets.add(ImageSet(method, promptset))
        sets.add(ImageSet(method, attacked_name(promptset, attack)))
    return sorted(sets)


def scores(config: Mapping) -> list[tuple[str, str, str]]:
    """(metric, method, prompt set): the detector metric on each plain and attacked image set."""
    metric = detector_metric(config)
    return sorted({(metric, s.method, s.promptset) for s in image_sets(config)})


def table_name(config: Mapping) -> str:
    return section(config).get("table", "table3")
