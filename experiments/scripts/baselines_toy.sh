#!/usr/bin/env bash
# Issue 39's toy must-show: the fourteen Table 1 methods side by side at n >= 40 images per prompt set
# (%TARGET on the body set, retention per shape, held-out wordings, white-box and Ring-A-Bell ASR, CPU seconds
# per run), from one Snakemake run of the workflow in a scratch working directory, then the summary figures.
#
#   experiments/scripts/baselines_toy.sh [WORKDIR] [OUT] [RUN_BENCHMARKS]   # defaults: /work/scratch/h39run, experiments/results/baselines-39
#
# RUN_BENCHMARKS: a results/toy folder of a fresh run of the training jobs alone, whose erase / edit benchmarks
# give the CPU s per run (a resumed erase job's benchmark is the resume's, not the training's).
#
# WORKDIR gets a `config` link to this checkout's config/ (the SalUn prompt files are read relative to it).
# Runs at the lowest CPU priority on 2 cores, --keep-going: a failed job leaves the others' figures.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:-/work/scratch/h39run}"
out="${2:-$repo/experiments/results/baselines-39}"
mkdir -p "$work"
ln -sfn "$repo/config" "$work/config"
configs=(config/config.yaml config/toy-baselines.yaml config/toy-frontier.yaml config/toy-attacks.yaml
         experiments/scripts/baselines_toy_n40.yaml)
cd "$repo"
# Table 1 and the frontier (held-out rows) first: a run stopped early then still has their cells
PYTHONPATH="$repo" nice -n 19 snakemake -s "$repo/Snakefile" -d "$work" --cores 2 --keep-going --rerun-incomplete \
    --prioritize results/toy/tables/table1.csv results/toy/tables/frontier.csv \
    --configfile "${configs[@]}" || echo "snakemake: some jobs failed (see $work/.snakemake/log); summarising what exists"
PYTHONPATH="$repo" nice -n 19 python experiments/scripts/baselines_toy_summary.py --results "$work/results/toy" --out "$out" \
    ${3:+--run-benchmarks "$3"}
