#!/usr/bin/env bash
# CI: start a one-node SLURM cluster, run the smoke config through the repository's slurm profile
# (every job goes through sbatch), run tests/cluster/test_slurm_live.py against the same cluster, stop every
# daemon again (always, by PID); exit non-zero if either failed.
#
#   .ci/slurm/run-smoke.sh [extra snakemake args...]
#
# ERASURE_SMOKE_DIR: the run's working directory (`--directory`; default: the repository). When the run ends
# it holds `.smoke-complete` (exit 0) or `.smoke-failed` (anything else, the cluster not coming up included):
# tests/test_smoke.py, started alongside by .ci/run, waits for one of them and checks this run's outputs, or
# makes its own run after a failed one.
#
# ERASURE_SMOKE_LIVE_TESTS: 1 (default) runs the live tests after the workflow and then stops the cluster;
# 0 skips them; `background` returns right after the workflow (its exit status) and leaves the live tests
# running against the cluster, which stops when they end; their exit status is then written to
# $ERASURE_SLURM_STATE/live-tests.rc (.ci/run waits for it). Why: the live tests mostly wait on SLURM state
# changes (a one-minute time limit, a preemption) and use the node's CPUs hardly at all, so CI runs them
# alongside the test suite instead of before it (~320 s of CI wall time).
#
# ERASURE_SMOKE_GPUS=1 (default) sets `cluster: {gpus: true}`, so training/generation jobs request the
# node's fake GPU (--gpus=1) and are scheduled through GRES for real; torch still runs on the CPU.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
export ERASURE_SLURM_STATE=${ERASURE_SLURM_STATE:-/tmp/erasure-slurm}
GPUS=${ERASURE_SMOKE_GPUS:-1}

WORKDIR=${ERASURE_SMOKE_DIR:-$ROOT}
rm -f "$WORKDIR/.smoke-complete" "$WORKDIR/.smoke-failed"
mark_end() {  # mark_end STATUS: whoever waits on this run learns that it ended, and how
    [ -f "$WORKDIR/.smoke-complete" ] || [ -f "$WORKDIR/.smoke-failed" ] || echo "exit status $1" > "$WORKDIR/.smoke-failed"
}
# The jobs import this checkout's erasure even while the test suite's `pip install -e` reinstalls it
# (.ci/run runs both at once; sbatch --export=ALL passes the variable on).
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

cleanup() {
    echo "::group::slurm: accounting for this run" >&2
    SLURM_CONF=$ERASURE_SLURM_STATE/etc/slurm.conf timeout 20 sacct -X -S now-1days \
        -o JobID,JobName%40,Comment%50,State,ExitCode,Elapsed,AllocTRES%45 2>/dev/null >&2 || true
    echo "::endgroup::" >&2
    .ci/slurm/down.sh
}

t0=$(date +%s)
rm -f "$ERASURE_SLURM_STATE"/live-tests.*
trap 'mark_end $?' EXIT
.ci/slurm/up.sh || { echo "run-smoke: cluster did not come up" >&2; exit 1; }
trap 'status=$?; mark_end $status; cleanup' EXIT
# shellcheck disable=SC1091
source "$ERASURE_SLURM_STATE/env.sh"   # SLURM_CONF, SLURM_PARTITION, SLURM_ACCOUNT for the profile
t_up=$(date +%s)

configs=(config/smoke.yaml)
if [ "$GPUS" = 1 ]; then  # a YAML overlay: --config would pass the boolean on as a string
    printf 'cluster:\n  gpus: true\n' > "$ERASURE_SLURM_STATE/gpus.yaml"
    configs+=("$ERASURE_SLURM_STATE/gpus.yaml")
fi

# CI overrides of the profile: a short queue for a 2-CPU node, no job asking for more CPUs than the node
# has (sbatch would refuse it), and poll SLURM every few seconds.
snakemake --profile slurm all --directory "$WORKDIR" --configfile "${configs[@]}" \
    --jobs 4 \
    --max-threads "$(nproc)" \
    --seconds-between-status-checks 3 \
    --slurm-init-seconds-before-status-checks 3 \
    "$@"
rc=$?
t_end=$(date +%s)
if [ "$rc" = 0 ]; then
    printf '%s\n' "config/smoke.yaml ${configs[*]:1}" > "$WORKDIR/.smoke-complete"
else
    mark_end "$rc"
fi
echo "run-smoke: snakemake exit status $rc; cluster up $((t_up - t0)) s, workflow $((t_end - t_up)) s" >&2

# The profile's promises on the same cluster: a GPU job gets the GPU and a CPU job none, successful logs
# are kept, and a failing job ends the run non-zero within a minute, naming its log
# (tests/cluster/test_slurm_live.py; ERASURE_SLURM_TESTS=1 makes a missing cluster an error, not a skip).
live_tests() {
    ERASURE_SLURM_TESTS=1 python -m pytest tests/cluster/test_slurm_live.py -q -rA -p no:cacheprovider -n 0  # one at a time: one node
    local live=$?
    echo "run-smoke: live SLURM tests exit status $live; $(( $(date +%s) - t_end )) s" >&2
    return $live
}

case "${ERASURE_SMOKE_LIVE_TESTS:-1}" in
    1)
        live_tests
        live=$?
        [ "$rc" = 0 ] && rc=$live
        ;;
    background)
        trap - EXIT  # the background part stops the cluster when its tests end
        ( live_tests > "$ERASURE_SLURM_STATE/live-tests.log" 2>&1
          echo $? > "$ERASURE_SLURM_STATE/live-tests.rc.part"
          cleanup >> "$ERASURE_SLURM_STATE/live-tests.log" 2>&1
          mv "$ERASURE_SLURM_STATE/live-tests.rc.part" "$ERASURE_SLURM_STATE/live-tests.rc" ) &
        echo $! > "$ERASURE_SLURM_STATE/live-tests.pid"
        echo "run-smoke: live SLURM tests running in the background (pid $!; log $ERASURE_SLURM_STATE/live-tests.log)" >&2
        ;;
esac
exit $rc
