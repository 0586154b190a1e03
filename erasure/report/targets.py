"""What the report section of the config asks for, as files, for rules/report.smk: the kinds' table
(erasure.plan.REPORT_KINDS: what each kind shows, reads and makes, its rule and shim) lives in the planning
layer; here, what only the report rules need (wildcard constraints, the provenance job's inputs, the summary
printed after a run).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from erasure import paths
from erasure.plan import (REPORT_KINDS, curve_methods, curve_runs, item_inputs, item_outputs,  # noqa: F401 - the
                          report_items, report_targets)  # report rules' names (rules/report.smk: report_plan.*)

# config key -> (kind, rule that draws it, its wildcard), from the kinds' table
KINDS = {key: (kind.kind, kind.rule, kind.wildcard) for key, kind in REPORT_KINDS.items()}


def names_regex(report: Mapping, key: str) -> str:
    """A wildcard constraint matching exactly the item names of one kind (nothing when there are none)."""
    from erasure.paths import one_of

    return one_of(sorted(report.get(key) or {}))


def provenance_inputs(config: Mapping, root, world: str, name: str) -> dict[str, list[str]]:
    """The artifact's own files: the job records beside them (erasure.records) lead to everything upstream, and
    any upstream change remakes the artifact, so it reruns its provenance job too."""
    return {"outputs": item_outputs(config, root, world, name)}


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
