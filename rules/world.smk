# The toy world's own rules (erasure/worlds/toy/world.py: built_stages): its base model (retrained on demand) and
# held-out real toy images for FID-toy (its reference_sets). Rule names are command-line targets.


rule toy_base:
    """Train the toy world's base from scratch (the shipped asset was made this way)."""
    output:
        directory(str(worlds.get_world("toy").built_base_dir("toy:trained", RESULTS))),
    params:
        recipe=config["toy_base"]["recipe"],
        seed=config["toy_base"]["seed"],
    log:
        str(Path(RESULTS, "toy", "logs", "toy_base.log")),
    benchmark:
        str(Path(RESULTS, "toy", "benchmarks", "toy_base.tsv"))
    threads: 8  # scaled down to --cores by Snakemake
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=gpu_resources(),
    conda:
        "../envs/toy.yaml"
    script:
        "../workflow_scripts/toy_base.py"


rule toy_reference:
    """Held-out real toy images (seeds never used in training): the FID-toy reference set."""
    output:
        directory(str(paths.reference_dir(RESULTS, "toy"))),
    params:
        n=config.get("metrics", {}).get("fid-toy", {}).get("reference_images", 1000),
        seed=10_000_019,
    log:
        str(Path(RESULTS, "toy", "logs", "toy_reference.log")),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/toy.yaml"
    script:
        "../workflow_scripts/toy_reference.py"
