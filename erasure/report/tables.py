"""Report tables (Table 1 / Table 2): one row per method, one column per (prompt set, metric).

Values are copied from the score summaries, never recomputed: the long CSV holds every summary field
(n, mean, 95% interval, backbone, scorer label) and the summary file it came from; the Markdown and
LaTeX views show `mean [ci_low, ci_high]` with the scorer label in each column header.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from erasure import paths
from erasure.errors import ErasureError
from erasure.io import atomic_write
from erasure.loads import read_csv
from erasure.paths import MethodId
from erasure.report import labels
from erasure.report.paper import cell_key
from erasure.portable import portable, portable_frame

LONG_COLUMNS = ("method", "display", "promptset", "metric", "n", "mean", "ci_low", "ci_high", "backbone",
                "label", "paper_row", "paper", "published", "published_source", "source", "note")
# only in a table with a method of several training replicates (a table of single runs reads as before)
REPLICATE_COLUMNS = ("replicates", "seed_sd", "interval", "overlaps_best")
REFERENCE_NOTE = "reference method of this paired metric (compared with itself)"
OVERLAP_MARK = "†"  # the cell's interval overlaps the column's best cell's interval (see _mark_overlaps)
TWO_LEVEL = "two-level bootstrap (seeds, then images)"


def expected_cells(spec: Mapping, reference_method: str | None) -> list[tuple[str, str, str]]:
    """(method, promptset, metric) cells that have a score summary (erasure.plan.table_cells: the plan's)."""
    from erasure.plan import table_cells

    return table_cells(spec, reference_method)


def read_summaries(files: Iterable[str | Path]) -> pd.DataFrame:
    """All rows of the given summary CSVs, each with its `source` file."""
    frames = []
    for file in files:
        frame = read_csv(file, what="score summary", fix="delete it and rerun its score job",
                         dtype={"method": str, "promptset": str, "metric": str, "backbone": str, "label": str},
                         keep_default_na=False, na_values=[""])
        if frame.empty:
            raise ErasureError(f"{file}: score summary has no rows; rerun its score job")
        frame["source"] = str(file)
        frames.append(frame)
    if not frames:
        raise ErasureError("report table: no score summaries given")
    return pd.concat(frames, ignore_index=True)


def build_table(spec: Mapping, summaries: pd.DataFrame, *, paper: Mapping | None = None,
                reference_method: str | None = None, published: Mapping | None = None) -> pd.DataFrame:
    """The long table: one row per (method, column) in the spec's order. `paper`: erasure.report.paper.
    paper_values; `published`: the "cells" of erasure.report.paper.published_values (each shown cell's value
    and source)."""
    paper = paper or {}
    published = published or {}
    display = dict(spec.get("labels") or {})
    expected = set(expected_cells(spec, reference_method))
    rows = []
    for method in spec["methods"]:
        for column in spec["columns"]:
            paper_value = paper.get(method, {}).get(cell_key(column["promptset"], column["metric"]))
            shown = published.get(method, {}).get(cell_key(column["promptset"], column["metric"])) or {}
            theirs = {"published": shown.get("value"),
                      "published_source": f"{shown['source']} ({shown['reference']}, {shown['date']})" if shown else None}
            if (method, column["promptset"], column["metric"]) not in expected:
                rows.append({"method": method, "display": display.get(method, method),
                             "promptset": column["promptset"], "metric": column["metric"], "n": 0,
                             "paper_row": paper.get(method, {}).get("row"), "paper": paper_value, **theirs,
                             "note": REFERENCE_NOTE})
                continue
            hit = summaries[(summaries["method"] == method) & (summaries["promptset"] == column["promptset"])
                            & (summaries["metric"] == column["metric"])]
            if len(hit) != 1:
                raise ErasureError(
                    f"report table {spec.get('title', '')!r}: {len(hit)} summary rows for method {method!r}, "
                    f"prompt set {column['promptset']!r}, metric {column['metric']!r}; expected 1 (check the "
                    "score summaries given as inputs)"
                )
            row = hit.iloc[0]
            rows.append({
                "method": method, "display": display.get(method, method), "promptset": column["promptset"],
                "metric": column["metric"], "n": int(row["n"]), "mean": float(row["mean"]),
                "ci_low": float(row["ci_low"]), "ci_high": float(row["ci_high"]),
                "backbone": row["backbone"], "label": row["label"],
                "paper_row": paper.get(method, {}).get("row"), "paper": paper_value, **theirs,
                "source": row["source"], "note": "",
            })
    return pd.DataFrame(rows, columns=list(LONG_COLUMNS))


def replicate_groups(score_files: Iterable[str | Path]) -> dict[tuple[str, str, str], list[Path]]:
    """{(method, promptset, metric): its replicates' per-image score files, replicate 0 first} from the files
    of erasure.report.targets.item_inputs' `replicates`, named by erasure.paths.score_csv."""
    groups: dict[tuple[str, str, str], list[tuple[int, Path]]] = {}
    for file in score_files:
        metric, method, promptset = paths.score_csv_cell(file)
        parsed = MethodId.parse(method)
        if not parsed.finetuned:
            raise ErasureError(f"{file}: not a fine-tuned run's score file; an inference-time method has no replicates")
        groups.setdefault((parsed.as_replicate(0).name, promptset, metric), []).append((parsed.replicate, Path(file)))
    return {cell: [f for _, f in sorted(files)] for cell, files in groups.items()}


def replicate_cell(files: list[Path], metric: str, where: str) -> dict:
    """One cell over its replicates: n (images per replicate), mean over seeds of the per-seed means, the
    two-level bootstrap interval (erasure.metrics.summary.two_level_bootstrap_ci), the seeds' sd."""
    from erasure.metrics import summary

    frames = []
    for file in files:
        frame = read_csv(file, what="per-image score file", fix="delete it and rerun its score job",
                         dtype={"prompt_id": str})
        summary.declare(frame, metric)
        summary.refuse_non_finite(frame, ["value"], where=str(file))
        frames.append(frame)
    values = summary.paired_values(frames, where=where)
    low, high = summary.two_level_bootstrap_ci(values)
    set_level = values.shape[1] == 1 and "set_level" in frames[0].columns
    n = int(frames[0]["n"].iloc[0]) if set_level else int((~pd.isna(values[0])).sum())
    return {"n": n, "mean": summary.replicate_mean(values), "ci_low": low, "ci_high": high,
            "replicates": len(files), "seed_sd": summary.replicate_sd(values), "interval": TWO_LEVEL,
            "source": " ".join(portable(str(f)) for f in files)}


def add_replicates(long: pd.DataFrame, replicate_files: Iterable[str | Path]) -> pd.DataFrame:
    """The long table with each cell that has replicate score files recomputed over its replicates, the
    REPLICATE_COLUMNS added and overlaps with each column's best cell marked; `long` unchanged when no cell
    has more than one replicate."""
    groups = {cell: files for cell, files in replicate_groups(replicate_files).items() if len(files) > 1}
    if not groups:
        return long
    long = long.copy()
    long["replicates"], long["seed_sd"], long["interval"] = 1, float("nan"), "bootstrap (images)"
    long["overlaps_best"] = False
    for index, row in long.iterrows():
        cell = (row["method"], row["promptset"], row["metric"])
        if row["note"] == REFERENCE_NOTE:
            long.loc[index, "interval"] = ""
        elif cell in groups:
            where = f"report table: {row['method']} on {row['promptset']}, {row['metric']}"
            for key, value in replicate_cell(groups[cell], row["metric"], where).items():
                long.loc[index, key] = value
    return _mark_overlaps(long)


def _mark_overlaps(long: pd.DataFrame) -> pd.DataFrame:
    """`overlaps_best`: per (prompt set, metric) column with a direction (↓ / ↑), the cells other than the
    best mean whose 95% interval overlaps the best cell's. Two intervals that do not overlap separate the two
    means at better than the 5% level; overlapping ones do not show that the means are equal, only that this
    table cannot rank the two: the mark is the conservative reading, the same test for every cell. Cells
    without an interval (one replicate of a set-level metric) are not compared."""
    for (_, metric), cells in long[long["note"] != REFERENCE_NOTE].groupby(["promptset", "metric"], sort=False):
        direction = labels.direction(metric)
        cells = cells.dropna(subset=["mean"])
        if direction not in ("up", "down") or cells.empty:
            continue
        best = cells["mean"].idxmin() if direction == "down" else cells["mean"].idxmax()
        low, high = long.loc[best, "ci_low"], long.loc[best, "ci_high"]
        if pd.isna(low) or pd.isna(high):
            continue
        for index, row in cells.iterrows():
            if index != best and not pd.isna(row["ci_low"]) and row["ci_low"] <= high and row["ci_high"] >= low:
                long.loc[index, "overlaps_best"] = True
    return long


def _header(column: Mapping, long: pd.DataFrame, arrows: Mapping) -> str:
    metric, promptset = column["metric"], column["promptset"]
    scorer = sorted(set(long[(long["metric"] == metric) & (long["promptset"] == promptset)]["label"].dropna()))
    name = column.get("label") or labels.metric_name(metric)
    arrow = arrows.get(labels.direction(metric), "")
    return f"{promptset}: {name}{arrow} [{', '.join(scorer) or 'unlabelled'}]"


def wide(spec: Mapping, long: pd.DataFrame, *, arrows: Mapping = labels.ARROWS) -> pd.DataFrame:
    """Methods x columns of formatted `mean [low, high]` strings, plus `(paper)` columns where the paper
    reports that metric for at least one method, and `(published)` columns where a pinned published figure
    (erasure.report.published) matches our setting for at least one."""
    table = pd.DataFrame({"method": list(dict.fromkeys(long["display"]))})
    for column in spec["columns"]:
        cells = long[(long["metric"] == column["metric"]) & (long["promptset"] == column["promptset"])]
        header = _header(column, long, arrows)
        table[header] = ["N/A (reference)" if r["note"] == REFERENCE_NOTE else
                         labels.fmt_interval(r["mean"], r["ci_low"], r["ci_high"], r["metric"])
                         + (f" {OVERLAP_MARK}" if bool(r.get("overlaps_best") or False) else "")
                         for _, r in cells.iterrows()]
        if cells["paper"].notna().any():
            table[f"{header} (paper)"] = [labels.fmt(r["paper"], r["metric"]) for _, r in cells.iterrows()]
        if "published" in cells and cells["published"].notna().any():
            table[f"{header} (published)"] = [labels.fmt(r["published"], r["metric"]) for _, r in cells.iterrows()]
    return table


def to_markdown(spec: Mapping, long: pd.DataFrame, notes: Sequence[str] = ()) -> str:
    table = portable_frame(wide(spec, long))
    lines = [f"**{spec['title']}**", "",
             "| " + " | ".join(table.columns) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(table.columns) - 1)) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    lines += ["", portable(_footnote(long, notes))]
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    text = text.replace("\\", "\x00")
    for a, b in (("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"), ("$", r"\$"), ("{", r"\{"),
                 ("}", r"\}"), ("–", "--"), ("↓", r"$\downarrow$"), ("↑", r"$\uparrow$"),
                 (OVERLAP_MARK, r"\textdagger{}")):
        text = text.replace(a, b)
    return text.replace("\x00", r"\textbackslash{}")


