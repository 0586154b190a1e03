# Generate: prompt tables, then one job per shard of each (method, prompt set) image set, then its manifest.
# Methods: inference-time (config inference_methods) or fine-tuned `{run}@{step}` / `{run}.student@{step}`.


# Minutes per shard: the cost model's (erasure.cost) with its margin, else the world's request (erasure.worlds).
GENERATE_RUNTIME = cost_runtime("generate")


localrules:
    merge_manifest,  # a pandas concat: not worth a cluster job
    fetch_prompts,  # downloads: on the login node, as compute nodes are often offline
    q16_prompts,


rule images:
    """Target: stop after generation: every job of `all` up to its image sets (erasure.plan.stage_targets)."""
    input:
        image_targets(),


rule fetch_prompts:
    """An upstream prompt file we do not ship: the configured local path (an input: editing it refreshes the
    copy), or a download (pinned sha256)."""
    input:
        unpack(fetch_prompts_input),
    output:
        str(prompt_source(RESULTS, "{world}", "{promptset}")),
    params:
        name="{promptset}",
        # a local copy wins over the URL, so the URL is a param only where it is what gets read
        url=lambda wildcards: None if fetch_prompts_path(wildcards) else promptset_spec(wildcards).get("url"),
        path=fetch_prompts_path,
        sha256=lambda wildcards: promptset_spec(wildcards).get("sha256"),
    log:
        log_path("fetch_prompts", "{promptset}"),
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    conda:
        "../envs/generate.yaml"
    script:
        "../workflow_scripts/fetch_prompts.py"


rule prompts:
    """A prompt set as one normalised table: prompt_id, prompt, seed, guidance + metadata."""
    input:
        unpack(prompt_source_input),
    output:
        pattern(paths.prompt_table, "{promptset}"),
    params:
        name="{promptset}",
        spec=prompt_table_spec,
        guidance=lambda wildcards: promptset_sampling(wildcards)["guidance"],
    log:
        log_path("prompts", "{promptset}"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/generate.yaml"
    script:
        "../workflow_scripts/prompts.py"


rule generate_shard:
    """One shard of one image set: draws the missing `{prompt_id}_{seed}.png`, writes the shard manifest."""
    input:
        **GENERATE_INPUTS,
    output:
        pattern(paths.shard_manifest, "{method}", "{promptset}", "{shard}"),
    params:
        **generate_params("{shard}", depth=5),  # .../{promptset}/shards/{shard}.csv
    log:
        log_path("generate_shard", "{method}", "{promptset}", "{shard}"),
    benchmark:
        benchmark_path("generate_shard", "{method}", "{promptset}", "{shard}")
    threads: job_threads("generate")
    resources:
        mem_mb=job_resources("generate").mem_mb,
        runtime=GENERATE_RUNTIME,
        gpu=gpu_resources(),
    conda:
        "../envs/generate.yaml"
    script:
        "../workflow_scripts/generate_shard.py"


rule generate_set:
    """An image set of one shard (most toy sets): generate_shard's work and the set's manifest.csv in one job,
    so that no second process starts only to copy one shard manifest. Sets of several shards use
    generate_shard + merge_manifest (ruleorder below)."""
    input:
        **GENERATE_INPUTS,
    output:
        pattern(paths.manifest, "{method}", "{promptset}"),
    wildcard_constraints:
        promptset=one_shard_promptsets(),
    params:
        **generate_params("0000", depth=4),  # .../{promptset}/manifest.csv
        shard_manifest=lambda wildcards: str(paths.shard_manifest(RESULTS, wildcards.world, wildcards.method,
                                                                  wildcards.promptset, 0)),
        expected=lambda wildcards: plan.n_images(config, wildcards.promptset),
    log:
        log_path("generate_set", "{method}", "{promptset}"),
    benchmark:
        benchmark_path("generate_set", "{method}", "{promptset}")
    threads: job_threads("generate")
    resources:
        mem_mb=job_resources("generate").mem_mb,
        runtime=GENERATE_RUNTIME,
        gpu=gpu_resources(),
    conda:
        "../envs/generate.yaml"
    script:
        "../workflow_scripts/generate_shard.py"


ruleorder: generate_set > merge_manifest


rule merge_manifest:
    """The image set's manifest.csv: prompt_id, seed, method, run, step, sha256, path (relative)."""
    input:
        shard_manifests,
    output:
        pattern(paths.manifest, "{method}", "{promptset}"),
    params:
        expected=lambda wildcards: plan.n_images(config, wildcards.promptset),
    log:
        log_path("merge_manifest", "{method}", "{promptset}"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/generate.yaml"
    script:
        "../workflow_scripts/merge_manifest.py"
