"""The planning layer's part for the attack stage (`erasure.plan.attacks`; erasure.plan reads it). What the attack stage must produce, from the config alone (no torch, no file system): the attack jobs
(method × attack × prompt set × shard of prompts), the attacked image sets `{promptset}~{attack}` that the
normal generate rules draw, the scores ASR is read from, and Table 3's files.

The `attacks` section of the config (config/schema.yaml) drives it; without one, nothing is planned.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from erasure.attacks.base import BASE_ENCODER, TEXT_ONLY_KINDS
from erasure.errors import ErasureError
from erasure.plan import SEPARATOR, ImageSet, base_promptset, image_set_shape, method_replicates

__all__ = ["SEPARATOR", "base_promptset", "attacked_name", "section", "jobs", "n_attack_shards", "image_sets",
           "scores", "detector_metric", "TEXT_ONLY_KINDS"]


def attacked_name(promptset: str, attack: str) -> str:
    """The attacked image set's prompt-set name: `{promptset}~{attack}` (same prompt_ids and seeds)."""
    return f"{promptset}{SEPARATOR}{attack}"


def section(config: Mapping) -> Mapping:
    return config.get("attacks") or {}


def jobs(config: Mapping) -> list[tuple[str, str, str]]:
    """(method, attack, prompt set) triples, checked against the config's methods and prompt sets; a method
    with training replicates contributes one triple per replicate (`sdd@300`, `sdd.r1@300`, ...)."""
    spec = section(config)
    if not spec:
        return []
    for promptset in spec["promptsets"]:
        if promptset not in config["prompt_sets"]:
            raise ErasureError(f"attacks.promptsets: unknown prompt set {promptset!r} (see prompt_sets)")
        if image_set_shape(config, promptset).images_per_prompt != 1:
            raise ErasureError(f"attacks.promptsets: {promptset!r} has images_per_prompt > 1; an attack optimises "
                               "one prompt for one (prompt, seed) image, so give the attack its own set with 1")
    # every training replicate of a fine-tuned method is attacked (Table 3 over replicates, issue 37): each has
    # its own weights, so its own adversarial prompts; replicate 0 first (erasure.plan.method_replicates)
    return [(r, a, p) for m in spec["methods"] for r in method_replicates(config, m)
            for a in spec["attacks"] for p in spec["promptsets"]]


def shard_size(config: Mapping) -> int:
    return int(section(config).get("shard_size", 25))


def n_attack_shards(config: Mapping, promptset: str) -> int:
    """Attack jobs per (method, attack, prompt set): ceil(n_prompts / attacks.shard_size)."""
    return max(1, math.ceil(int(config["prompt_sets"][promptset]["n_prompts"]) / shard_size(config)))


def text_only(config: Mapping, attack: str) -> bool:
    """Whether `attack` reads the text encoder alone, so that its prompts depend on nothing else of a method."""
    return section(config)["attacks"][attack]["kind"] in TEXT_ONLY_KINDS


def text_encoder(config: Mapping, method: str) -> str:
    """The text encoder a method generates with, as a name: the base's ("base") for every method there is.
    Inference-time methods (sd-neg, SLD, SEGA) change the sampler, and every fine-tuning or closed-form method in
    erasure.methods.specs trains or edits UNet weights only (SDD / ESD-x attn2, ESD-u the UNet but attn2, UCE /
    RECE attn2's key and value projections, which read the frozen encoder's output: erasure.methods.params).
    A method whose spec trains no UNet subset trains another component (docs/adding-a-method.md): AdvUnlearn's
    text encoder. Its encoder is its own, named by its model (`advunlearn-nudity@1000`), so Ring-A-Bell's
    prompts against it are searched with that encoder (its run's complete.json an input of the job:
    erasure.attacks.stage.text_attack_shard) and shared with no other method."""
    from erasure.methods import specs
    from erasure.paths import MethodId

    parsed = MethodId.parse(method)
    if not parsed.finetuned:
        return BASE_ENCODER
    from erasure.plan import run_config

    spec = specs.get(run_config(config, parsed.run)["method"])
    return BASE_ENCODER if spec.subsets else method


def text_jobs(config: Mapping) -> list[tuple[str, str, str]]:
    """(text encoder, attack, prompt set) of the text-only attacks: one set of shards each, however many
    attacked methods share that encoder."""
    return sorted({(text_encoder(config, m), a, p) for m, a, p in jobs(config) if text_only(config, a)})


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
