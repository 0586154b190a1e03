"""Per (metric, method, prompt set): n, mean and a 95% percentile-bootstrap interval of the per-image values.

The bootstrap uses a fixed seed and 1000 resamples, so a summary is a pure function of its score file.
Set-level metrics (FID) have one value for the whole set: their interval is NaN (see erasure.metrics.fid).
Scorers may add sub-metrics (e.g. alignment per attribute) through `df.attrs["submetrics"]`, a mapping
`summary metric name -> per-image column`; each becomes one more summary row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

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


def _first(scores: pd.DataFrame, column: str) -> str:
    return str(scores[column].iloc[0]) if column in scores.columns and len(scores) else ""


def summarize(scores: pd.DataFrame, *, metric: str, method: str, promptset: str) -> pd.DataFrame:
    backbone, label = _first(scores, "backbone"), _first(scores, "label")
    set_level = "set_level" in scores.columns and bool(scores["set_level"].any())
    rows = []
    columns = {metric: "value", **scores.attrs.get("submetrics", {})}
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
