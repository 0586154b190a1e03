"""What the report section of the config asks for, as files: pure functions of the config (no file system),
used by rules/report.smk for its inputs and targets, and by tests.

Item names share figures/, tables/ and provenance/, so they must be unique across tables, curves, grids and
matrices; a matrix also writes figures/{name}-images.png and tables/{name}.csv.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from erasure import paths, plan
from erasure.errors import ErasureError
from erasure.report.frontier import frontier_inputs
from erasure.report.tables import expected_cells

KINDS = {  # config key -> (kind, rule that draws it, wildcard name in that rule)
    "tables": ("table", "report_table", "table"),
    "curves": ("curve", "report_curves", "curve"),
    "grids": ("grid", "report_grid", "grid"),
    "matrices": ("matrix", "report_matrix", "matrix"),
    "frontiers": ("frontier", "report_frontier", "frontier"),
}


def report_items(report: Mapping) -> dict[str, tuple[str, Mapping]]:
    """{artifact name: (config key, spec)}, checking that names do not collide."""
    items: dict[str, tuple[str, Mapping]] = {}
    for key in KINDS:
        for name, spec in (report.get(key) or {}).items():
            if name in items:
                raise ErasureError(f"report.{key}.{name}: name already used by report.{items[name][0]}; "
                                   "report names share figures/ and provenance/, rename one")
            items[name] = (key, spec)
    for name in report.get("matrices") or {}:
        if f"{name}-images" in items:
            raise ErasureError(f"report: {name}-images clashes with matrix {name!r}'s image figure; rename it")
    return items


def names_regex(report: Mapping, key: str) -> str:
    """A wildcard constraint matching exactly the item names of one kind (nothing when there are none)."""
    import re

    return "|".join(re.escape(n) for n in sorted(report.get(key) or {})) or "(?!)"


curve_methods = plan.curve_methods  # the methods a curve reads, as the plan derives them


def curve_runs(spec: Mapping) -> list[str]:
    return list(dict.fromkeys(series["run"] for series in spec["series"]))


def item_inputs(config: Mapping, root, world: str, name: str) -> dict[str, list[str] | str]:
    """The named inputs of the rule that draws report item `name`."""
    key, spec = report_items(config["report"])[name]
    if key == "tables":
        cells = expected_cells(spec, plan.reference_method(config))
        return {"summaries": [str(paths.score_summary(root, world, metric, method, promptset))
                              for method, promptset, metric in cells]}
    if key == "frontiers":
        return frontier_inputs(root, world, spec)
    promptset = spec["promptset"]
    if key == "curves":
        return {"summaries": [str(paths.score_summary(root, world, spec["metric"], m, promptset))
                              for m in curve_methods(spec)],
                "complete": [str(paths.run_complete(root, world, run)) for run in curve_runs(spec)]}
    inputs: dict[str, list[str] | str] = {}
    if key == "matrices":
        inputs["scores"] = [str(paths.score_csv(root, world, spec["metric"], m, promptset)) for m in spec["methods"]]
    inputs["manifests"] = [str(paths.manifest(root, world, m, promptset)) for m in spec["methods"]]
    inputs["prompts"] = str(paths.prompt_table(root, world, promptset))
    return inputs


def item_outputs(config: Mapping, root, world: str, name: str) -> list[str]:
    key, _ = report_items(config["report"])[name]
    if key == "tables":
        return [str(paths.table(root, world, name, ext)) for ext in ("csv", "md", "tex")]
    if key == "matrices":
        return [str(paths.figure(root, world, name)), str(paths.figure(root, world, f"{name}-images")),
                str(paths.table(root, world, name, "csv"))]
    if key == "frontiers":
        return [str(paths.figure(root, world, name)), str(paths.table(root, world, name, "csv"))]
    return [str(paths.figure(root, world, name))]


def provenance_inputs(config: Mapping, root, world: str, name: str) -> dict[str, list[str]]:
    """The artifact's own files: the job records beside them (erasure.records) lead to everything upstream, and
    any upstream change remakes the artifact, so it reruns its provenance job too."""
    return {"outputs": item_outputs(config, root, world, name)}


def report_targets(config: Mapping, root, world: str) -> list[str]:
    """Every table, figure and provenance file (its record and PROV export) the config's report section asks for."""
    targets = []
    for name in report_items(config["report"]):
        targets += item_outputs(config, root, world, name)
        targets += [str(paths.provenance(root, world, name)), str(paths.provenance_prov(root, world, name))]
    return targets


def root_of(provenance_file: str | Path) -> Path:
    """results/ from results/{world}/provenance/{artifact}.json."""
    return Path(provenance_file).parents[2]


def run_summary(config: Mapping, root, world: str, report_file: str = "results/report.html") -> list[str]:
    """The lines Snakemake prints when a run succeeds (the Snakefile's `onsuccess`): where the tables, figures
    and provenance records of the config's report are, and the command for the HTML report. Only files that
    exist are named (a run of part of the DAG names what it has)."""
    tables, figures, records = [], [], []
    for name in report_items(config["report"]):
        for file in item_outputs(config, root, world, name):
            if Path(file).is_file() and file.endswith((".md", ".png")):
                (tables if file.endswith(".md") else figures).append(Path(file))
        if paths.provenance(root, world, name).is_file():
            records.append(name)
    if not (tables or figures):
        return []
    lines = [f"Results of world {world!r}:"]
    if tables:
        lines.append(f"  tables      {', '.join(str(t) for t in tables)}  (also .csv, .tex)")
    if figures:
        lines.append(f"  figures     {figures[0].parent}/  {', '.join(f.name for f in figures)}")
    if records:
        lines.append(f"  provenance  {paths.provenance(root, world, records[0]).parent}/  (one record per table "
                     "and figure: python -m erasure.report.lineage <file>)")
    lines.append(f"  HTML report snakemake --report {report_file}")
    return lines
