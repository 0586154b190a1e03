#!/usr/bin/env bash
# The CPU results of all four benchmarks -> bench/results/cpu.json (10-20 minutes on 2 busy cores).
#   bash bench/run_cpu.sh [RESULTS_DIR_OF_A_COMPLETED_TOY_RUN]
# One torch thread by default: on a shared 2-core machine two OpenMP threads spin-wait against other
# jobs (a toy SDD run measured ~6x the CPU time of one thread for the same work under load 11).
set -eu
cd "$(dirname "$0")/.."
T="${BENCH_THREADS:-1}"
W="$(mktemp -d)"
N="nice -n ${BENCH_NICE:-10}"
$N python bench/sdd_iteration.py --world toy --threads "$T" --repeats 5 --warmup 1 --library-iters 6 --json "$W/sdd_toy.json" >/dev/null
$N python bench/sdd_iteration.py --world sd --reduced --threads "$T" --no-components --json "$W/sdd_sd14_reduced.json" >/dev/null
$N python bench/scorers.py --threads "$T" --repeats 2 --n-toy 128 --n-sd 16 --json "$W/scorers.json" >/dev/null
$N python bench/dag.py --repeats 2 ${1:+--results "$1"} --json "$W/dag.json" >/dev/null
$N python bench/generation.py --world toy --threads "$T" --batch 4 --repeats 1 --warmup 1 --json "$W/generation_toy.json" >/dev/null
python bench/collect.py bench/results/cpu.json "$W"/sdd_toy.json "$W"/sdd_sd14_reduced.json "$W"/generation_toy.json \
    "$W"/scorers.json "$W"/dag.json
echo "bench/results/cpu.json (parts in $W)"
