#!/usr/bin/env bash
# Stop the one-node CI cluster started by up.sh: every daemon it recorded in $STATE/pids, by PID
# (never by name), in reverse start order; SIGTERM, then SIGKILL after a grace period.
#
#   .ci/slurm/down.sh          # keep $STATE (logs are useful after a failed CI run)
#   .ci/slurm/down.sh --purge  # also delete $STATE
set -uo pipefail

STATE=${ERASURE_SLURM_STATE:-/tmp/erasure-slurm}
PURGE=0
[ "${1:-}" = "--purge" ] && PURGE=1
if [ ! -f "$STATE/pids" ]; then
    echo "down.sh: no $STATE/pids: nothing to stop" >&2
    exit 0
fi
export SLURM_CONF=$STATE/etc/slurm.conf

# Cancel the jobs still in our private cluster first, so their slurmstepd processes exit too.
if [ -f "$SLURM_CONF" ] && command -v scancel >/dev/null; then
    timeout 10 scancel --user="$(id -un)" >/dev/null 2>&1 || true
    for _ in $(seq 20); do
        [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && break
        sleep 0.5
    done
fi

alive() {  # alive PID NAME: the PID is still the daemon we started (guards against PID reuse)
    [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -q -- "$2"
}

mapfile -t lines < <(tac "$STATE/pids")
for line in "${lines[@]}"; do
    read -r name pid <<< "$line"
    [ -n "${pid:-}" ] || continue
    if ! alive "$pid" "$name"; then echo "down.sh: $name (pid $pid) already gone" >&2; continue; fi
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do alive "$pid" "$name" || break; sleep 0.2; done
    if alive "$pid" "$name"; then
        echo "down.sh: $name (pid $pid) ignored SIGTERM for 10 s; SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null
    fi
    echo "down.sh: stopped $name (pid $pid)" >&2
done
rm -f "$STATE/pids"

if [ -f "$STATE/linked" ]; then
    link=$(cat "$STATE/linked")
    if [ -L "$link" ] && [ "$(readlink "$link")" = "$SLURM_CONF" ]; then rm -f "$link"; fi
    rm -f "$STATE/linked"
fi
[ $PURGE = 1 ] && rm -rf "$STATE"
exit 0
