# Summaries: each per-image score file's summary derived from it by its own job, so a hand-edited per-image
# file flows into its summary and every table and figure. Its own file, so that a workflow of the report rules
# alone (tests/report) derives summaries as the full one does.

localrules:
    summarize_score,


rule summarize_score:
    """A score file's summary (n, mean, bootstrap interval; erasure.metrics.summary) derived from the per-image
    file by its own job, so a per-image file edited by hand (a lab reviewing detector false positives) reruns
    its summary, and through it every table and figure. Set-level metrics (FID) derive theirs from their
    one-row score file the same way. A local job (a cluster job's queueing would dwarf it) running a shim that
    imports pandas and erasure.metrics.summary only: about half a second of interpreter and imports, the
    work itself milliseconds. Not a `run:` block: Snakemake spawns a whole Snakemake process, which re-reads
    the workflow, for each `run:` job of a local run (measured ~10 s a job here)."""
    input:
        pattern(paths.score_csv, "{metric}", "{method}", "{promptset}"),
    output:
        pattern(paths.score_summary, "{metric}", "{method}", "{promptset}"),
    log:
        log_path("summarize_score", "{metric}", "{method}", "{promptset}"),
    benchmark:
        benchmark_path("summarize_score", "{metric}", "{method}", "{promptset}")
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../envs/report.yaml"
    script:
        "../workflow_scripts/summarize_score.py"
