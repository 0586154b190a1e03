"""Report tables (Table 1 / Table 2): one row per method, one column per (prompt set, metric).

Values are copied from the score summaries, never recomputed: the long CSV holds every summary field
(n, mean, 95% interval, backbone, scorer label) and the summary file it came from; the Markdown and
LaTeX views show `mean [ci_low, ci_high]` with the scorer label in each column header.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from erasure.errors import ErasureError
from erasure.io import atomic_write
from erasure.loads import read_csv
from erasure.report import labels
from erasure.report.paper import cell_key
from erasure.portable import portable, portable_frame

LONG_COLUMNS = ("method", "display", "promptset", "metric", "n", "mean", "ci_low", "ci_high", "backbone",
                "label", "paper_row", "paper", "source", "note")
REFERENCE_NOTE = "reference method of this paired metric (compared with itself)"


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
                reference_method: str | None = None) -> pd.DataFrame:
    """The long table: one row per (method, column) in the spec's order."""
    paper = paper or {}
    display = dict(spec.get("labels") or {})
    expected = set(expected_cells(spec, reference_method))
    rows = []
    for method in spec["methods"]:
        for column in spec["columns"]:
            paper_value = paper.get(method, {}).get(cell_key(column["promptset"], column["metric"]))
            if (method, column["promptset"], column["metric"]) not in expected:
                rows.append({"method": method, "display": display.get(method, method),
                             "promptset": column["promptset"], "metric": column["metric"], "n": 0,
                             "paper_row": paper.get(method, {}).get("row"), "paper": paper_value,
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
                "paper_row": paper.get(method, {}).get("row"), "paper": paper_value, "source": row["source"],
                "note": "",
            })
    return pd.DataFrame(rows, columns=list(LONG_COLUMNS))


def _header(column: Mapping, long: pd.DataFrame, arrows: Mapping) -> str:
    metric, promptset = column["metric"], column["promptset"]
    scorer = sorted(set(long[(long["metric"] == metric) & (long["promptset"] == promptset)]["label"].dropna()))
    name = column.get("label") or labels.metric_name(metric)
    arrow = arrows.get(labels.direction(metric), "")
    return f"{promptset}: {name}{arrow} [{', '.join(scorer) or 'unlabelled'}]"


def wide(spec: Mapping, long: pd.DataFrame, *, arrows: Mapping = labels.ARROWS) -> pd.DataFrame:
    """Methods x columns of formatted `mean [low, high]` strings, plus `(paper)` columns where the paper
    reports that metric for at least one method."""
    table = pd.DataFrame({"method": list(dict.fromkeys(long["display"]))})
    for column in spec["columns"]:
        cells = long[(long["metric"] == column["metric"]) & (long["promptset"] == column["promptset"])]
        header = _header(column, long, arrows)
        table[header] = ["N/A (reference)" if r["note"] == REFERENCE_NOTE else
                         labels.fmt_interval(r["mean"], r["ci_low"], r["ci_high"], r["metric"])
                         for _, r in cells.iterrows()]
        if cells["paper"].notna().any():
            table[f"{header} (paper)"] = [labels.fmt(r["paper"], r["metric"]) for _, r in cells.iterrows()]
    return table


def to_markdown(spec: Mapping, long: pd.DataFrame) -> str:
    table = portable_frame(wide(spec, long))
    lines = [f"**{spec['title']}**", "",
             "| " + " | ".join(table.columns) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(table.columns) - 1)) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    lines += ["", portable(_footnote(long))]
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    text = text.replace("\\", "\x00")
    for a, b in (("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"), ("$", r"\$"), ("{", r"\{"),
                 ("}", r"\}"), ("–", "--"), ("↓", r"$\downarrow$"), ("↑", r"$\uparrow$")):
        text = text.replace(a, b)
    return text.replace("\x00", r"\textbackslash{}")


def to_latex(spec: Mapping, long: pd.DataFrame) -> str:
    """A booktabs table (needs \\usepackage{booktabs})."""
    table = portable_frame(wide(spec, long))
    lines = [r"\begin{table}[t]", r"\centering", r"\small",
             r"\begin{tabular}{l" + "r" * (len(table.columns) - 1) + "}", r"\toprule",
             " & ".join(_latex_escape(str(c)) for c in table.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(_latex_escape(str(v)) for v in row) + r" \\" for row in table.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}",
              r"\caption{" + _latex_escape(portable(f"{spec['title']}. {_footnote(long)}")) + "}",
              r"\end{table}"]
    return "\n".join(lines) + "\n"


def _footnote(long: pd.DataFrame) -> str:
    measured = long[long["note"] != REFERENCE_NOTE]
    scorers = ", ".join(f"{label} ({backbone})" for label, backbone in
                        sorted(set(zip(measured["label"].fillna("?"), measured["backbone"].fillna("?")))))
    text = (f"Mean [95% bootstrap interval] over n images per cell; set-level metrics (FID) have no interval. "
            f"Scorers: {scorers}."
            + (" N/A (reference): the paired metric's reference method, compared with itself."
               if (long["note"] == REFERENCE_NOTE).any() else ""))
    if long["paper"].notna().any():
        text += (" (paper) columns: the published numbers of Kim et al. (2023), not ours, shown only where "
                 "method, erased concepts and prompt source match the paper's row.")
    if labels.any_standin(measured["label"].dropna()):
        text += f" {labels.STANDIN_NOTE}."
    return text


def write_table(spec: Mapping, summary_files: Iterable[str | Path], *, csv: Path, md: Path, tex: Path,
                paper: Mapping | None = None, reference_method: str | None = None) -> pd.DataFrame:
    long = build_table(spec, read_summaries(summary_files), paper=paper, reference_method=reference_method)
    with atomic_write(csv) as handle:  # the summaries' own files keep the full backbone paths
        portable_frame(long).to_csv(handle, index=False)
    with atomic_write(md) as handle:
        handle.write(to_markdown(spec, long))
    with atomic_write(tex) as handle:
        handle.write(to_latex(spec, long))
    return long