def to_latex(spec: Mapping, long: pd.DataFrame, notes: Sequence[str] = ()) -> str:
    """A booktabs table (needs \\usepackage{booktabs})."""
    table = portable_frame(wide(spec, long))
    lines = [r"\begin{table}[t]", r"\centering", r"\small",
             r"\begin{tabular}{l" + "r" * (len(table.columns) - 1) + "}", r"\toprule",
             " & ".join(_latex_escape(str(c)) for c in table.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(_latex_escape(str(v)) for v in row) + r" \\" for row in table.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}",
              r"\caption{" + _latex_escape(portable(f"{spec['title']}. {_footnote(long, notes)}")) + "}",
              r"\end{table}"]
    return "\n".join(lines) + "\n"


PUBLISHED_NOTE = ("(published) columns: the methods' authors' published figures (erasure/report/published: "
                  "source and date in the CSV's published_source), not ours, shown only where method, preset, "
                  "erased concepts, metric, prompt source, detector, NudeNet release and threshold match ours.")


def published_notes(reasons: Sequence[str]) -> str:
    """One line: why a table method's published figures are not shown (erasure.report.paper.matching_cells)."""
    if not reasons:
        return ""
    return ("Published figures not shown, their setting not ours (erasure/report/published): "
            + "; ".join(reasons) + ".")


