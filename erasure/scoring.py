"""Metric name -> scorer, all with one signature, so that one Snakemake rule can run any metric:

    score(images: ImageSet, *, reference: ImageSet | Path | None, settings: dict, threads: int, device: str) -> DataFrame

Per-image metrics return one row per image with a `value` column; set-level ones (fid, fid-toy) one row.
Every frame has `backbone` and `label` columns. What is known of each metric without running it (worlds,
reference kind, settings keys, ...) is its entry in erasure.metrics.catalog, which names the scorer below
(or in the metric's own module) that `score` imports.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import import_module
from pathlib import Path

import pandas as pd

from erasure.errors import ErasureError
from erasure.metrics import catalog
from erasure.metrics.images import ImageSet
from erasure.metrics.summary import declare, refuse_non_finite
from erasure.weights import ALEXNET, CLIP_VIT_L14, INCEPTION, NUDENET, locate
from erasure.worlds import get_world
from erasure.worlds import scorer as world_scorer


def backbone(settings: dict, key: str, default=None):
    """`settings[key]`, else the generic `settings["backbone"]` the score rule fills in for a world whose
    scorers' backbones are parts of its base (erasure.worlds: backbone_dir).

    A backbone inside a world's base is checked by that world first (erasure.worlds.verify_backbone: a shipped
    base's SHA256SUMS), so a half-copied or edited backbone fails loudly instead of scoring quietly."""
    value = settings.get(key) or settings.get("backbone") or default
    if isinstance(value, (str, os.PathLike)):
        from erasure.worlds import verify_backbone

        verify_backbone(value)
    return value


def _nude(images, settings, threads, protocol: str):
    from erasure.metrics.nudenet import score_nudity

    return score_nudity(images, protocol=settings.get("protocol", protocol), classes=settings.get("classes"),
                        threshold=settings.get("threshold"), threads=threads,
                        batch_size=int(settings.get("batch_size", 8)), model=locate(NUDENET, settings))


def run_nude(images, *, reference, settings, threads, device):
    return _nude(images, settings, threads, "paper")


def run_nude_mace(images, *, reference, settings, threads, device):
    return _nude(images, settings, threads, "mace")


def run_harm(images, *, reference, settings, threads, device):
    from erasure.metrics.q16 import score_harm

    if not settings.get("q16_prompts"):
        raise ErasureError("settings.q16_prompts: path to the converted Q16 prompts (.safetensors) is required; "
                           "make it with `python -m erasure.metrics.q16 fetch OUT.safetensors`")
    return score_harm(images, prompts_path=settings["q16_prompts"],
                      clip_source=backbone(settings, "clip", os.environ.get(CLIP_VIT_L14.env)),
                      formula=settings.get("formula", "softmax"), threshold=float(settings.get("threshold", 0.7)),
                      batch_size=int(settings.get("batch_size", 8)), device=device)


def run_fid(images, *, reference, settings, threads, device):
    from erasure.metrics.fid import score_fid

    return score_fid(images, reference=reference, inception=locate(INCEPTION, settings),
                     inception_sha256=settings.get("inception_sha256"), batch_size=int(settings.get("batch_size", 32)),
                     device=device)


def run_lpips(images, *, reference, settings, threads, device):
    from erasure.metrics.lpips_metric import score_lpips

    return score_lpips(images, reference=reference, batch_size=int(settings.get("batch_size", 8)), device=device,
                       weights=locate(ALEXNET, settings))


def run_clip(images, *, reference, settings, threads, device):
    from erasure.metrics.clipscore import CLIP_HUB_ID, score_clip

    return score_clip(images, source=backbone(settings, "clip", os.environ.get(CLIP_VIT_L14.env) or CLIP_HUB_ID), convention=settings.get("convention", "cosine"),
                      batch_size=int(settings.get("batch_size", 16)), device=device,
                      scores_apart=bool(settings.get("world")) and get_world(settings["world"]).scores_apart)


def run_target(images, *, reference, settings, threads, device):
    score_target = world_scorer("target")  # the world that offers it (erasure.worlds)

    return score_target(images, oracle=backbone(settings, "oracle"), concepts=settings.get("concepts"),
                        threshold=float(settings.get("threshold", 0.7)), batch_size=int(settings.get("batch_size", 64)))


def run_alignment(images, *, reference, settings, threads, device):
    score_alignment = world_scorer("alignment")  # the world that offers it (erasure.worlds)

    # ok_{attr} per attribute, NaN where the prompt does not name it: the catalog entry declares both
    # (erasure.metrics.summary.declare, applied to every scorer's frame in `_score`)
    return score_alignment(images, oracle=backbone(settings, "oracle"), batch_size=int(settings.get("batch_size", 64)))


def run_fid_toy(images, *, reference, settings, threads, device):
    score_fid_toy = world_scorer("fid-toy")  # the world that offers it (erasure.worlds)

    return score_fid_toy(images, reference=reference, oracle=backbone(settings, "oracle"),
                         batch_size=int(settings.get("batch_size", 64)))


def run_paired_distance(images, *, reference, settings, threads, device):
    score_paired_distance = world_scorer("paired-distance")  # the world that offers it (erasure.worlds)

    return score_paired_distance(images, reference=reference, oracle=backbone(settings, "oracle"),
                                 batch_size=int(settings.get("batch_size", 64)))


