#!/usr/bin/env bash
# The CPU results of all four benchmarks -> bench/results/cpu.json (about 15 minutes on 2 busy cores).
#   bash bench/run_cpu.sh [RESULTS_DIR_OF_A_COMPLETED_TOY_RUN]
set -eu
cd "$(dirname "$0")/.."
T="${BENCH_THREADS:-2}"
W="$(mktemp -d)"
N="nice -n ${BENCH_NICE:-10}"
$N python bench/sdd_iteration.py --world toy --threads "$T" --repeats 7 --warmup 1 --library-iters 10 --json "$W/sdd_toy.json" >/dev/null
$N python bench/sdd_iteration.py --world sd --reduced --threads "$T" --no-components --json "$W/sdd_sd14_reduced.json" >/dev/null
$N python bench/generation.py --world toy --threads "$T" --batch 8 --repeats 2 --warmup 1 --json "$W/generation_toy.json" >/dev/null
$N python bench/scorers.py --threads "$T" --json "$W/scorers.json" >/dev/null
$N python bench/dag.py --repeats 3 ${1:+--results "$1"} --json "$W/dag.json" >/dev/null
python bench/collect.py bench/results/cpu.json "$W"/sdd_toy.json "$W"/sdd_sd14_reduced.json "$W"/generation_toy.json \
    "$W"/scorers.json "$W"/dag.json
echo "bench/results/cpu.json (parts in $W)"