def _footnote(long: pd.DataFrame, notes: Sequence[str] = ()) -> str:
    measured = long[long["note"] != REFERENCE_NOTE]
    scorers = ", ".join(f"{label} ({backbone})" for label, backbone in
                        sorted(set(zip(measured["label"].fillna("?"), measured["backbone"].fillna("?")))))
    single = " of a single run" if "replicates" in long.columns else ""
    text = (f"Mean [95% bootstrap interval] over n images per cell; set-level metrics (FID){single} have no interval. "
            f"Scorers: {scorers}."
            + (" N/A (reference): the paired metric's reference method, compared with itself."
               if (long["note"] == REFERENCE_NOTE).any() else ""))
    if "replicates" in long.columns:
        many = long[long["replicates"] > 1].drop_duplicates("method")
        runs = ", ".join(f"{m} ({int(r)})" for m, r in zip(many["display"], many["replicates"]))
        text += (f" Methods trained with several seeds, {runs}: the mean over training seeds of each seed's mean, "
                 "and a two-level bootstrap interval (resample the training seeds, then the images, the same images "
                 "in every seed since replicates are drawn with the same prompts and initial noise); a set-level "
                 "metric's interval is over seeds alone. Other rows: one model, bootstrap over images. "
                 f"{OVERLAP_MARK}: the cell's interval overlaps the column's best cell's (lowest mean for ↓, highest "
                 "for ↑): the table does not separate the two.")
    if long["paper"].notna().any():
        text += (" (paper) columns: the published numbers of Kim et al. (2023), not ours, shown only where "
                 "method, erased concepts and prompt source match the paper's row.")
    if "published" in long.columns and long["published"].notna().any():
        text += " " + PUBLISHED_NOTE
    if published_notes(notes):
        text += " " + published_notes(notes)
    if labels.any_standin(measured["label"].dropna()):
        text += f" {labels.STANDIN_NOTE}."
    return text


def write_table(spec: Mapping, summary_files: Iterable[str | Path], *, csv: Path, md: Path, tex: Path,
                paper: Mapping | None = None, reference_method: str | None = None,
                replicate_files: Iterable[str | Path] = (), published: Mapping | None = None) -> pd.DataFrame:
    """Write the table's CSV (long), Markdown and LaTeX; `replicate_files`: the per-image score files of every
    replicate of the cells whose run has several (add_replicates), none for a table of single runs;
    `published`: erasure.report.paper.published_values ({"cells", "notes"})."""
    published = published or {}
    notes = list(published.get("notes") or ())
    long = build_table(spec, read_summaries(summary_files), paper=paper, reference_method=reference_method,
                       published=published.get("cells"))
    long = add_replicates(long, replicate_files)
    with atomic_write(csv) as handle:  # the summaries' own files keep the full backbone paths
        portable_frame(long).to_csv(handle, index=False)
    with atomic_write(md) as handle:
        handle.write(to_markdown(spec, long, notes))
    with atomic_write(tex) as handle:
        handle.write(to_latex(spec, long, notes))
    return long
