"""Snakemake shim for `report_matrix`: erased concept x prompted concept, as heatmap, image grid and CSV.

    input.scores      per-image score CSVs scores/{metric}/{method}/{promptset}.csv, in method order
    input.manifests   images/{method}/{promptset}/manifest.csv, in method order
    input.prompts     prompts/{promptset}.csv
    output.heatmap    figures/{matrix}.png      output.images  figures/{matrix}-images.png
    output.csv        tables/{matrix}.csv       (method, concept, n, value)
    params            spec (config report.matrices.{matrix}), scorer label, style (dpi, font_size)
"""

from pathlib import Path


def main(scores: list[Path], manifests: list[Path], prompts: Path, heatmap: Path, images: Path, csv: Path, *,
         spec: dict, style: dict, log: Path, threads: int = 1) -> None:
    import pandas as pd

    from erasure.io import atomic_write
    from erasure.report import labels
    from erasure.runtime import job
    from erasure.report.matrices import matrix_values, plot_heatmap, plot_image_matrix

    with job(log, threads):
        methods = spec["methods"]
        values = matrix_values(dict(zip(methods, scores)), prompts, by=spec["by"], column=spec["column"],
                               scale=float(spec["scale"]), concepts=spec.get("concepts"))
        scorer = ", ".join(sorted({str(x) for f in scores for x in pd.read_csv(f, usecols=lambda c: c == "label")
                                   .get("label", pd.Series(dtype=str)).dropna().unique()})) or "unlabelled"
        value_label = f"{spec.get('value_label') or labels.metric_name(spec['metric'])} [{scorer}]"
        with atomic_write(csv) as handle:
            values.assign(metric=spec["metric"], column=spec["column"], label=scorer).to_csv(handle, index=False)
        plot_heatmap(values, heatmap, by=spec["by"], value_label=value_label, labels=spec.get("labels"),
                     title=spec.get("title", ""), dpi=int(style["dpi"]), font_size=float(style["font_size"]),
                     vmin=spec.get("vmin"), vmax=spec.get("vmax"))
        plot_image_matrix(dict(zip(methods, manifests)), prompts, images, by=spec["by"], concepts=spec.get("concepts"),
                          n_seeds=int(spec["n_seeds"]), labels=spec.get("labels"),
                          title=spec.get("title", ""), dpi=int(style["dpi"]), font_size=float(style["font_size"]))
        print(f"{heatmap}: {len(methods)} methods x {values['concept'].nunique()} prompted concepts")


if "snakemake" in globals():
    _sm = globals()["snakemake"]
    main([Path(p) for p in _sm.input.scores], [Path(p) for p in _sm.input.manifests], Path(_sm.input.prompts),
         Path(_sm.output.heatmap), Path(_sm.output.images), Path(_sm.output.csv), spec=dict(_sm.params.spec),
         style=dict(_sm.params.style), log=Path(_sm.log[0]), threads=_sm.threads)
