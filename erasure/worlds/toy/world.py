"""The toy world's declaration for `erasure.worlds`: its base models (`toy:shipped`, `toy:trained`), its
scorers (the oracle's), its vocabulary and prompt sets, and what its jobs cost. Torch-free."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from erasure import paths
from erasure.errors import ErasureError
from erasure.worlds import JobResources, World

SHIPPED, TRAINED = "toy:shipped", "toy:trained"
_SCORERS = "erasure.worlds.toy.scorers"
_PROMPTS = "erasure.worlds.toy.prompts"
PROMPT_SOURCES = {"toy-body": "toy_body", "toy-coco": "toy_coco", "toy-i2p": "toy_i2p", "toy-artists": "toy_artists", "toy-attack": "toy_attack",
                  "toy-heldout-body": "toy_heldout_body", "toy-heldout-coco": "toy_heldout_coco"}


def _shipped():
    from erasure.worlds.toy.assets import SHIPPED_BASE

    return SHIPPED_BASE


class ToyWorld(World):
    def claims(self, base_model: str) -> bool:
        return str(base_model).startswith("toy:")

    def _known(self, base_model: str) -> None:
        if base_model not in (SHIPPED, TRAINED):
            raise ErasureError(f"base_model {base_model!r}: the toy world's bases are {SHIPPED} and {TRAINED}")

    def built_base_dir(self, base_model: str = TRAINED, results_root: str | Path = "results") -> Path | None:
        # toy:trained lives in results/toy/base whatever the config's world is called
        return paths.base_dir(results_root, self.name) if base_model == TRAINED else None

    def pipeline_source(self, base_model: str, results_root: str | Path = "results") -> str:
        self._known(base_model)
        if base_model == SHIPPED:
            from erasure.worlds.toy.assets import shipped_base_dir

            return str(shipped_base_dir() / "pipeline")
        pipeline_dir = self.built_base_dir(base_model, results_root) / "pipeline"
        if not (pipeline_dir / "model_index.json").is_file():
            raise ErasureError(
                f"{pipeline_dir}: no trained toy base here; build it with `snakemake --cores all toy_base` "
                "or use base_model: toy:shipped"
            )
        return str(pipeline_dir)

    def base_files(self, base_model: str, results_root: str | Path = "results", built: Sequence[Path] = ()) -> list[Path]:
        # the shipped base's SHA256SUMS (checked at load); the trained base's folder (the toy_base rule's output)
        self._known(base_model)
        return [_shipped() / "SHA256SUMS"] if base_model == SHIPPED else [self.built_base_dir(base_model, results_root)]

    def base_rule(self, base_model: str) -> str | None:
        return "toy_base" if base_model == TRAINED else None

    def base_note(self, base_model: str) -> str | None:
        return "toy:trained, built by the toy_base rule" if base_model == TRAINED else None

    def base_fix(self) -> str:
        return "python -m erasure.worlds.toy.build or base_model: toy:trained"

    def backbone_dir(self, base_model: str, key: str, results_root: str | Path = "results") -> str:
        if base_model == SHIPPED:
            return str(_shipped() / key)
        if base_model == TRAINED:
            return str(self.built_base_dir(base_model, results_root) / key)
        raise ErasureError(f"base_model {base_model!r}: toy backbones ({key}) exist only for toy:shipped or toy:trained")

    def verify_backbone(self, path: str | Path) -> None:
        # a toy base component (base/clip/, base/oracle/) is checked against the base's SHA256SUMS, so a
        # half-copied or edited backbone fails loudly instead of scoring quietly
        if isinstance(path, (str, Path)) and (Path(path).parent / "SHA256SUMS").is_file():
            from erasure.worlds.toy.assets import verify_base_dir

            verify_base_dir(Path(path).parent)

    def concept_sets(self) -> dict[str, tuple[str, ...]]:
        # one per attribute value, worded as the toy captions and zero-shot prompts are
        from erasure.worlds.toy.vocab import BACKGROUNDS, COLOURS, FILLS, SHAPES

        sets = {s: (f"a {s}",) for s in SHAPES}
        sets.update({c: (f"a {c} shape",) for c in COLOURS})
        sets.update({f: (f"a {f} shape",) for f in FILLS})
        sets.update({b: (f"a shape on the {b}",) for b in BACKGROUNDS})
        return sets

    def parse_prompt(self, text: str) -> dict[str, str] | None:
        from erasure.worlds.toy.vocab import parse_prompt

        return parse_prompt(text)

    def vocabulary(self) -> tuple[str, ...]:
        # the words the toy tokenizer's merges build into one token each (erasure.worlds.toy.tokenizer)
        from erasure.worlds.toy.vocab import all_words

        return all_words()

    def prompt_sources(self) -> tuple[str, ...]:
        return tuple(PROMPT_SOURCES)

    def prompt_builder(self, source: str) -> Callable:
        import importlib

        return getattr(importlib.import_module(_PROMPTS), PROMPT_SOURCES[source])

    def build_base(self, out_dir: str | Path, **settings) -> None:
        from erasure.worlds.toy.build import build_base

        build_base(out_dir, **settings)

    def reference_images(self, n: int, seed: int) -> list:
        """`n` held-out real renders (uint8 [32, 32, 3]) from seed `seed` (never a training seed)."""
        import numpy as np

        from erasure.worlds.toy.render import render, sample_labels

        rng = np.random.default_rng(seed)
        return render(sample_labels(n, rng), rng)

    def concept_masks(self, concept: str, n: int, seed: int):
        """`n` renders naming `concept`'s attributes (the rest drawn as in training) and the pixels the
        concept occupies (the shape's, for a shape, colour or fill; the rest, for a background): the toy's
        exact stand-in for MACE's Grounded-SAM masks. Raises ErasureError when `concept` names no attribute."""
        import numpy as np

        from erasure.worlds.toy.render import render, sample_labels
        from erasure.worlds.toy.vocab import ATTRIBUTES, parse_prompt

        named = parse_prompt(concept)
        if not named:
            raise ErasureError(f"concept {concept!r}: names no toy attribute, so the renderer has no region for it")
        rng = np.random.default_rng(seed)
        labels = sample_labels(n, rng)
        for attr, value in named.items():
            labels[attr] = np.full(n, ATTRIBUTES[attr].index(value))
        images, masks = render(labels, rng, return_masks=True)
        return images, (~masks if set(named) == {"background"} else masks)


_SMALL = JobResources(threads=1, mem_mb=4000, runtime=30)  # toy jobs take seconds to minutes on one core

WORLD = ToyWorld(
    name="toy",
    # toy: ~1-2 min a run on one core; shards take seconds; a set scores in seconds (one thread each, so jobs
    # run side by side); the oracle runs on CPU
    resources={"erase": _SMALL, "generate": _SMALL, "edit": JobResources(threads=1, mem_mb=4000, runtime=15),
               "attack": _SMALL,
               "score": JobResources(threads=1, mem_mb=4000, runtime=60, gpu=False)},
    metrics=("target", "alignment", "fid-toy", "paired-distance"),
    scorers={"target": f"{_SCORERS}:score_target", "alignment": f"{_SCORERS}:score_alignment",
             "fid-toy": f"{_SCORERS}:score_fid_toy", "paired-distance": f"{_SCORERS}:score_paired_distance"},
    detectors={"target": f"{_SCORERS}:target_detector"},
    reference_sets={"fid-toy": "reference"},  # held-out real renders, the toy_reference rule's output
    built_stages={"toy_base": "base", "toy_reference": "reference"},
    scorers_read_base=True,  # the oracle and the toy CLIP are parts of the base
    scores_apart=True,
    preflight_gate=False,  # reads nothing from outside the repository
    # a set's metrics take ~0.1-1 s on the oracle / toy CLIP, a job's start ~3 s (bench/frontdoor.py): one job
    # per set; the toy env has everything they import (the toy CLIP is a transformers model, like the base's)
    score_sets_together=True,
    score_env="toy",
)
