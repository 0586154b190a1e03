"""Issue 37's must-show: the toy Table 1 over N training seeds against today's single-run table.

    snakemake --cores all --configfile config/config.yaml config/toy-replicates.yaml
    python experiments/scripts/replicates_table1.py --results results/toy --out experiments/results/replicates

Reads the finished run's `tables/table1.csv` (each fine-tuned row: mean over the replicates' seeds with the
two-level bootstrap interval, erasure/report/tables.py add_replicates) and, for the same cells, replicate 0's
own summary files (`scores/{metric}/{method}/{promptset}.summary.csv`: replicate 0 is the default run itself,
same config and seed, so these are today's single-run cells with their image-only intervals). Writes
`table1-n5.md` (per method and column: single-run mean [interval], N-seed mean, seed-level sd, combined
interval) and `orderings.md` (every pair of rows of a column with a better direction: the single run's order,
whether the single run separates the two (intervals disjoint), and whether the N-seed table keeps the order
and still separates them), plus both as CSV.

An ordering "survives" when the N-seed means are in the single run's order; "survives separated" when the
N-seed intervals are disjoint as well. Set-level cells (FID-toy) have an interval only over seeds, so a
single run cannot separate them: their pairs are reported as ordered by the point values only.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import pandas as pd

from erasure.report import labels


def single_run_cell(results: Path, row: pd.Series) -> dict:
    path = results / "scores" / row["metric"] / row["method"] / f"{row['promptset']}.summary.csv"
    if not path.exists():
        return {"single_mean": float("nan"), "single_low": float("nan"), "single_high": float("nan")}
    summary = pd.read_csv(path).iloc[0]
    return {"single_mean": summary["mean"], "single_low": summary.get("ci_low"), "single_high": summary.get("ci_high")}


def disjoint(a_low, a_high, b_low, b_high) -> bool:
    if any(pd.isna(v) for v in (a_low, a_high, b_low, b_high)):
        return False
    return a_high < b_low or b_high < a_low


def orderings(cells: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (promptset, metric), column in cells.groupby(["promptset", "metric"], sort=False):
        direction = labels.direction(metric)
        if direction not in ("up", "down"):
            continue
        column = column.dropna(subset=["single_mean", "mean"])
        for (_, a), (_, b) in itertools.combinations(column.iterrows(), 2):
            if a["single_mean"] == b["single_mean"]:
                continue
            better, worse = (a, b) if (a["single_mean"] < b["single_mean"]) == (direction == "down") else (b, a)
            keeps = (better["mean"] < worse["mean"]) if direction == "down" else (better["mean"] > worse["mean"])
            rows.append({
                "promptset": promptset, "metric": metric, "better": better["method"], "worse": worse["method"],
                "replicated": int(max(better["replicates"], worse["replicates"])) > 1,
                "single_separated": disjoint(better["single_low"], better["single_high"],
                                             worse["single_low"], worse["single_high"]),
                "keeps_order": bool(keeps),
                "n_separated": bool(keeps) and disjoint(better["ci_low"], better["ci_high"],
                                                          worse["ci_low"], worse["ci_high"]),
            })
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path("results/toy"))
    parser.add_argument("--out", type=Path, default=Path("experiments/results/replicates"))
    args = parser.parse_args()

    table = pd.read_csv(args.results / "tables" / "table1.csv")
    if "replicates" not in table.columns:
        raise SystemExit(f"{args.results}/tables/table1.csv: no replicate columns; run config/toy-replicates.yaml")
    table = table[table["note"].isna() | (table["note"] == "")].copy()
    single = pd.DataFrame([single_run_cell(args.results, row) for _, row in table.iterrows()], index=table.index)
    cells = pd.concat([table, single], axis=1)
    cells["replicates"] = cells["replicates"].fillna(1).astype(int)

    args.out.mkdir(parents=True, exist_ok=True)
    keep = ["method", "promptset", "metric", "single_mean", "single_low", "single_high", "replicates", "mean",
            "seed_sd", "ci_low", "ci_high", "interval"]
    cells[keep].to_csv(args.out / "table1-n5.csv", index=False)
    pairs = orderings(cells)
    pairs.to_csv(args.out / "orderings.csv", index=False)

    def fmt(v, low=None, high=None):
        if pd.isna(v):
            return "—"
        text = f"{v:.4g}"
        return text + (f" [{low:.4g}, {high:.4g}]" if low is not None and not pd.isna(low) and not pd.isna(high) else "")

    lines = ["| method | cell | single run (replicate 0) | N | mean over seeds | seed sd | combined interval |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for _, c in cells.iterrows():
        lines.append(f"| {c['method']} | {c['promptset']}: {c['metric']} | {fmt(c['single_mean'], c['single_low'], c['single_high'])}"
                     f" | {c['replicates']} | {fmt(c['mean'])} | {fmt(c['seed_sd'])} | {fmt(c['ci_low'])}–{fmt(c['ci_high'])} |")
    (args.out / "table1-n5.md").write_text("\n".join(lines) + "\n")

    out = ["| column | pairs | single run separates | of those, N-seed keeps order | and separates | flips (any pair) |",
           "|---|---:|---:|---:|---:|---|"]
    for (promptset, metric), group in pairs.groupby(["promptset", "metric"], sort=False):
        sep = group[group["single_separated"]]
        flips = group[~group["keeps_order"]]
        out.append(f"| {promptset}: {metric} | {len(group)} | {len(sep)} | {int(sep['keeps_order'].sum())} | "
                   f"{int(sep['n_separated'].sum())} | "
                   + ", ".join(f"{r.better} > {r.worse}" for r in flips.itertuples()) + " |")
    total = pairs[pairs["single_separated"]]
    out.append(f"| **all** | {len(pairs)} | {len(total)} | {int(total['keeps_order'].sum())} | "
               f"{int(total['n_separated'].sum())} | {int((~pairs['keeps_order']).sum())} flips |")
    (args.out / "orderings.md").write_text("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
