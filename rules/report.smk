# Report: tables (Table 1 / 2), training curves (Fig. 5), sample grids, removal matrices (Fig. 2), and the
# provenance of each. One rule per kind, one job per configured item: params hold exactly the item's spec
# (plus what the script derives from the config), so editing one item's settings reruns that item alone
# (and its provenance).

import re

from erasure.report.paper import paper_values
from erasure.report.provenance import config_snapshot
from erasure.report.tables import expected_cells

REPORT = config["report"]
REPORT_KINDS = {  # config key -> (kind, rule that draws it)
    "tables": ("table", "report_table"),
    "curves": ("curve", "report_curves"),
    "grids": ("grid", "report_grid"),
    "matrices": ("matrix", "report_matrix"),
}


report: "../report/workflow.rst"


def report_items():
    """{artifact name: (config key, spec)}; names are unique across kinds (they share figures/, tables/,
    provenance/), and no figure is named like a matrix's image view ({matrix}-images)."""
    items = {}
    for key in REPORT_KINDS:
        for name, spec in REPORT.get(key, {}).items():
            if name in items:
                raise ErasureError(f"report.{key}.{name}: name already used by report.{items[name][0]}; "
                                   "report names share figures/ and provenance/, rename one")
            items[name] = (key, spec)
    for name in REPORT.get("matrices", {}):
        if f"{name}-images" in items:
            raise ErasureError(f"report: {name}-images clashes with matrix {name!r}'s image figure; rename it")
    return items


try:
    REPORT_ITEMS = report_items()
except ErasureError as error:
    sys.exit(f"error: {error}")


def _names_regex(key):
    names = sorted(REPORT.get(key, {}))
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


def _world_path(function, world, *args):
    return str(function(RESULTS, world, *args))


def table_files(world, name):
    """Summaries of every cell but the paired metrics' reference method (SD vs itself: the paper's N/A)."""
    cells = expected_cells(REPORT["tables"][name], plan.reference_method(config))
    return {"summaries": [_world_path(paths.score_summary, world, metric, method, promptset)
                          for method, promptset, metric in cells]}


def curve_methods(spec):
    methods = [paths.MethodId.of(series["run"], step, student=series.get("which") == "student").name
               for series in spec["series"] for step in series["steps"]]
    return methods + ([spec["baseline"]] if spec.get("baseline") else [])


def curve_runs(spec):
    return list(dict.fromkeys(series["run"] for series in spec["series"]))


def curve_files(world, name):
    spec = REPORT["curves"][name]
    return {
        "summaries": [_world_path(paths.score_summary, world, spec["metric"], method, spec["promptset"])
                      for method in curve_methods(spec)],
        "complete": [_world_path(paths.run_complete, world, run) for run in curve_runs(spec)],
    }


def grid_files(world, name):
    spec = REPORT["grids"][name]
    return {"manifests": [_world_path(paths.manifest, world, m, spec["promptset"]) for m in spec["methods"]],
            "prompts": _world_path(paths.prompt_table, world, spec["promptset"])}


def matrix_files(world, name):
    spec = REPORT["matrices"][name]
    promptset = spec["promptset"]
    return {"scores": [_world_path(paths.score_csv, world, spec["metric"], m, promptset) for m in spec["methods"]],
            "manifests": [_world_path(paths.manifest, world, m, promptset) for m in spec["methods"]],
            "prompts": _world_path(paths.prompt_table, world, promptset)}


REPORT_FILES = {"tables": table_files, "curves": curve_files, "grids": grid_files, "matrices": matrix_files}


def artifact_outputs(name, world):
    """The files a report item's rule writes."""
    key, _ = REPORT_ITEMS[name]
    if key == "tables":
        return [_world_path(paths.table, world, name, ext) for ext in ("csv", "md", "tex")]
    if key == "matrices":
        return [_world_path(paths.figure, world, name), _world_path(paths.figure, world, f"{name}-images"),
                _world_path(paths.table, world, name, "csv")]
    return [_world_path(paths.figure, world, name)]


def provenance_inputs(wildcards):
    """The artifact's own files, then everything its rule read."""
    key, _ = REPORT_ITEMS[wildcards.artifact]
    upstream = REPORT_FILES[key](wildcards.world, wildcards.artifact)
    inputs = [f for files in upstream.values() for f in ([files] if isinstance(files, str) else files)]
    return {"outputs": artifact_outputs(wildcards.artifact, wildcards.world), "inputs": inputs}


REPORT_RESOURCES = {"mem_mb": 2000, "runtime": 15}


rule report_table:
    """A report table (e.g. Table 1) from its score summaries: CSV (long), Markdown, LaTeX (booktabs)."""
    input:
        unpack(lambda wc: table_files(wc.world, wc.table)),
    output:
        csv=report(pattern(paths.table, "{table}", "csv"), caption="../report/table.rst", category="Tables",
                   labels={"table": "{table}", "file": "CSV"}),
        md=pattern(paths.table, "{table}", "md"),
        tex=pattern(paths.table, "{table}", "tex"),
    wildcard_constraints:
        table=_names_regex("tables"),
    params:
        spec=lambda wc: REPORT["tables"][wc.table],
        paper=lambda wc: paper_values(REPORT["tables"][wc.table].get("paper"), REPORT["tables"][wc.table]["methods"],
                                      config),
        reference_method=plan.reference_method(config),
    log:
        log_path("report_table", "{table}"),
    benchmark:
        benchmark_path("report_table", "{table}")
    threads: 1
    resources:
        **REPORT_RESOURCES,
    conda:
        "../envs/report.yaml"
    script:
        "../workflow_scripts/report_table.py"


