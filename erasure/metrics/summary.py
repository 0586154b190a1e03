"""Per (metric, method, prompt set): n, mean and a 95% percentile-bootstrap interval of the per-image values.

The bootstrap uses a fixed seed and 1000 resamples, so a summary is a pure function of its score file, and
it is made FROM that file by its own job (`summarize_file`, the `summarize_score` rule): a per-image file
edited by hand (a lab reviewing detector false positives) reruns its summary and every table over it.
Set-level metrics (FID) have one value for the whole set: their score file holds that one row (`set_level`,
`n`), their summary is derived from it the same way, and their interval is NaN (see erasure.metrics.fid).
A metric's catalog entry may declare sub-metrics (e.g. alignment per attribute, `declare`): a mapping
`summary metric name -> per-image column` in `df.attrs["submetrics"]`; each becomes one more summary row.

No NaN or inf is summarised silently: a non-finite per-image value is a scorer failure (a NaN CLIP
embedding, an overflowing backbone) and would otherwise drop out of the mean, or be the mean. The only NaN
accepted is one a scorer declares as "not applicable" through `df.attrs["not_applicable"]` (a list of
columns; e.g. alignment per attribute, NaN where the prompt does not name that attribute); such values
are left out of n, mean and interval. Anything else stops with one line naming the metric, the image set,
the column and an image.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from erasure.errors import ErasureError
from erasure.metrics import catalog

# total: the sum over images, the number MACE-style tables report for `nude-mace` (exposed parts counted
# over all of I2P); NaN for set-level metrics.
SUMMARY_COLUMNS = ("metric", "method", "promptset", "n", "mean", "ci_low", "ci_high", "backbone", "label", "total")
N_RESAMPLES = 1000
LEVEL = 0.95
SEED = 0


def bootstrap_ci(values, *, n_resamples: int = N_RESAMPLES, level: float = LEVEL, seed: int = SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean; NaN for fewer than two values."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(n_resamples, len(values)))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1.0 - alpha))


def refuse_non_finite(scores: pd.DataFrame, columns, *, where: str) -> None:
    """Raise ErasureError when a value column holds inf, or NaN not declared "not applicable"."""
    allowed = set(scores.attrs.get("not_applicable", ()))
    for column in columns:
        if column not in scores.columns:
            continue
        values = pd.to_numeric(scores[column], errors="coerce").to_numpy(dtype=float)
        bad = np.isinf(values) | (np.isnan(values) & (column not in allowed))
        if bad.any():
            row = scores.loc[bad].iloc[0]
            image = (f"prompt_id {row['prompt_id']}, seed {row['seed']}"
                     if "prompt_id" in scores.columns and str(row.get("prompt_id", "")) else "the set-level row")
            raise ErasureError(f"{where}: {int(bad.sum())} non-finite value(s) in column {column!r}, e.g. "
                               f"{values[bad][0]} for {image}; the scorer failed on these images (check them and "
                               "the metric's backbone), then rerun the score job")


def _first(scores: pd.DataFrame, column: str) -> str:
    return str(scores[column].iloc[0]) if column in scores.columns and len(scores) else ""


def summarize(scores: pd.DataFrame, *, metric: str, method: str, promptset: str) -> pd.DataFrame:
    backbone, label = _first(scores, "backbone"), _first(scores, "label")
    set_level = "set_level" in scores.columns and bool(scores["set_level"].any())
    rows = []
    columns = {metric: "value", **scores.attrs.get("submetrics", {})}
    refuse_non_finite(scores, columns.values(), where=f"{metric} on {method}/{promptset}")
    for name, column in columns.items():
        if set_level:
            n = int(scores["n"].iloc[0])
            mean, (low, high) = float(scores[column].iloc[0]), (float("nan"), float("nan"))
            total = float("nan")
        else:
            values = scores[column].to_numpy(dtype=float) if column in scores.columns else np.array([])
            values = values[~np.isnan(values)]
            n = len(values)
            mean = float(values.mean()) if n else float("nan")
            low, high = bootstrap_ci(values)
            total = float(values.sum())
        rows.append({"metric": name, "method": method, "promptset": promptset, "n": n, "mean": mean,
                     "ci_low": low, "ci_high": high, "backbone": backbone, "label": label, "total": total})
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def declare(scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Set `scores.attrs` ("submetrics", "not_applicable") from `metric`'s catalog entry (its `submetrics`
    column prefix, `nan_not_applicable`), in place; returns `scores`. Both the scorer's frame and the same
    frame read back from its CSV get them here, so the two summarise identically. Raises ErasureError for
    an unknown metric."""
    spec = catalog.get(metric)
    if spec.submetrics:
        prefix = spec.submetrics
        scores.attrs["submetrics"] = {f"{metric}:{c[len(prefix):]}": c for c in scores.columns if c.startswith(prefix)}
    if spec.nan_not_applicable:
        scores.attrs["not_applicable"] = ["value", *scores.attrs.get("submetrics", {}).values()]
    return scores


