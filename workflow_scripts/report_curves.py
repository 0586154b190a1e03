"""Snakemake shim for `report_curves`: metric vs training iteration per run, plus the training loss.

    input.summaries   score summaries of every {run}@{step} / {run}.student@{step} (and the baseline)
    input.complete    models/{run}/complete.json (orders the DAG; the loss is read from params.train_logs)
    input.replicates  (only where a series' run has several training replicates) every replicate's per-image
                      score file of its checkpoints
    output.figure     results/{world}/figures/{curve}.png
    params            spec (config report.curves.{curve}), train_logs {run: train_log.csv}, run_methods
                      {run: method}, style (dpi, font_size)
"""

from pathlib import Path


def main(summaries: list[Path], figure: Path, *, spec: dict, train_logs: dict, run_methods: dict, style: dict,
         log: Path, threads: int = 1, replicates: list[Path] = ()) -> None:
    from erasure.report.curves import plot_curves
    from erasure.runtime import job

    with job(log, threads):
        points = plot_curves(spec, summaries, train_logs, figure, run_methods=run_methods,
                             baseline=spec.get("baseline"), smooth=int(spec.get("smooth", 0)),
                             title=spec.get("title", ""), dpi=int(style["dpi"]), font_size=float(style["font_size"]),
                             replicate_files=replicates)
        print(f"{figure}: {len(points)} checkpoint points")


if "snakemake" in globals():
    _sm = globals()["snakemake"]
    main([Path(p) for p in _sm.input.summaries], Path(_sm.output.figure), spec=dict(_sm.params.spec),
         train_logs=dict(_sm.params.train_logs), run_methods=dict(_sm.params.run_methods),
         style=dict(_sm.params.style), log=Path(_sm.log[0]), threads=_sm.threads,
         replicates=[Path(p) for p in getattr(_sm.input, "replicates", [])])
