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
from erasure.report.frontier import frontier_cells, frontier_inputs
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
        inputs = {"summaries": [str(paths.score_summary(root, world, metric, method, promptset))
                                for method, promptset, metric in cells]}
        # a cell of a run with several training replicates is recomputed from every replicate's per-image
        # scores (erasure.report.tables.add_replicates); a table of single runs has no such input
        replicates = [str(paths.score_csv(root, world, metric, m, promptset)) for method, promptset, metric in cells
                      if len(methods := plan.method_replicates(config, method)) > 1 for m in methods]
        if replicates:
            inputs["replicates"] = replicates
        return inputs
    if key == "frontiers":
        inputs = frontier_inputs(root, world, spec)
        # replicates r >= 1 of a run with several training seeds (replicate 0 is among `scores`)
        replicates = [str(paths.score_csv(root, world, metric, r, promptset))
                      for metric, method, promptset in frontier_cells(spec)
                      for r in plan.method_replicates(config, method)[1:]]
        if replicates:
            inputs["replicates"] = replicates
        return inputs
    promptset = spec["promptset"]
    if key == "curves":
        inputs = {"summaries": [str(paths.score_summary(root, world, spec["metric"], m, promptset))
                                for m in curve_methods(spec)],
                  "complete": [str(paths.run_complete(root, world, run)) for run in curve_runs(spec)]}
        # a checkpoint of a run with several replicates: every replicate's per-image scores (the band over seeds)
        replicates = [str(paths.score_csv(root, world, spec["metric"], r, promptset)) for m in curve_methods(spec)
                      if len(methods := plan.method_replicates(config, m)) > 1 for r in methods]
        if replicates:
            inputs["replicates"] = replicates
        return inputs
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
    """The artifact's own files, everything its rule read, and every file upstream of those that the record
    hashes (erasure.report.provenance.closure: score CSVs, manifests, shard manifests, prompt tables and their
    source files, complete.json, the base model's files, scorer backbones and references), so that a change to
    any of them reruns the provenance job."""
    from erasure.report.provenance import closure

    outputs = item_outputs(config, root, world, name)
    direct = item_inputs(config, root, world, name)
    inputs = [f for files in direct.values() for f in ([files] if isinstance(files, str) else files)]
    upstream = [f for f in closure(inputs, root=root, world=world, config=config) if f not in set(inputs + outputs)]
    return {"outputs": outputs, "inputs": inputs, "upstream": upstream}


def provenance_sources(config: Mapping, root, world: str, name: str) -> dict[str, list[str]]:
    """The files from outside results/ behind the artifact, as found while planning ({upstream key: files}):
    the provenance job walks these rather than looking again on whatever machine it runs on."""
    from erasure.report.provenance import resolve_sources

    return resolve_sources(provenance_inputs(config, root, world, name)["inputs"], root=root, world=world,
                           config=config)


def report_targets(config: Mapping, root, world: str) -> list[str]:
    """Every table, figure and provenance file the config's report section asks for."""
    targets = []
    for name in report_items(config["report"]):
        targets += item_outputs(config, root, world, name)
        targets.append(str(paths.provenance(root, world, name)))
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