def scorer(name: str) -> Callable[..., pd.DataFrame]:
    """The scorer function the catalog names for `name` ("module:function"), imported now (torch and the
    scorer's backbone libraries load here, not when the catalog is read). Raises ErasureError for an unknown
    metric."""
    module, function = catalog.get(name).scorer.split(":")
    return getattr(import_module(module), function)


def score(name: str, images: ImageSet, *, reference: ImageSet | Path | None = None, settings: dict | None = None,
          threads: int = 1, device: str = "cpu", base_model: str | None = None) -> pd.DataFrame:
    """`device` runs the torch backbones (CLIP, Q16, LPIPS, Inception); NudeNet and a world's oracle stay on CPU.

    Every error names the metric (`metric lpips: ...`). When the images' `base_model`, a backbone in
    `settings` or the reference is a stand-in (erasure.standins), or the images' (or a paired reference set's)
    manifest records one in their lineage (column `standin`: a run trained or edited with a stand-in backbone,
    erasure.standins.image_notes), every row's `label` starts with "stand-in:" and its `standin` column says
    why: such numbers must never pass for results."""
    try:
        scores = _score(name, images, reference=reference, settings=settings, threads=threads, device=device)
    except ErasureError as error:
        raise ErasureError(f"metric {name}: {error}") from None
    from erasure import standins

    notes = standins.any_standin([base_model, settings, str(reference.source) if isinstance(reference, ImageSet)
                                  else reference])
    for image_set in (images, reference):
        if isinstance(image_set, ImageSet):
            notes += [n for n in standins.manifest_notes(image_set.table) if n not in notes]
    if notes or scores["label"].astype(str).str.startswith(f"{standins.LABEL}:").any():
        scores["label"] = [label if str(label).startswith(f"{standins.LABEL}:") else f"{standins.LABEL}:{label}"
                           for label in scores["label"]]
        scores["standin"] = "; ".join(notes) or standins.LABEL
    return scores


_REFERENCE_WORDS = {catalog.PAIRED: "manifest", catalog.SET: "folder"}  # as these messages have always said


def _score(name: str, images: ImageSet, *, reference, settings, threads, device) -> pd.DataFrame:
    metric = catalog.get(name)
    settings = dict(settings or {})
    world = settings.get("world")
    if world is not None and not metric.applies_to(world):
        raise ErasureError(f"metric: '{name}' is a {'/'.join(metric.worlds)}-world metric; world is '{world}'")
    if metric.reference != catalog.NONE and reference is None:
        raise ErasureError(f"reference: metric '{name}' needs a reference ({_REFERENCE_WORDS[metric.reference]}); "
                           "set input.reference")
    if metric.reference == catalog.PAIRED and not isinstance(reference, ImageSet):
        raise ErasureError(f"reference: metric '{name}' needs the sd method's manifest.csv, got {reference}")
    scores = declare(scorer(name)(images, reference=reference, settings=settings, threads=int(threads),
                                  device=str(device)), name)
    refuse_non_finite(scores, ["value", *scores.attrs.get("submetrics", {}).values()],
                      where=f"metric {name} on {images.source or images.method}")
    scores.insert(0, "metric", name)
    return _relative_paths(scores)


PATH_COLUMNS = ("path", "reference_path", "backbone")  # columns that name files (backbone: in its description)


def _relative_paths(scores: pd.DataFrame) -> pd.DataFrame:
    """Per-image rows name files relative to the working directory (or the repository), never by a machine
    path (erasure.portable.relative): score files are inputs of later jobs, and results that move to
    another folder must keep their bytes."""
    from erasure.portable import relative, text_columns

    for column in text_columns(scores):
        if column in PATH_COLUMNS:
            scores[column] = scores[column].map(relative)
    return scores


def score_set(
    manifest: Path,
    prompts: Path,
    metrics: dict,
    *,
    threads: int,
    method: str | None = None,
    promptset: str | None = None,
    device: str = "cpu",
    base_model: str | None = None,
) -> None:
    """Score image set `manifest` with every metric of `metrics` ({metric: (settings, reference, csv path)}),
    reading (and verifying against the manifest's sha256) the images once; each metric's per-image file is
    written as soon as it is scored (the score rules' work: workflow_scripts/score.py).

    Raises:
        ErasureError: an image that is not the bytes its manifest records, a metric or setting the catalog
            does not know, a scorer's one-line error (erasure.scoring.score)."""
    from erasure.io import atomic_path
    from erasure.runtime import pick_device, ready, set_threads

    set_threads(threads)
    images = ImageSet.from_manifest(manifest, prompts)
    ready()  # the scorers' own imports and backbone loads count as work here (they are per metric)
    method = method or Path(manifest).parent.parent.name
    promptset = promptset or Path(manifest).parent.name
    for metric, (settings, reference, out_csv) in metrics.items():
        ref = None
        if reference:
            # A paired metric's reference is another method's image set; a set's is a folder or stats file.
            paired = catalog.get(metric).reference == catalog.PAIRED
            ref = ImageSet.from_manifest(reference, prompts) if paired else Path(reference)
        scores = score(metric, images, reference=ref, settings=dict(settings or {}), threads=threads,
                        device=str(pick_device(device)), base_model=base_model)
        with atomic_path(out_csv) as tmp:
            scores.to_csv(tmp, index=False)
