"""Issue 33's sampler study: does a candidate sampler reproduce Table 1 and the frontier of today's setting?

    python experiments/scripts/sampler_study.py OUT_DIR [--baseline RUN_DIR]   # after experiments/scripts/sampler_study.sh

OUT_DIR holds one finished run folder per candidate (`dpm10`, `unipc15`, ...) and per seed of today's setting
(`ddim25-seed1`, ...); the baseline is today's setting at its config seeds (default OUT_DIR/baseline, or
--baseline). Writes OUT_DIR/comparison.md and prints it.

The criterion (issue 33, "Decided"): a candidate is kept only if
- every Table 1 cell with an interval lies inside the baseline cell's 95 % bootstrap interval (the table's own
  `ci_low`, `ci_high`: erasure/metrics/summary.py);
- every set-level cell (FID-toy: no interval) lies inside the spread of today's setting over seeds: the
  [min, max] of the baseline and the `ddim25-seed*` runs (each a different draw of the same prompt sources,
  so the spread is that of the set-level statistic at this n), within 1e-4 relative at its ends (float noise);
- every frontier point (target %, retention % per prompted shape) lies inside the baseline point's 95 %
  percentile-bootstrap interval, Table 1's own method, rebuilt from the point's rate and n.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

TABLE = "results/toy/tables/table1.csv"
FRONTIER = "results/toy/tables/frontier.csv"


def proportion_ci(percent: float, n: int) -> tuple[float, float]:
    """The 95 % percentile-bootstrap interval (percent) of a proportion seen as `percent` of `n` binary values: the
    interval Table 1 gives the same cell (erasure.metrics.summary.bootstrap_ci, same seed and resamples),
    rebuilt from (k, n) because the frontier's csv keeps the rate and n, not the per-image values."""
    from erasure.metrics.summary import bootstrap_ci

    k = round(percent * n / 100.0)
    low, high = bootstrap_ci(np.array([100.0] * k + [0.0] * (n - k)))
    return float(low), float(high)


def table_cells(run: Path) -> pd.DataFrame:
    frame = pd.read_csv(run / TABLE)
    frame["cell"] = frame["method"] + " " + frame["promptset"] + ":" + frame["metric"]
    return frame.set_index("cell")[["mean", "ci_low", "ci_high", "n"]]


