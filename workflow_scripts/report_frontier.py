"""Snakemake shim for `report_frontier`: target rate vs retention per method (erasure.report.frontier).

    input.scores      per-image score CSVs, in erasure.plan.frontier_cells(spec) order
    input.prompts     the prompt table of each row's retention set, in row order
    input.replicates  (only where a method's run has several training replicates) the same per-image score
                      CSVs of replicates r >= 1 (`{run}.r{r}@{step}`)
    output.figure     results/{world}/figures/{frontier}.png
    output.csv        results/{world}/tables/{frontier}.csv (the plotted values, with n)
    params            spec (config report.frontiers.{frontier}), style (dpi, font_size)
"""

from pathlib import Path


def main(scores: list[Path], prompts: list[Path], figure: Path, csv: Path, *, spec: dict, style: dict, log: Path,
         threads: int = 1, replicates: list[Path] = ()) -> None:
    from erasure.io import atomic_write
    from erasure.paths import score_csv_cell
    from erasure.plan import frontier_cells
    from erasure.report.frontier import frontier_data, plot_frontier
    from erasure.runtime import job

    with job(log, threads):
        cells = frontier_cells(spec)
        data = frontier_data(spec, dict(zip(cells, scores)),
                             {row["retention"]: p for row, p in zip(spec["rows"], prompts)},
                             {score_csv_cell(f): f for f in replicates})
        plot_frontier(data, figure, by=spec.get("by", "shape"), title=spec.get("title", ""),
                      dpi=int(style["dpi"]), font_size=float(style["font_size"]))
        with atomic_write(csv, "w", newline="") as handle:
            data.to_csv(handle, index=False)
        print(f"{figure}: {data['method'].nunique()} methods, {data['row'].nunique()} row(s)")


if "snakemake" in globals():
    _sm = globals()["snakemake"]
    main([Path(p) for p in _sm.input.scores], [Path(p) for p in _sm.input.prompts], Path(_sm.output.figure),
         Path(_sm.output.csv), spec=dict(_sm.params.spec), style=dict(_sm.params.style), log=Path(_sm.log[0]),
         threads=_sm.threads, replicates=[Path(p) for p in getattr(_sm.input, "replicates", [])])
