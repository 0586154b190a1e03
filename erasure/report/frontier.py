"""The erasure–retention frontier: per fine-tuned or edited method a curve over its checkpoints (or RECE's
rounds) of the target rate (y, lower is better) against retention of everything else (x: prompt adherence on
prompts that do not name the target, overall and per prompted shape), the inference-time methods as points.

Config (`report.frontiers.<name>`):

    metric: target                 # y: a per-image 0/100 metric on each row's `target` prompt set
    retention_metric: alignment    # x: its per-image `retention_column` (0/1) on each row's `retention` set,
    retention_column: ok_shape     #    averaged per prompted `by` value (prompt-table column), then over them
    by: shape
    rows:                          # one row of panels per pair of prompt sets (config sets, held-out sets)
      - {label: config prompt sets, target: body, retention: coco}
    series:                        # a curve each, in the given order (checkpoints, or UCE then RECE rounds)
      - {label: SDD, methods: [sdd-triangle@100, sdd-triangle@200, sdd-triangle@300]}
    methods: [sd, sd-neg, sld-max]  # points

Every value comes from the per-image score CSVs of the same generate -> score rules as the tables (a curve's
checkpoints are the training curves' `{run}@{step}` sets), so the plot adds no generation of its own beyond
the (method, prompt set) pairs it names. Retention per shape weighs each prompted shape equally (a set's
captions are drawn at random, so shapes are not equally frequent).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from erasure.errors import ErasureError
from erasure.paths import MethodId

if TYPE_CHECKING:
    import pandas as pd

OVERALL = "all shapes"  # the column of the mean over prompted values (name follows `by` in the figure)


def frontier_data(spec: Mapping, score_files: Mapping[tuple[str, str, str], str | Path],
                  prompt_files: Mapping[str, str | Path],
                  replicate_files: Mapping[tuple[str, str, str], str | Path] | None = None) -> "pd.DataFrame":
    """One row per (panel row, method, retention group): row, row_label, series (index, −1 for a point),
    series_label, order (position in its series), method, target (mean per-image metric, %), n_target,
    group (a `by` value, or OVERALL = mean over the groups), retention (% of images with the column = 1),
    n_retention, label (scorer label).

    `score_files` maps each of `frontier_cells(spec)` to its per-image CSV; `prompt_files` each retention
    set to its prompt table. `replicate_files` (training seeds as replicates, issue 37) maps the same cells of
    replicates r >= 1 (`{run}.r{r}@{step}`) to theirs: a method with replicates is then the mean over its seeds
    of each seed's target and retention, with `replicates`, `target_sd` and `retention_sd` (sd over seeds)
    added as columns (absent when no method has replicates). Raises ErasureError for a missing file or column,
    or a retention set in which no prompt names a `by` value."""
    import pandas as pd

    from erasure.loads import read_csv
    from erasure.report.matrices import prompted_concepts
    from erasure.report.style import read_prompts

    metric, retention_metric = spec.get("metric", "target"), spec.get("retention_metric", "alignment")
    column, by = spec.get("retention_column", "ok_shape"), spec.get("by", "shape")

    replicate_files = dict(replicate_files or {})
    score_files = {**score_files, **replicate_files}
    replicates_of: dict[str, set[str]] = {}  # replicate 0's method id -> those of its replicates r >= 1
    for _, method, _ in replicate_files:
        replicates_of.setdefault(MethodId.parse(method).as_replicate(0).name, set()).add(method)

    def scores(cell, needed):
        if cell not in score_files:
            raise ErasureError(f"report frontier: no per-image scores given for {cell[0]} / {cell[1]} / {cell[2]}")
        frame = read_csv(score_files[cell], what="per-image scores", fix="delete it and rerun its score job",
                         dtype={"prompt_id": str})
        if needed not in frame.columns:
            raise ErasureError(f"{score_files[cell]}: per-image scores lack column {needed!r}; "
                               f"columns: {', '.join(frame.columns)}")
        return frame

    def measure(method, row, prompts, groups):
        """One model's (target frame, target values, retention values per group, % retention per group)."""
        target = scores((metric, method, row["target"]), "value")
        kept = scores((retention_metric, method, row["retention"]), column)
        kept = kept.merge(prompts[["prompt_id", "_group"]], on="prompt_id", how="left")
        per_group = {g: kept.loc[kept["_group"] == g, column].astype(float).dropna() for g in groups}
        means = {g: 100.0 * float(v.mean()) if len(v) else float("nan") for g, v in per_group.items()}
        return target, target["value"].astype(float).dropna(), per_group, means

    members = [(i, series.get("label") or series["methods"][0], order, m)
               for i, series in enumerate(spec.get("series", [])) for order, m in enumerate(series["methods"])]
    members += [(-1, m, 0, m) for m in spec.get("methods", []) if m not in {x[3] for x in members}]
    rows = []
    for r, row in enumerate(spec["rows"]):
        prompts = read_prompts(prompt_files[row["retention"]])
        prompts = prompts.assign(_group=prompted_concepts(prompts, by))
        groups = sorted(set(prompts["_group"].dropna()))
        if not groups:
            raise ErasureError(f"report frontier: no prompt of set {row['retention']!r} names a {by!r}")
        for series, series_label, order, method in members:
            seeds = [measure(m, row, prompts, groups) for m in [method, *sorted(replicates_of.get(method, []))]]
            target, values, per_group, means = seeds[0]
            base = {"row": r, "row_label": row.get("label", f"{row['target']} / {row['retention']}"),
                    "series": series, "series_label": series_label, "order": order, "method": method,
                    "target": float(values.mean()) if len(values) else float("nan"), "n_target": len(values),
                    "label": str(target["label"].iloc[0]) if "label" in target.columns and len(target) else ""}
            if replicates_of:  # the mean over seeds of each seed's value, and the sd between seeds
                targets = pd.Series([float(v.mean()) if len(v) else float("nan") for _, v, _, _ in seeds])
                base.update(target=float(targets.mean()), replicates=len(seeds), target_sd=float(targets.std()))
                overall = pd.Series([float(pd.Series(m).mean()) for _, _, _, m in seeds])
                by_group = {g: pd.Series([m[g] for _, _, _, m in seeds]) for g in groups}
                means = {g: float(v.mean()) for g, v in by_group.items()}
                spread = {g: float(v.std()) for g, v in by_group.items()}
                spread[OVERALL] = float(overall.std())
            for g in groups:
                rows.append({**base, "group": g, "retention": means[g], "n_retention": len(per_group[g]),
                             **({"retention_sd": spread[g]} if replicates_of else {})})
            rows.append({**base, "group": OVERALL, "retention": float(pd.Series(means).mean()),
                         "n_retention": sum(len(v) for v in per_group.values()),
                         **({"retention_sd": spread[OVERALL]} if replicates_of else {})})
    return pd.DataFrame(rows)