rule report_curves:
    """Training curves (Fig. 5): the metric at each checkpoint per run, and the training loss."""
    input:
        unpack(lambda wc: curve_files(wc.world, wc.curve)),
    output:
        figure=report(pattern(paths.figure, "{curve}"), caption="../report/curves.rst", category="Training curves",
                      labels={"figure": "{curve}"}),
    wildcard_constraints:
        curve=_names_regex("curves"),
    params:
        spec=lambda wc: REPORT["curves"][wc.curve],
        train_logs=lambda wc: {run: _world_path(paths.train_log, wc.world, run)
                               for run in curve_runs(REPORT["curves"][wc.curve])},
        run_methods=lambda wc: {run: config["runs"][run]["method"] for run in curve_runs(REPORT["curves"][wc.curve])},
        style=REPORT["style"],
    log:
        log_path("report_curves", "{curve}"),
    benchmark:
        benchmark_path("report_curves", "{curve}")
    threads: 1
    resources:
        **REPORT_RESOURCES,
    conda:
        "../envs/report.yaml"
    script:
        "../workflow_scripts/report_curves.py"


rule report_grid:
    """Samples per method (rows) for fixed prompts and seeds (columns), Fig. 3/6/7 style."""
    input:
        unpack(lambda wc: grid_files(wc.world, wc.grid)),
    output:
        figure=report(pattern(paths.figure, "{grid}"), caption="../report/grid.rst", category="Sample grids",
                      labels={"figure": "{grid}"}),
    wildcard_constraints:
        grid=_names_regex("grids"),
    params:
        spec=lambda wc: REPORT["grids"][wc.grid],
        style=REPORT["style"],
    log:
        log_path("report_grid", "{grid}"),
    benchmark:
        benchmark_path("report_grid", "{grid}")
    threads: 1
    resources:
        **REPORT_RESOURCES,
    conda:
        "../envs/report.yaml"
    script:
        "../workflow_scripts/report_grid.py"


rule report_matrix:
    """Erased concept x prompted concept (Fig. 2): heatmap of per-image scores, image grid, values CSV."""
    input:
        unpack(lambda wc: matrix_files(wc.world, wc.matrix)),
    output:
        heatmap=report(pattern(paths.figure, "{matrix}"), caption="../report/matrix.rst",
                       category="Removal matrices", labels={"figure": "{matrix}", "view": "heatmap"}),
        images=report(pattern(paths.figure, "{matrix}-images"), caption="../report/matrix-images.rst",
                      category="Removal matrices", labels={"figure": "{matrix}", "view": "images"}),
        csv=pattern(paths.table, "{matrix}", "csv"),
    wildcard_constraints:
        matrix=_names_regex("matrices"),
    params:
        spec=lambda wc: REPORT["matrices"][wc.matrix],
        style=REPORT["style"],
    log:
        log_path("report_matrix", "{matrix}"),
    benchmark:
        benchmark_path("report_matrix", "{matrix}")
    threads: 1
    resources:
        **REPORT_RESOURCES,
    conda:
        "../envs/report.yaml"
    script:
        "../workflow_scripts/report_matrix.py"


rule report_provenance:
    """The audit trail of one table or figure: upstream artifacts with sha256, jobs, config, git, packages."""
    input:
        unpack(provenance_inputs),
    output:
        report(pattern(paths.provenance, "{artifact}"), caption="../report/provenance.rst", category="Provenance",
               labels={"artifact": "{artifact}"}),
    wildcard_constraints:
        artifact="|".join(re.escape(n) for n in sorted(REPORT_ITEMS)) or "(?!)",
    params:
        artifact=lambda wc: wc.artifact,
        kind=lambda wc: REPORT_KINDS[REPORT_ITEMS[wc.artifact][0]][0],
        producer=lambda wc: REPORT_KINDS[REPORT_ITEMS[wc.artifact][0]][1],
        spec=lambda wc: REPORT_ITEMS[wc.artifact][1],
        config=lambda wc: config_snapshot(config, REPORT_KINDS[REPORT_ITEMS[wc.artifact][0]][0],
                                          REPORT_ITEMS[wc.artifact][1]),
        root=str(RESULTS),
        world=lambda wc: wc.world,
    log:
        log_path("report_provenance", "{artifact}"),
    benchmark:
        benchmark_path("report_provenance", "{artifact}")
    threads: 1
    resources:
        **REPORT_RESOURCES,
    conda:
        "../envs/report.yaml"
    script:
        "../workflow_scripts/report_provenance.py"


def report_targets():
    """Every table, figure and provenance file the config's report section asks for."""
    targets = []
    for name in REPORT_ITEMS:
        targets += artifact_outputs(name, WORLD)
        targets.append(_world_path(paths.provenance, WORLD, name))
    return targets
