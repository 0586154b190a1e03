"""Training curves (the paper's Fig. 5): a metric of images generated at each checkpoint, per run, and the
training loss from each run's train_log.csv.

The metric points are the score summaries of the method ids `{run}@{step}` / `{run}.student@{step}`:
the same generate -> score rules as every table, applied at each checkpoint step.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from erasure.errors import ErasureError
from erasure.loads import read_csv
from erasure.methods import specs
from erasure.paths import MethodId
from erasure.report import labels, style
from erasure.report.tables import read_summaries


def series_label(series: Mapping, run_methods: Mapping[str, str]) -> str:
    if series.get("label"):
        return series["label"]
    method = run_methods.get(series["run"], "")
    if series.get("which") == "student":
        role = "student"
    else:
        spec = specs.SPECS.get(method)
        role = "EMA teacher" if spec is not None and spec.deliverable == "teacher" else "trained model"
    return f"{series['run']} ({role})"


def curve_points(spec: Mapping, summaries: pd.DataFrame, replicate_files=()) -> pd.DataFrame:
    """One row per (series, step): series index, step, method, mean, ci_low, ci_high, label, replicates. A
    checkpoint of a run with several training replicates (`replicate_files`: their per-image score files) is
    the mean over seeds with the two-level bootstrap interval (erasure.report.tables.replicate_cell)."""
    from erasure.report.tables import replicate_cell, replicate_groups

    groups = {cell: files for cell, files in replicate_groups(replicate_files).items() if len(files) > 1}
    rows = []
    for index, series in enumerate(spec["series"]):
        for step in series["steps"]:
            method = MethodId.of(series["run"], step, student=series.get("which") == "student").name
            hit = summaries[(summaries["method"] == method) & (summaries["promptset"] == spec["promptset"])
                            & (summaries["metric"] == spec["metric"])]
            if len(hit) != 1:
                raise ErasureError(f"report curve: {len(hit)} summary rows for {method!r} / {spec['promptset']!r} "
                                   f"/ {spec['metric']!r}; expected 1")
            row = hit.iloc[0]
            point = {"series": index, "step": int(step), "method": method, "mean": float(row["mean"]),
                     "ci_low": float(row["ci_low"]), "ci_high": float(row["ci_high"]), "n": int(row["n"]),
                     "label": row["label"], "replicates": 1}
            files = groups.get((method, spec["promptset"], spec["metric"]))
            if files:
                cell = replicate_cell(files, spec["metric"], f"report curve: {method} on {spec['promptset']}")
                point.update({k: cell[k] for k in ("mean", "ci_low", "ci_high", "n", "replicates")})
            rows.append(point)
    return pd.DataFrame(rows)


def read_train_log(path: str | Path) -> pd.DataFrame:
    log = read_csv(path, what="training log", fix="rerun the erase rule for this run")
    for column in ("step", "loss"):
        if column not in log.columns:
            raise ErasureError(f"{path}: training log lacks column {column!r}; expected step, loss, lr, seconds")
    return log.sort_values("step")


def plot_curves(spec: Mapping, summary_files, train_logs: Mapping[str, str | Path], out: str | Path, *,
                run_methods: Mapping[str, str], baseline: str | None = None, smooth: int = 0,
                title: str = "", dpi: int = 150, font_size: float = 10, replicate_files=()) -> pd.DataFrame:
    """Left: metric vs iteration per series (95% intervals as bands; a run with N training replicates: the mean
    over seeds, its band the two-level bootstrap interval, and "N seeds" in its legend); right: training loss
    per run (replicate 0's)."""
    import matplotlib.pyplot as plt

    style.setup(font_size)
    summaries = read_summaries(summary_files)
    points = curve_points(spec, summaries, replicate_files)
    scorer = ", ".join(sorted(set(points["label"].dropna()))) or "unlabelled"
    metric_label = f"{labels.metric_name(spec['metric'])}{labels.ARROWS.get(labels.direction(spec['metric']), '')}"
    runs = [run for run in dict.fromkeys(s["run"] for s in spec["series"]) if run in train_logs]
    # One loss panel per run, each on its own scale: SDD's loss (a distillation MSE) and ESD's (an MSE to a
    # negatively guided target) differ by orders of magnitude, and on a shared axis one of them is flat.
    fig = plt.figure(figsize=(11, max(4.2, 1.7 * len(runs) + 0.8)))
    grid = fig.add_gridspec(max(1, len(runs)), 2)
    ax = fig.add_subplot(grid[:, 0])
    loss_axes = [fig.add_subplot(grid[i, 1]) for i in range(len(runs))]
    markers = "osD^vP"
    base_value = None
    if baseline:
        hit = summaries[(summaries["method"] == baseline) & (summaries["promptset"] == spec["promptset"])
                        & (summaries["metric"] == spec["metric"])]
        if len(hit) == 1:
            base_value = float(hit.iloc[0]["mean"])
            ax.axhline(base_value, color="0.3", linestyle="--", linewidth=1, label=f"{baseline} (no erasure)")
    for index, series in enumerate(spec["series"]):
        part = points[points["series"] == index].sort_values("step")
        label = series_label(series, run_methods)
        if part["replicates"].max() > 1:
            label += f", mean of {int(part['replicates'].max())} seeds"
        line, = ax.plot(part["step"], part["mean"], marker=markers[index % len(markers)], label=label)
        if base_value is not None:  # iteration 0 is the base model itself
            ax.plot([0, part["step"].iloc[0]], [base_value, part["mean"].iloc[0]], color=line.get_color(),
                    linestyle=":", linewidth=1)
        if part[["ci_low", "ci_high"]].notna().all().all():
            ax.fill_between(part["step"], part["ci_low"], part["ci_high"], color=line.get_color(), alpha=0.15)
    if labels.metric_name(spec["metric"]).startswith("%"):
        ax.set_ylim(0, min(105, max(points["ci_high"].max(), points["mean"].max(), base_value or 0) * 1.25 + 2))
    ax.set_xlim(left=0 if base_value is not None else None)
    ax.set_xlabel("training iteration")
    ax.set_ylabel(f"{metric_label} on '{spec['promptset']}' [{scorer}]")
    ax.set_title(f"{labels.metric_name(spec['metric'])} of checkpoint samples")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (run, ax_loss) in enumerate(zip(runs, loss_axes)):
        log = read_train_log(train_logs[run])
        window = smooth or max(1, len(log) // 25)
        colour = colours[index % len(colours)]
        ax_loss.plot(log["step"], log["loss"], alpha=0.25, linewidth=0.8, color=colour)
        ax_loss.plot(log["step"], log["loss"].rolling(window, min_periods=1).mean(), color=colour,
                     label=f"mean of {window} steps" if window > 1 else "loss")
        ax_loss.set_ylabel("loss")
        ax_loss.set_title(f"training loss: {run}", fontsize=font_size)
        ax_loss.grid(alpha=0.3)
        ax_loss.legend(loc="best", fontsize=font_size - 2)
        if index == len(runs) - 1:
            ax_loss.set_xlabel("training iteration")
    fig.suptitle((title or f"Training curves: {labels.metric_name(spec['metric'])} on '{spec['promptset']}' "
                           "per checkpoint, and training loss")
                 + (f"\n{labels.STANDIN_NOTE}" if labels.any_standin(points["label"].dropna()) else ""))
    fig.tight_layout()
    style.save(fig, out, dpi)
    return points

