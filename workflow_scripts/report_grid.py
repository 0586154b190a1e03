"""Snakemake shim for `report_grid`: samples per method (rows) for fixed prompts and seeds (columns).

    input.manifests   images/{method}/{promptset}/manifest.csv, in the spec's method order
    input.prompts     prompts/{promptset}.csv
    output.figure     results/{world}/figures/{grid}.png
    params            spec (config report.grids.{grid}), style (dpi, font_size)
"""

from pathlib import Path


def main(manifests: list[Path], prompts: Path, figure: Path, *, spec: dict, style: dict, log: Path,
         threads: int = 1) -> None:
    from erasure.report.grids import plot_grid
    from erasure.runtime import job

    with job(log, threads):
        cells = plot_grid(dict(zip(spec["methods"], manifests)), prompts, figure, n_prompts=int(spec["n_prompts"]),
                          n_seeds=int(spec["n_seeds"]), prompt_ids=spec.get("prompt_ids"), labels=spec.get("labels"),
                          title=spec.get("title", ""), dpi=int(style["dpi"]), font_size=float(style["font_size"]))
        print(f"{figure}: {len(spec['methods'])} methods x {len(cells)} (prompt, seed) cells")


if "snakemake" in globals():
    _sm = globals()["snakemake"]
    main([Path(p) for p in _sm.input.manifests], Path(_sm.input.prompts), Path(_sm.output.figure),
         spec=dict(_sm.params.spec), style=dict(_sm.params.style), log=Path(_sm.log[0]), threads=_sm.threads)
