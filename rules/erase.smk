# Erase: fine-tune the base model (SDD, sdd+retain, ESD-x, ESD-u, SalUn), one job per run of config["runs"].
# Checkpoint directories are NOT outputs (Snakemake would delete them before a rerun); complete.json is,
# so a killed job, rerun, resumes from its last complete checkpoint of the same settings.


rule erase:
    """Train one fine-tuning run; resumes from the last complete checkpoint of the same settings."""
    input:
        base_model_input(),
        preflight=preflight_gate_input(),
        # the base model's image sets a method trains on (SalUn's D_f / D_r), none for the others
        image_sets=lambda wildcards: list(run_image_sets(wildcards).values()),
    output:
        pattern(paths.run_complete, "{run}"),
    params:
        run=lambda wildcards: wildcards.run,
        method=lambda wildcards: run_config(wildcards.run)["method"],
        preset=lambda wildcards: run_config(wildcards.run).get("preset"),
        concepts=lambda wildcards: run_config(wildcards.run)["concepts"],
        iterations=lambda wildcards: run_config(wildcards.run)["iterations"],
        checkpoint_every=lambda wildcards: run_config(wildcards.run)["checkpoint_every"],
        settings=lambda wildcards: run_config(wildcards.run).get("settings", {}),
        # replicate r (run `{run}.r{r}`) trains with the run's seed + r (erasure.plan.run_seed)
        seed=lambda wildcards: plan.run_seed(config, wildcards.run),
        base_model=config["base_model"],
        # the results root, from the output path results/{world}/models/{run}/complete.json
        results=lambda wildcards, output: str(Path(output[0]).parents[3]),
        device=config["device"],
        image_sets=run_image_sets,
    log:
        log_path("erase", "{run}"),
    benchmark:
        benchmark_path("erase", "{run}")
    threads: job_threads("erase")
    # training heads the longest chains (train -> generate at each checkpoint -> score), so it starts first
    priority: 10
    resources:
        # the world's memory; minutes from the cost model (erasure.cost), else the world's request (erasure.worlds)
        mem_mb=job_resources("erase").mem_mb,
        runtime=cost_runtime("erase"),
        gpu=gpu_resources(),
        # cluster.large_gpu_constraint for a run whose modelled peak GPU memory exceeds cluster.gpu_memory_gb
        # (ESD-u: erasure.cost.model.erase_constraint); None: no --constraint
        constraint=erase_constraint,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/erase.py"