def frontier_points(run: Path) -> pd.DataFrame:
    frame = pd.read_csv(run / FRONTIER)
    frame = frame[frame["row"] == 0]
    target = frame.drop_duplicates("method").assign(
        point=lambda f: f["method"] + " target", value=lambda f: f["target"], n=lambda f: f["n_target"])
    retention = frame.assign(point=lambda f: f["method"] + " retention " + f["group"].astype(str),
                             value=lambda f: f["retention"], n=lambda f: f["n_retention"])
    both = pd.concat([target, retention])[["point", "value", "n"]]
    return both.set_index("point")


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--baseline", type=Path)
    args = parser.parse_args(argv)
    baseline = args.baseline or args.out / "baseline"
    runs = sorted(p for p in args.out.iterdir()  # study.done: a copy's table1.csv is the baseline's until it reruns
                  if (p / "study.done").exists() and p.resolve() != baseline.resolve())
    seeds = [p for p in runs if p.name.startswith("ddim25-seed")]
    quick = [p for p in runs if p.name.endswith("-quick")]
    candidates = [p for p in runs if p not in seeds and p not in quick]
    base_t, base_f = table_cells(baseline), frontier_points(baseline)
    base_t = base_t[base_t["mean"].notna()]  # the paired metric's reference method, compared with itself
    set_level = base_t["ci_low"].isna() | (base_t["n"] <= 1) & (base_t["ci_low"] == base_t["ci_high"])
    spread = pd.concat([base_t["mean"]] + [table_cells(s)["mean"] for s in seeds], axis=1)
    lo, hi = spread.min(axis=1), spread.max(axis=1)

    lines = ["# Sampler study: Table 1 and the frontier under each candidate, against DDIM 25 (batch 8)", "",
             f"baseline: `{baseline}`; seed runs: {', '.join(s.name for s in seeds) or 'none'}", "",
             "| candidate | Table 1 cells inside | frontier points inside | cells outside |", "|---|---:|---:|---|"]
    detail = ["", "## Table 1 cells", "",
              "| cell | DDIM 25 [95 % interval or seed spread] | " + " | ".join(c.name for c in candidates) + " |",
              "|---|---:|" + "---:|" * len(candidates)]
    cand_t = {c.name: table_cells(c) for c in candidates}
    cand_f = {c.name: frontier_points(c) for c in candidates}
    for cand in candidates:
        t, f = cand_t[cand.name], cand_f[cand.name]
        outside, inside_t = [], 0
        for cell, row in base_t.iterrows():
            low, high = (lo[cell], hi[cell]) if set_level[cell] else (row["ci_low"], row["ci_high"])
            value = t["mean"].get(cell, math.nan)
            # a set-level range's ends are runs' values themselves: the same images drawn at another batch size
            # differ from them by float noise (FID-toy: ~1e-5 relative), which must not read as outside
            slack = 1e-4 * abs(value) if set_level[cell] else 1e-9
            if low - slack <= value <= high + slack:
                inside_t += 1
            else:
                outside.append(f"{cell} {value:.4g} ∉ [{low:.4g}, {high:.4g}]")
        inside_f = 0
        for point, row in base_f.iterrows():
            low, high = proportion_ci(row["value"], int(row["n"]))
            value = f["value"].get(point, math.nan)
            if low - 1e-9 <= value <= high + 1e-9:
                inside_f += 1
            else:
                outside.append(f"frontier {point} {value:.4g} ∉ [{low:.4g}, {high:.4g}]")
        lines.append(f"| {cand.name} | {inside_t}/{len(base_t)} | {inside_f}/{len(base_f)} | "
                     f"{'; '.join(outside) or '—'} |")
    for run in quick:  # only the body %TARGET cells of the warm-up methods were drawn (sampler_study.sh)
        outside, cells = [], 0
        for summary in sorted((run / "results/toy/scores/target").glob("*/body.summary.csv")):
            if summary.stat().st_mtime <= (run / "study.yaml").stat().st_mtime:
                continue  # the baseline's copy, not redrawn
            row = pd.read_csv(summary).iloc[0]
            cell = f"{row['method']} body:target"
            base = base_t.loc[cell]
            cells += 1
            if not base["ci_low"] - 1e-9 <= row["mean"] <= base["ci_high"] + 1e-9:
                outside.append(f"{cell} {row['mean']:.4g} ∉ [{base['ci_low']:.4g}, {base['ci_high']:.4g}]")
        lines.append(f"| {run.name} (body %TARGET of the warm-up methods only) | {cells - len(outside)}/{cells} | "
                     f"— | {'; '.join(outside) or '—'} |")
    for cell, row in base_t.iterrows():
        if set_level[cell]:
            interval = f"{row['mean']:.4g} [seeds {lo[cell]:.4g}, {hi[cell]:.4g}]"
        else:
            interval = f"{row['mean']:.4g} [{row['ci_low']:.4g}, {row['ci_high']:.4g}]"
        values = " | ".join(f"{cand_t[c.name]['mean'].get(cell, math.nan):.4g}" for c in candidates)
        detail.append(f"| {cell} | {interval} | {values} |")
    detail += ["", "## Frontier points (95 % bootstrap interval from the baseline's rate and n)", "",
               "| point | DDIM 25 [interval] (n) | " + " | ".join(c.name for c in candidates) + " |",
               "|---|---:|" + "---:|" * len(candidates)]
    for point, row in base_f.iterrows():
        low, high = proportion_ci(row["value"], int(row["n"]))
        values = " | ".join(f"{cand_f[c.name]['value'].get(point, math.nan):.4g}" for c in candidates)
        detail.append(f"| {point} | {row['value']:.4g} [{low:.4g}, {high:.4g}] ({int(row['n'])}) | {values} |")
    text = "\n".join(lines + detail) + "\n"
    (args.out / "comparison.md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
