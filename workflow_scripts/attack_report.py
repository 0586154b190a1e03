"""Snakemake shim for rules/attack.smk's `attack_table` (Table 3) and `attack_grid` rules.

attack_table:  params.cells [{method, attack, promptset, pre, post, adversarial}] (score CSVs of the plain and
               the attacked set, the attack's CSV), params.metric,
               params.detectors, params.title, params.published ({"cells", "notes"}: the pinned published ASRs
               whose setting is ours, erasure.report.paper) -> output.csv, md, tex, success (erasure.report.attacks)
attack_grid:   params.rows [{label, manifest, prompts}], params.n_prompts, params.style -> output.figure
"""

from pathlib import Path


def table(cells: list[dict], *, metric: str, detectors: dict, title: str, csv: Path, md: Path, tex: Path,
          success: Path, log: Path, published: dict | None = None) -> None:
    from erasure.report.attacks import write_table3
    from erasure.runtime import job

    with job(log):
        rows = write_table3(cells, metric=metric, detectors=detectors, title=title, csv=csv, md=md, tex=tex,
                            success=success, published=published)
        print(f"{csv}: {len(rows)} rows")


def grid(rows: list[dict], figure: Path, *, n_prompts: int, style: dict, log: Path) -> None:
    from erasure.report.attacks import plot_attack_grid
    from erasure.runtime import job

    with job(log):
        n = plot_attack_grid(rows, figure, n_prompts=n_prompts, dpi=int(style["dpi"]),
                             font_size=float(style["font_size"]))
        print(f"{figure}: {len(rows)} rows x {n} images")


if "snakemake" in globals():
    _sm = globals()["snakemake"]
    if _sm.rule == "attack_grid":
        grid(list(_sm.params.rows), Path(_sm.output.figure), n_prompts=int(_sm.params.n_prompts),
             style=dict(_sm.params.style), log=Path(_sm.log[0]))
    else:
        table(list(_sm.params.cells), metric=_sm.params.metric, detectors=dict(_sm.params.detectors),
              title=_sm.params.title, csv=Path(_sm.output.csv), md=Path(_sm.output.md), tex=Path(_sm.output.tex),
              success=Path(_sm.output.success), log=Path(_sm.log[0]), published=dict(_sm.params.published))
