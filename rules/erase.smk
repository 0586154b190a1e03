# Erase: fine-tune the base model (SDD, sdd+retain, ESD-x, ESD-u), one job per run of config["runs"].
# Checkpoint directories are NOT outputs (Snakemake would delete them before a rerun); complete.json is,
# so a killed job, rerun, resumes from its last complete checkpoint.


def run_param(key, default=None):
    """A param function reading config["runs"][run][key]."""
    return lambda wildcards: config["runs"][wildcards.run].get(key, default)


def erase_mem_mb(wildcards):
    return 4000 if WORLD == "toy" else 48000


def erase_runtime(wildcards):
    """Minutes: toy runs take ~1-2 min on one core; SD v1.4 ~1 h per 1000 iterations on a 24 GB GPU."""
    its = config["runs"][wildcards.run]["iterations"]
    return 30 if WORLD == "toy" else 60 + its // 10


rule erase:
    """Train one fine-tuning run; resumes from the last complete checkpoint of the same settings."""
    input:
        base_model_input(),
    output:
        pattern(paths.run_complete, "{run}"),
    params:
        run=lambda wildcards: wildcards.run,
        method=run_param("method"),
        preset=run_param("preset"),
        concepts=run_param("concepts"),
        iterations=run_param("iterations"),
        checkpoint_every=run_param("checkpoint_every"),
        settings=run_param("settings", {}),
        seed=run_param("seed", 0),
        base_model=config["base_model"],
        results=config["results"],
        device=config["device"],
    log:
        log_path("erase", "{run}"),
    benchmark:
        benchmark_path("erase", "{run}")
    threads: 1
    resources:
        mem_mb=erase_mem_mb,
        runtime=erase_runtime,
        gpu=gpu_resources(),
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/erase.py"
