# Edit: closed-form erasure methods (UCE, RECE, MACE), one job per run of config["runs"] whose method is one.
# Same output as the erase rule (models/{run}/complete.json), so {run}@{step} is generated, scored and
# reported exactly as a fine-tuning run's checkpoints are.


from erasure.methods.edit import CLOSED_FORM

EDIT_RUNS = sorted(run for run, spec in config["runs"].items() if spec["method"] in CLOSED_FORM)


ruleorder: edit > erase


rule edit:
    """Edit the base model in closed form (UCE; RECE's rounds; MACE's three stages); write each checkpoint as a
    run's."""
    input:
        base_model_input(),
        run_backbone_files,  # MACE's Grounded-SAM (masks: grounded-sam); none for the other edits
        preflight=preflight_gate_input(),
        # caption statistics a method reads (MACE's prior-preservation cache), none for the others; the edit finds
        # them at erasure.paths.caption_stats itself (no param: existing UCE / RECE jobs keep their params)
        caption_stats=lambda wildcards: list(run_caption_stats(wildcards).values()),
    output:
        pattern(paths.run_complete, "{run}"),
    wildcard_constraints:
        run=paths.one_of(EDIT_RUNS),
    params:
        run=lambda wildcards: wildcards.run,
        method=lambda wildcards: config["runs"][wildcards.run]["method"],
        preset=lambda wildcards: config["runs"][wildcards.run].get("preset"),
        concepts=lambda wildcards: config["runs"][wildcards.run]["concepts"],
        iterations=lambda wildcards: config["runs"][wildcards.run]["iterations"],
        checkpoint_every=lambda wildcards: config["runs"][wildcards.run]["checkpoint_every"],
        settings=lambda wildcards: config["runs"][wildcards.run].get("settings", {}),
        seed=lambda wildcards: config["runs"][wildcards.run].get("seed", 0),
        base_model=config["base_model"],
        # the results root, from the output path results/{world}/models/{run}/complete.json
        results=lambda wildcards, output: str(Path(output[0]).parents[3]),
        device=edit_device,  # the GPU the job got (auto), or the CPU for a CPU edit on a GPU cluster
    log:
        log_path("edit", "{run}"),
    benchmark:
        benchmark_path("edit", "{run}")
    threads: 1
    priority: 10
    resources:
        # the world's memory; minutes from the cost model (erasure.cost: a CPU solve, or MACE's generation +
        # LoRA training on the GPU), else the world's request (erasure.worlds)
        mem_mb=job_resources("edit").mem_mb,
        runtime=cost_runtime("edit"),
        # UCE / RECE: a closed-form solve (float64) after one text-encoder pass, the CPU's work, no GPU held;
        # a method whose spec says edit_gpu (MACE) asks for the cluster's GPU (erasure.methods.specs)
        gpu=edit_gpu_resources,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/erase.py"  # one shim makes a run of either kind


rule caption_stats:
    """A caption prompt set's token statistics under the base model's text encoder (MACE's prior-preservation
    cache, Shilin-LU/MACE src/cache_coco.py: Σ c cᵀ over every token of every caption), computed once and read by
    every run that names the set (erasure.methods.mace.prior_statistics)."""
    input:
        base_model_input(),
        preflight=preflight_gate_input(),
        prompts=pattern(paths.prompt_table, "{promptset}"),
    output:
        pattern(paths.caption_stats, "{promptset}"),
    params:
        name="{promptset}",
        base_model=config["base_model"],
        results=lambda wildcards, output: str(Path(output[0]).parents[3]),  # .../{world}/resources/caption-stats/
        device=config["device"],
    log:
        log_path("caption_stats", "{promptset}"),
    benchmark:
        benchmark_path("caption_stats", "{promptset}")
    threads: 1
    resources:
        # one text-encoder pass per caption (CLIP ViT-L/14's text tower: ~19 GFLOP a 77-token caption): SD's
        # 616,767 COCO captions are ~8 min on one GPU (erasure.cost: caption_stats_seconds), days on a CPU core;
        # the toy's few thousand take a second
        mem_mb=job_resources("edit").mem_mb,
        runtime=cost_runtime("caption_stats"),
        gpu=gpu_resources(),
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/caption_stats.py"