def plot_frontier(data: "pd.DataFrame", out: str | Path, *, by: str = "shape", title: str = "",
                  target_label: str = "%TARGET", retention_label: str = "% adherence", dpi: int = 150,
                  font_size: float = 10) -> None:
    """Panels: rows = `data.row` (prompt-set pairs), columns = OVERALL then each group; a line per series
    (markers in series order, the last one filled larger), a cross per point method. Writes `out` (PNG)."""
    import matplotlib.pyplot as plt

    from erasure.report import labels, style

    style.setup(font_size)
    groups = [OVERALL] + sorted(set(data["group"]) - {OVERALL})
    n_rows = int(data["row"].max()) + 1
    fig, axes = plt.subplots(n_rows, len(groups), figsize=(2.9 * len(groups) + 1.8, 2.9 * n_rows + 0.9),
                             squeeze=False, sharey=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    point_markers = "XPd*hv^<>"
    series_ids = sorted(set(data.loc[data["series"] >= 0, "series"]))
    points = list(dict.fromkeys(data.loc[data["series"] < 0, "method"]))
    for r in range(n_rows):
        for c, group in enumerate(groups):
            ax = axes[r, c]
            part = data[(data["row"] == r) & (data["group"] == group)]
            for k, s in enumerate(series_ids):
                line = part[part["series"] == s].sort_values("order")
                colour = colours[k % len(colours)]
                ax.plot(line["retention"], line["target"], "-o", color=colour, markersize=4, linewidth=1.4,
                        label=line["series_label"].iloc[0] if len(line) else None)
                if "target_sd" in line.columns and (line["replicates"] > 1).any():  # ±1 sd over training seeds
                    ax.errorbar(line["retention"], line["target"], xerr=line["retention_sd"].fillna(0),
                                yerr=line["target_sd"].fillna(0), fmt="none", ecolor=colour, alpha=0.5,
                                elinewidth=1, capsize=2)
                if len(line):
                    ax.plot(line["retention"].iloc[-1:], line["target"].iloc[-1:], "o", color=colour, markersize=8)
            for k, method in enumerate(points):
                pt = part[part["method"] == method]
                ax.plot(pt["retention"], pt["target"], point_markers[k % len(point_markers)], color="0.25",
                        markersize=7, markerfacecolor="white" if k % 2 else "0.4", label=method)
            ax.set_xlim(-3, 103)
            ax.set_ylim(-3, 103)
            ax.grid(alpha=0.3)
            if r == 0:
                ax.set_title(group if group == OVERALL else f"{by}: {group}", fontsize=font_size)
            if r == n_rows - 1:
                ax.set_xlabel(f"retention: {retention_label} ↑")
            if c == 0:
                row_label = part["row_label"].iloc[0] if len(part) else ""
                ax.set_ylabel(f"{row_label}\n{target_label} ↓")
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="center right", fontsize=font_size - 1, frameon=False)
    note = f"\n{labels.STANDIN_NOTE}" if labels.any_standin(data["label"].dropna()) else ""
    if "replicates" in data.columns and (data["replicates"] > 1).any():
        note = ("\nmethods trained with several seeds: mean over seeds, bars ±1 sd between seeds" + note)
    fig.suptitle((title or "Erasure–retention frontier: curves over checkpoints / rounds (large marker: the "
                  "last), inference-time methods as points; lower-right is better") + note, fontsize=font_size)
    fig.tight_layout(rect=(0, 0, 0.88, 1))
    style.save(fig, out, dpi)

