# Preflight: what the DAG reads from outside itself (base weights, scorer backbones, prompt files, the FID
# reference, a GPU), checked before any GPU job starts (erasure.preflight). `snakemake preflight` prints the
# check for any config; `preflight_gate` is an input of every job that loads weights in a world that reads them from outside, so
# the workflow starts no GPU job while an item is missing. It runs after what the DAG itself can supply
# (fetched prompt files, Q16's converted prompts, stand-ins), so it only fails on what a person must provide.
# A world that reads nothing from outside the repository (erasure.worlds: preflight_gate) has no gate.


localrules:
    preflight,
    preflight_gate,
    standins,


rule preflight:
    """Target: print the preflight check of this config (one line per item); fails while an item is missing."""
    params:
        configfiles=PREFLIGHT_CONFIGFILES,
        results=str(RESULTS),
    log:
        str(Path(RESULTS, "logs", "preflight.log")),
    conda:
        "../envs/score-clip.yaml"
    script:
        "../workflow_scripts/preflight.py"


rule preflight_gate:
    """The preflight check as a DAG node: every weight-loading job of a gated world waits for it."""
    input:
        preflight_gate_sources,
    output:
        str(Path(RESULTS, "{world}", "preflight.txt")),
    params:
        # no config-file paths here: the same config from another file must not rerun the check
        results=lambda wildcards, output: str(Path(output[0]).parents[1]),
    log:
        log_path("preflight_gate"),
    conda:
        "../envs/score-clip.yaml"
    script:
        "../workflow_scripts/preflight.py"


if config.get("standins"):

    rule standins:
        """Stand-in weights (tiny, random, real architectures' configs) for CI / demos: erasure.standins."""
        output:
            directory(config["standins"]),
        log:
            str(Path(RESULTS, "logs", "standins.log")),
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        conda:
            "../envs/train.yaml"
        script:
            "../workflow_scripts/standins.py"
