"""What a config's plan costs before it runs: GPU-hours and CPU core-hours per rule and in total, from a
throughput table per GPU model (`throughput.csv`, erasure.cost.table) and the jobs the plan lists
(erasure.cost.model). `python -m erasure.cost CONFIG` prints it; `snakemake preflight` prints it too; the
rules' runtime requests come from the same model (rules/common.smk: `cost_runtime`)."""
