
from erasure.metrics import catalog

# Scoring: one job per (metric, method, prompt set), one rule per metric (`score_lpips`, `score_fid`, ...) so
# that a failing job is reported under its metric's name and dropping a metric never reruns another; each
# rule's conda env, GPU flag and backbone come from the metric's entry in erasure.metrics.catalog (NudeNet's
# onnxruntime and the CLIP/FID/LPIPS stack are installed separately). A world whose metrics take less time
# than a job's start (the toy's) scores a set's metrics in one job instead: the set rules further down.

for _spec in catalog.METRICS.values():

    rule:
        name:
            _spec.rule
        input:
            unpack(score_inputs),
            preflight=preflight_gate_input(),
        output:
            csv=pattern(paths.score_csv, "{metric}", "{method}", "{promptset}"),
        wildcard_constraints:
            metric=paths.one_of([_spec.name]),
        params:
            metric=lambda wc: wc.metric,
            settings=score_settings,
            reference=score_reference,
            device=config["device"],  # CLIP / Q16 / LPIPS / Inception run on it (auto: the job's GPU if any)
        log:
            log_path("score", "{metric}", "{method}", "{promptset}"),
        benchmark:
            benchmark_path("score", "{metric}", "{method}", "{promptset}")
        threads: job_threads("score")
        resources:
            mem_mb=job_resources("score").mem_mb,
            runtime=score_runtime,
            gpu=score_gpu_resources([_spec.name]),
        conda:
            f"../envs/{_spec.env}.yaml"
        script:
            "../workflow_scripts/score.py"


# A world that scores a set's metrics together (erasure.worlds: `score_sets_together`, the toy's): one job per
# image set, named after its metrics (erasure.plan.set_score_jobs), preferred over the per-metric rules above
# for the sets it lists. Its log and benchmark are per set: results/{world}/logs/score/{method}/{promptset}.log.
for _job in SCORE_SET_JOBS:

    rule:
        name:
            _job.rule
        input:
            unpack(lambda wildcards, _metrics=_job.metrics: score_set_inputs(wildcards, _metrics)),
            preflight=preflight_gate_input(),
        output:
            **score_set_outputs(_job.metrics),
        wildcard_constraints:
            method=paths.one_of(_job.methods),
            promptset=paths.one_of(_job.promptsets),
        params:
            metrics=list(_job.metrics),
            settings=lambda wildcards, _metrics=_job.metrics: score_set_settings(wildcards, _metrics),
            reference=lambda wildcards, input, _metrics=_job.metrics: score_set_references(wildcards, input, _metrics),
            device=config["device"],
        log:
            log_path("score", "{method}", "{promptset}"),
        benchmark:
            benchmark_path("score", "{method}", "{promptset}")
        threads: job_threads("score")
        resources:
            mem_mb=job_resources("score").mem_mb,
            runtime=score_runtime,
            gpu=score_gpu_resources(_job.metrics),
        conda:
            f"../envs/{_job.env}.yaml"
        script:
            "../workflow_scripts/score.py"

    for _metric in _job.metrics:
        workflow.ruleorder(_job.rule, catalog.get(_metric).rule)


FID_REFERENCES = fid_references()  # {key: settings}: each reference folder's statistics, computed once


rule fid_reference:
    """FID's reference statistics (Inception mean / covariance of a reference image folder, e.g. COCO val2014's
    40,504 images), computed once with provenance (.provenance.json): an input of every FID job that names the
    folder, instead of each job extracting the same features (erasure.metrics.fid.write_reference_statistics)."""
    input:
        sources=lambda wc: [str(f) for f in external_inputs.metric_files("fid", FID_REFERENCES[wc.key], config["world"],
                                                                 paths.listings(RESULTS, wc.world), BUILT)],
        preflight=preflight_gate_input(),
    output:
        stats=pattern(paths.fid_reference_stats, "{key}"),
    wildcard_constraints:
        key=paths.one_of(FID_REFERENCES),
    params:
        folder=lambda wc: str(external_inputs.dag_path(FID_REFERENCES[wc.key]["reference"])),
        inception=lambda wc: FID_REFERENCES[wc.key].get("inception"),
        inception_sha256=lambda wc: FID_REFERENCES[wc.key].get("inception_sha256"),
        batch_size=lambda wc: int(FID_REFERENCES[wc.key].get("batch_size", 32)),
        device=config["device"],
    log:
        log_path("fid_reference", "{key}"),
    benchmark:
        benchmark_path("fid_reference", "{key}")
    threads: job_threads("score")
    resources:
        mem_mb=job_resources("score").mem_mb,
        runtime=fid_reference_runtime,
        gpu=score_gpu_resources(["fid"]),
    conda:
        "../envs/score-clip.yaml"
    script:
        "../workflow_scripts/fid_reference.py"


rule scores:
    """Target: stop after scoring: every job of `all` up to its scores, no report (erasure.plan.stage_targets)."""
    input:
        score_targets(),


rule q16_prompts:
    """Q16's two prompt embeddings: the upstream pickle, sha256-checked, converted once to safetensors
    (nothing unpickles at scoring time). A local copy is an input; a URL (or none: the pinned one) a param."""
    input:
        unpack(q16_source_input),
    output:
        q16_prompts_path("{world}"),
    params:
        url=lambda wildcards: "" if "source" in q16_source_input(wildcards) else config["metrics"].get("harm", {}).get("q16_source", ""),
    log:
        log_path("q16_prompts"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/score-clip.yaml"
    script:
        "../workflow_scripts/q16_prompts.py"