def summarize_file(scores_csv: str | os.PathLike, out: str | os.PathLike, *, metric: str, method: str,
                   promptset: str) -> pd.DataFrame:
    """Write (atomically) and return the summary of one score file, results/{world}/scores/{metric}/{method}/
    {promptset}.csv, to `out` (its `.summary.csv`): `summarize` of the file as it is on disk now.

    Imports pandas / numpy only (it runs inside the Snakemake process: rules/score.smk, `summarize_score`).
    Raises ErasureError (one line naming the file) for a file that does not parse, lacks `value`, or holds a
    non-finite value the metric does not declare as not applicable."""
    from erasure.io import atomic_path
    from erasure.loads import read_csv

    fix = "restore it, or delete it and rerun snakemake to score the set again"
    scores = read_csv(scores_csv, what="per-image score file", fix=fix, dtype={"prompt_id": str})
    if "value" not in scores.columns:
        raise ErasureError(f"{scores_csv}: per-image score file lacks the column 'value'; {fix}")
    declare(scores, metric)
    # a NaN typed into the file by hand is named by the file, not by the scorer that did not write it
    refuse_non_finite(scores, ["value", *scores.attrs.get("submetrics", {}).values()], where=str(scores_csv))
    summary = summarize(scores, metric=metric, method=method, promptset=promptset)
    with atomic_path(out) as tmp:
        summary.to_csv(tmp, index=False)
    return summary


# --- replicates: one (metric, method, prompt set) cell over N training seeds -------------------------------

PAIR_KEY = ("prompt_id", "seed")  # an image's identity within a prompt set: the same in every replicate


def paired_values(frames, *, column: str = "value", where: str = "replicates") -> np.ndarray:
    """The per-image `column` of each replicate's score frame as a [n_replicates, n_images] float64 array,
    columns aligned by (prompt_id, seed), so that column j is the same prompt and initial noise in every row
    (replicates are drawn with the same evaluation seeds: erasure.plan). A set-level metric's frames (one
    `set_level` row each) give [n_replicates, 1].

    Raises ErasureError (naming `where` and the first differing image) when the replicates' images differ."""
    frames = list(frames)
    if not frames:
        raise ErasureError(f"{where}: no replicate score files")
    if all("set_level" in f.columns and bool(f["set_level"].any()) for f in frames):
        return np.array([[float(f[column].iloc[0])] for f in frames])
    keyed = []
    for frame in frames:
        keys = list(zip(frame["prompt_id"].astype(str), frame["seed"].astype(int)))
        keyed.append(pd.Series(pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float),
                               index=pd.MultiIndex.from_tuples(keys, names=PAIR_KEY)))
    order = keyed[0].index.sort_values()
    for series in keyed[1:]:
        if not series.index.sort_values().equals(order):
            missing = order.symmetric_difference(series.index)
            raise ErasureError(f"{where}: replicates were scored on different images (e.g. prompt_id "
                               f"{missing[0][0]}, seed {missing[0][1]}); regenerate them from the same prompt table")
    return np.stack([series.reindex(order).to_numpy() for series in keyed])


def replicate_mean(values: np.ndarray) -> float:
    """Mean over replicates of each replicate's mean over its images (NaN "not applicable" values left out)."""
    return float(np.nanmean(np.nanmean(values, axis=1)))


def replicate_sd(values: np.ndarray) -> float:
    """Sample standard deviation (ddof 1) of the per-replicate means: the spread between training seeds."""
    means = np.nanmean(values, axis=1)
    return float(np.std(means, ddof=1)) if len(means) > 1 else float("nan")


def two_level_bootstrap_ci(values, *, n_resamples: int = N_RESAMPLES, level: float = LEVEL,
                           seed: int = SEED) -> tuple[float, float]:
    """Percentile interval of the mean over training seeds and images, by a two-level bootstrap: each resample
    draws n_replicates training seeds with replacement, then n_images images with replacement; the same image
    draw is applied in every drawn seed, because images pair across replicates (same prompt, same initial
    noise), so image difficulty is shared by all seeds rather than nested in one. Davison & Hinkley (1997),
    Bootstrap Methods, § 3.8 (hierarchical data: resample the upper level, then the lower); for a crossed
    design such as this one, both factors resampled independently, as McCullagh (2000), "Resampling and
    exchangeable arrays", Bernoulli 6(2), analyses (slightly conservative).

    `values`: [n_replicates, n_images] (paired_values); NaN values are left out of each mean. With identical
    replicates the seed draw changes nothing, and as the image draw comes first from the same generator as
    `bootstrap_ci`'s, the interval equals the image-only one; with one image per replicate (a set-level metric,
    FID) it is an interval over seeds. NaN for fewer than two replicates and two images (no spread to resample).
    """
    values = np.asarray(values, dtype=float)
    n_seeds, n_images = values.shape
    if n_seeds * n_images < 2 or np.isnan(values).all():
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    images = rng.integers(0, n_images, size=(n_resamples, n_images))
    seeds = rng.integers(0, n_seeds, size=(n_resamples, n_seeds))
    with np.errstate(invalid="ignore"):
        per_seed = np.stack([np.nanmean(row[images], axis=1) for row in values], axis=1)  # [n_resamples, n_seeds]
    means = np.nanmean(np.take_along_axis(per_seed, seeds, axis=1), axis=1)
    alpha = (1.0 - level) / 2.0
    return float(np.nanquantile(means, alpha)), float(np.nanquantile(means, 1.0 - alpha))
