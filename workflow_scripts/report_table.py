"""Snakemake shim for `report_table`: one report table as CSV (long), Markdown and LaTeX.

    input.summaries   score summaries, results/{world}/scores/{metric}/{method}/{promptset}.summary.csv
    output.csv/md/tex results/{world}/tables/{table}.{csv,md,tex}
    params.spec       config report.tables.{table} (title, methods, columns, labels, paper)
    params.paper      {method: {"row": ..., metric: value}}: the paper's numbers, {} when not shown
    params.published  {"cells": {method: {"promptset/metric": {value, source, ...}}}, "notes": [...]}: the
                      pinned published figures shown, and why the others are not (erasure.report.paper)
    params.reference_method   paired metrics (LPIPS, paired distance) have no summary for this method
    input.replicates  (only where a table method's run has several training replicates) every replicate's
                      per-image score file of those cells: results/{world}/scores/{metric}/{method}/{promptset}.csv
"""

from pathlib import Path


def main(summaries: list[Path], csv: Path, md: Path, tex: Path, *, spec: dict, paper: dict,
         reference_method: str, log: Path, threads: int = 1, replicates: list[Path] = (),
         published: dict | None = None) -> None:
    from erasure.runtime import job
    from erasure.report.tables import write_table

    with job(log, threads):
        long = write_table(spec, summaries, csv=csv, md=md, tex=tex, paper=paper, reference_method=reference_method,
                           replicate_files=replicates, published=published)
        print(f"{csv}: {len(long)} cells from {len(summaries)} summaries"
              + (f" and {len(replicates)} replicate score files" if replicates else ""))


if "snakemake" in globals():
    _sm = globals()["snakemake"]
    main([Path(p) for p in _sm.input.summaries], Path(_sm.output.csv), Path(_sm.output.md), Path(_sm.output.tex),
         spec=dict(_sm.params.spec), paper=dict(_sm.params.paper), published=dict(_sm.params.published),
         reference_method=_sm.params.reference_method, log=Path(_sm.log[0]), threads=_sm.threads,
         replicates=[Path(p) for p in getattr(_sm.input, "replicates", [])])
