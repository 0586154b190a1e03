"""Worlds: what the workflow runs on (a base model, its prompt sets and its scorers), behind ONE interface.

A world answers, for a config's `world` name or `base_model` string:

- where the base is: `pipeline_source` (a local diffusers directory or a hub id), `base_files` (what pins it:
  the DAG inputs of every rule that loads it and the nodes provenance hashes), `built_base_dir` (a base the
  DAG trains itself), `backbone_dir` (a scorer backbone shipped inside the base, e.g. the toy oracle);
- what it talks about: `concept_sets` (named concept sets a run may name), `parse_prompt` (the attributes a
  prompt names in a closed vocabulary), `vocabulary` / `unknown_words` (the words its text encoder knows;
  what a text says outside them), `prompt_sources` (prompt sets generated without a file);
- how it scores: `metrics` (the metrics only it offers), `scorers` / `detectors` (their implementations),
  `reference_sets` (reference folders its own rules build), `scorers_read_base`, `scores_apart`,
  `score_sets_together` / `score_env` (one score job per image set instead of one per metric);
- what its jobs cost: `resources` (threads, memory, minutes per job kind), `preflight_gate`.

Everything outside `erasure/worlds/` reaches a world through this module; nothing imports a world's package
(tests/test_world_boundary.py enforces it). Adding a world is a new module here and a line in WORLDS: its
`claims` says which `base_model` strings are its own.

A world says where a base comes from; the NETWORK it holds is a model family (`erasure.worlds.families`: SD 1.x,
SD 2.x, SDXL), one adapter object per family, which `World.family(base_model)` gives before loading and
`families.family_of(unet, scheduler_config)` for a loaded one. Adding a network family is a `ModelFamily` in
that module (and its stand-in in erasure/standins), not a world.

Torch-free and quick: the Snakefile plans with it. A world's torch code is imported only when called.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from erasure.errors import ErasureError


@dataclass(frozen=True)
class JobResources:
    """What one job of a kind asks a scheduler for: `threads`, `mem_mb` (MB), `runtime` (minutes) plus one
    minute per `per_minute` units of work (erase: iterations; generate: images per shard; score: images in
    the set; 0: a fixed limit), and whether it takes the GPU where the config's cluster offers one."""

    threads: int
    mem_mb: int
    runtime: int
    per_minute: int = 0
    gpu: bool = True

    def minutes(self, units: int = 0) -> int:
        """SLURM minutes for a job doing `units` of work."""
        return self.runtime + (int(units) // self.per_minute if self.per_minute else 0)


@dataclass(frozen=True)
class World:
    """A world. Subclasses fill the resolvers; the data fields below are its declaration."""

    name: str
    resources: Mapping[str, JobResources]  # job kind ("erase", "edit", "attack", "generate", "score") -> its default request
    metrics: tuple[str, ...] = ()  # metrics only this world offers
    scorers: Mapping[str, str] = field(default_factory=dict)  # metric -> "module:function" implementing it
    detectors: Mapping[str, str] = field(default_factory=dict)  # metric -> "module:function" (an image test)
    reference_sets: Mapping[str, str] = field(default_factory=dict)  # metric -> folder under results/{world}/
    built_stages: Mapping[str, str] = field(default_factory=dict)  # rule -> what it builds under results/{world}/
    scorers_read_base: bool = False  # its scorers' backbones are parts of the base (the base is their input)
    scores_apart: bool = False  # its numbers are not a real scorer's: labels say so (e.g. toy-clip)
    preflight_gate: bool = True  # it reads weights from outside the repository, checked before GPU jobs
    # One score job per image set (all its metrics, in `score_env`) instead of one per metric: for a world whose
    # metrics take a fraction of a second beside the ~3 s a job spends starting Python and importing torch (the
    # toy's). Off for SD, where a metric is minutes to hours of GPU and dropping one must never rerun another.
    score_sets_together: bool = False
    score_env: str | None = None  # the conda env of those set jobs (envs/<env>.yaml); None: each metric's own

    # -- base model -------------------------------------------------------------------------------------
    def claims(self, base_model: str) -> bool:
        """Whether `base_model` names a base of this world."""
        raise NotImplementedError

    def pipeline_source(self, base_model: str, results_root: str | Path = "results") -> str:
        """A local diffusers pipeline directory, or a hub id, for `from_pretrained`. Raises ErasureError
        (one line naming the path) where the base is missing or damaged."""
        raise NotImplementedError

    def base_files(self, base_model: str, results_root: str | Path = "results", built: Sequence[Path] = ()) -> list[Path]:
        """The files that pin the base (DAG inputs, provenance nodes); none for a base not on this machine."""
        raise NotImplementedError

    def built_base_dir(self, base_model: str, results_root: str | Path = "results") -> Path | None:
        """The folder a rule of the DAG trains the base into, or None where the base comes from outside."""
        return None

    def hub_id(self, base_model: str) -> str | None:
        """The Hugging Face hub id `base_model` names (provenance records its cached revision), or None."""
        return None

    def hub_revision(self, base_model: str) -> str | None:
        """The commit the hub id `base_model` names is pinned to (its family's `hub_ids`, erasure.worlds.hub_ids):
        the loader passes it to `from_pretrained(revision=...)`, the DAG lists that snapshot's files, preflight
        asks for it. None: no hub id, or one not pinned (its cache's refs/main)."""
        return None

    def base_rule(self, base_model: str) -> str | None:
        """The rule that builds `base_model` (provenance names its job), or None."""
        return None

    def base_note(self, base_model: str) -> str | None:
        """One line for preflight where the DAG builds the base itself (nothing to check beforehand)."""
        return None

    def family(self, base_model: str, results_root: str | Path = "results"):
        """The model family (erasure.worlds.families.ModelFamily) of the network `base_model` names, read from
        its model_index.json / scheduler config where the files are here, else from the hub ids each family
        knows (SD 1.x otherwise). Imports torch."""
        from erasure.worlds.families import family_of_source

        return family_of_source(self.pipeline_source(base_model, results_root))

    def base_fix(self) -> str:
        """What to do when `pipeline_source` fails."""
        return "provide the base model's weights"

    def backbone_dir(self, base_model: str, key: str, results_root: str | Path = "results") -> str:
        """The directory of scorer backbone `key` (e.g. "oracle", "clip") inside the base: only the path
        (the DAG is planned before anything is built); checksums are verified when a scorer loads it."""
        raise ErasureError(f"base_model {base_model!r}: world {self.name!r} ships no scorer backbones ({key})")

    def verify_backbone(self, path: str | Path) -> None:
        """Check a backbone directory of this world's base before a scorer loads it (no-op by default)."""

    # -- vocabulary -------------------------------------------------------------------------------------
    def concept_sets(self) -> dict[str, tuple[str, ...]]:
        """Named concept sets (erasure.methods.concepts) this world adds."""
        return {}

    def parse_prompt(self, text: str) -> dict[str, str] | None:
        """{attribute: value} a prompt names in the world's closed vocabulary; None without one."""
        return None

    def vocabulary(self) -> tuple[str, ...]:
        """The words a closed-vocabulary world's text encoder was trained on, each one token; () where the
        vocabulary is open (any text has a meaning, as for SD's CLIP)."""
        return ()

    def unknown_words(self, text: str) -> list[str]:
        """The words of `text` outside `vocabulary()`, in order, once each ([] for an open vocabulary).

        Words as CLIP's tokenizer pre-splits them (lower-cased letter runs, single digits); punctuation is
        not a word here (a concept list is joined with ", " by design). Such a word is not an error to the
        tokenizer: it is split into character pieces that the base never saw in a caption, so the prompt
        quietly means something else."""
        known = set(self.vocabulary())
        if not known:
            return []
        return list(dict.fromkeys(w for w in re.findall(r"[^\W\d_]+|\d", str(text).lower()) if w not in known))

    def prompt_sources(self) -> tuple[str, ...]:
        """Prompt-set sources generated from the world's vocabulary (no file)."""
        return ()

    def prompt_builder(self, source: str) -> Callable:
        raise ErasureError(f"prompt source {source!r}: not generated by world {self.name!r}")

    # -- the world's own DAG rules -------------------------------------------------------------------------
    def build_base(self, out_dir: str | Path, **settings) -> None:
        raise ErasureError(f"world {self.name!r} does not build its base")

    def reference_images(self, n: int, seed: int) -> list:
        raise ErasureError(f"world {self.name!r} renders no reference images")

    def concept_masks(self, concept: str, n: int, seed: int):
        """`n` images showing `concept` with the region it occupies, from the world's own renderer:
        (uint8 [n, H, W, 3], bool [n, H, W]), or None where the world has no renderer (a segmentation
        model then finds the region in the base model's own images: MACE's Grounded-SAM stage)."""
        return None


def _load(target: str) -> Callable:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


# Claim order: the first world whose `claims` accepts a base_model resolves it; the last is the default
# (a hub id or a local diffusers directory).
WORLDS = ("erasure.worlds.toy.world:WORLD", "erasure.worlds.diffusers:WORLD")


def worlds() -> tuple[World, ...]:
    return tuple(_load(target) for target in WORLDS)


def world_for(base_model: str) -> World:
    """The world that resolves `base_model` (`toy:shipped`, `toy:trained`, a hub id, a local directory)."""
    for world in worlds():
        if world.claims(str(base_model)):
            return world
    return worlds()[-1]


def get_world(name: str | None) -> World:
    """The world of a config's `world` (results/{world}/): the world of that name, else the default world
    (a world name of the user's, e.g. a second SD results folder, runs as the diffusers world)."""
    for world in worlds():
        if world.name == name:
            return world
    return worlds()[-1]


# -- the union over worlds (for code that has no config: concept sets, prompt parsing, prompt sources) ------

def concept_sets() -> dict[str, tuple[str, ...]]:
    sets: dict[str, tuple[str, ...]] = {}
    for world in worlds():
        sets.update(world.concept_sets())
    return sets


def parse_prompt(text: str) -> dict[str, str]:
    """The attributes `text` names in any world's closed vocabulary (the first world that has one)."""
    for world in worlds():
        found = world.parse_prompt(text)
        if found is not None:
            return found
    return {}


def prompt_sources() -> dict[str, World]:
    """Generated prompt-set source name -> the world that generates it."""
    return {source: world for world in worlds() for source in world.prompt_sources()}


def prompt_builder(source: str) -> Callable:
    world = prompt_sources().get(source)
    if world is None:
        raise ErasureError(f"prompt source {source!r}: no world generates it")
    return world.prompt_builder(source)


def _offering(metric: str, table: str) -> Callable:
    for world in worlds():
        target = getattr(world, table).get(metric)
        if target:
            return _load(target)
    raise ErasureError(f"metric {metric!r}: no world implements it")


def scorer(metric: str) -> Callable:
    """The function scoring a world-specific metric (e.g. "target": the toy oracle's %TARGET)."""
    return _offering(metric, "scorers")


def detector(metric: str) -> Callable:
    """A factory `(backbone, concepts, *, threshold) -> detects(image uint8 [H, W, 3]) -> bool` applying the
    rule of `metric` to one image (the attacks' early stop)."""
    return _offering(metric, "detectors")


def verify_backbone(path: str | Path) -> None:
    """Every world's check of a backbone directory shipped inside a base (a no-op for other paths)."""
    for world in worlds():
        world.verify_backbone(path)


def built_stages() -> dict[str, str]:
    """Rule name -> the folder under results/{world}/ it builds, over every world (provenance stages)."""
    return {rule: rel for world in worlds() for rule, rel in world.built_stages.items()}
