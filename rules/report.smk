# Report: tables (Table 1 / 2), training curves (Fig. 5), sample grids, removal matrices (Fig. 2), the
# erasure-retention frontier, and the
# provenance of each. One rule per kind, one job per configured item: params hold exactly the item's spec
# (plus what the script derives from the config), so editing one item's settings reruns that item alone
# (and its provenance).


from erasure.report import targets as report_plan
from erasure.report.paper import paper_values, published_values
from erasure.report.provenance import config_snapshot

REPORT = config["report"]
try:
    REPORT_ITEMS = report_plan.report_items(REPORT)
except ErasureError as error:
    sys.exit(f"error: {error}")


report: "../report/workflow.rst"


REPORT_RESOURCES = {"mem_mb": 2000, "runtime": 15}


rule report_table:
    """A report table (e.g. Table 1) from its score summaries: CSV (long), Markdown, LaTeX (booktabs)."""
    input:
        unpack(lambda wc: report_plan.item_inputs(config, RESULTS, wc.world, wc.table)),
    output:
        csv=report(pattern(paths.table, "{table}", "csv"), caption="../report/table.rst", category="Tables",
                   labels={"table": "{table}", "file": "CSV"}),
        md=pattern(paths.table, "{table}", "md"),
        tex=pattern(paths.table, "{table}", "tex"),
    wildcard_constraints:
        table=report_plan.names_regex(REPORT, "tables"),
    params:
        spec=lambda wc: REPORT["tables"][wc.table],
        paper=lambda wc: paper_values(REPORT["tables"][wc.table].get("paper"), REPORT["tables"][wc.table]["methods"],
                                      config, REPORT["tables"][wc.table]["columns"]),
        # the pinned published figures whose setting is ours, and why the others are not shown
        published=lambda wc: published_values(REPORT["tables"][wc.table]["methods"], config,
                                              REPORT["tables"][wc.table]["columns"]),
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
        unpack(lambda wc: report_plan.item_inputs(config, RESULTS, wc.world, wc.curve)),
    output:
        figure=report(pattern(paths.figure, "{curve}"), caption="../report/curves.rst", category="Training curves",
                      labels={"figure": "{curve}"}),
    wildcard_constraints:
        curve=report_plan.names_regex(REPORT, "curves"),
    params:
        spec=lambda wc: REPORT["curves"][wc.curve],
        train_logs=lambda wc: {run: str(paths.train_log(RESULTS, wc.world, run))
                               for run in report_plan.curve_runs(REPORT["curves"][wc.curve])},
        run_methods=lambda wc: {run: config["runs"][run]["method"]
                                for run in report_plan.curve_runs(REPORT["curves"][wc.curve])},
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
        unpack(lambda wc: report_plan.item_inputs(config, RESULTS, wc.world, wc.grid)),
    output:
        figure=report(pattern(paths.figure, "{grid}"), caption="../report/grid.rst", category="Sample grids",
                      labels={"figure": "{grid}"}),
    wildcard_constraints:
        grid=report_plan.names_regex(REPORT, "grids"),
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
        unpack(lambda wc: report_plan.item_inputs(config, RESULTS, wc.world, wc.matrix)),
    output:
        heatmap=report(pattern(paths.figure, "{matrix}"), caption="../report/matrix.rst",
                       category="Removal matrices", labels={"figure": "{matrix}", "view": "heatmap"}),
        images=report(pattern(paths.figure, "{matrix}-images"), caption="../report/matrix-images.rst",
                      category="Removal matrices", labels={"figure": "{matrix}", "view": "images"}),
        csv=pattern(paths.table, "{matrix}", "csv"),
    wildcard_constraints:
        matrix=report_plan.names_regex(REPORT, "matrices"),
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


rule report_frontier:
    """Erasure-retention frontier: target rate vs retention, a curve per method over its checkpoints."""
    input:
        unpack(lambda wc: report_plan.item_inputs(config, RESULTS, wc.world, wc.frontier)),
    output:
        figure=report(pattern(paths.figure, "{frontier}"), caption="../report/frontier.rst",
                      category="Erasure-retention frontier", labels={"figure": "{frontier}"}),
        csv=pattern(paths.table, "{frontier}", "csv"),
    wildcard_constraints:
        frontier=report_plan.names_regex(REPORT, "frontiers"),
    params:
        spec=lambda wc: REPORT["frontiers"][wc.frontier],
        style=REPORT["style"],
    log:
        log_path("report_frontier", "{frontier}"),
    benchmark:
        benchmark_path("report_frontier", "{frontier}")
    threads: 1
    resources:
        **REPORT_RESOURCES,
    conda:
        "../envs/report.yaml"
    script:
        "../workflow_scripts/report_frontier.py"


rule report_provenance:
    """The audit trail of one table or figure: the closure over the job records behind it (erasure.records),
    as JSON (python -m erasure.report.lineage) and W3C PROV-JSON."""
    input:
        unpack(lambda wc: report_plan.provenance_inputs(config, RESULTS, wc.world, wc.artifact)),
    output:
        json=report(pattern(paths.provenance, "{artifact}"), caption="../report/provenance.rst", category="Provenance",
                    labels={"artifact": "{artifact}"}),
        prov=pattern(paths.provenance_prov, "{artifact}"),
    wildcard_constraints:
        artifact=paths.one_of(sorted(REPORT_ITEMS)),
    params:
        artifact=lambda wc: wc.artifact,
        kind=lambda wc: report_plan.KINDS[REPORT_ITEMS[wc.artifact][0]][0],
        producer=lambda wc: report_plan.KINDS[REPORT_ITEMS[wc.artifact][0]][1],
        spec=lambda wc: REPORT_ITEMS[wc.artifact][1],
        config=lambda wc: config_snapshot(config, report_plan.KINDS[REPORT_ITEMS[wc.artifact][0]][0],
                                          REPORT_ITEMS[wc.artifact][1]),
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
