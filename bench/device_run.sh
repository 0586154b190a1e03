#!/usr/bin/env bash
# All GPU benchmarks in one run of the device tool (≤ 8 minutes): SDD iteration vs compute floor, GPU
# options on/off, peak memory of SDD training at 512 px, generation images/s per method — on the Stable
# Diffusion v1.4 architecture with RANDOM weights (no download). JSON lands in $OUT.
#
#   device tool:  run(command="bash bench/device_run.sh", carry=[".whl"], timeout_s=540)
#   CPU test:     BENCH_REDUCED=1 OUT=/tmp/out bash bench/device_run.sh     (tiny SD-architecture, seconds)
#
# Each step has its own time limit, so a slow or failing step costs only itself; each writes its own JSON.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
LOG="$OUT/log.txt"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
START=$(date +%s)
say() { echo "[$(( $(date +%s) - START ))s] $*" | tee -a "$LOG"; }

if [ "${BENCH_REDUCED:-0}" != "0" ]; then
    DEV=cpu; SD="--world sd --arch tiny --latent 8 --device cpu --threads 1"; LIM=1; EXTRA="--reduced"
else
    DEV=cuda; SD="--world sd --arch sd14 --latent 64 --device cuda"; LIM=1; EXTRA=""
    if ls .whl/*.whl >/dev/null 2>&1; then   # diffusers / transformers of this repo's pins (bench/README.md)
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
            >>"$LOG" 2>&1 && export PYTHONPATH="/tmp/site:$PYTHONPATH" || say "wheel install failed; using the image's packages"
    fi
fi
PY=python3

{ nvidia-smi 2>&1 || true; $PY - <<'PYEOF' 2>&1
import importlib.metadata as m, torch
for n in ("torch", "diffusers", "transformers", "huggingface_hub", "tokenizers", "bitsandbytes", "triton"):
    try: print(n, m.version(n))
    except Exception: print(n, "absent")
print("cuda", torch.cuda.is_available(), torch.version.cuda)
PYEOF
} > "$OUT/env.txt"
say "env: $(grep -E '^(torch|diffusers|transformers|cuda) ' "$OUT/env.txt" | tr '\n' ' ')"

step() {  # step NAME LIMIT_S ARGS... : one benchmark process, its JSON in $OUT/NAME.json, stderr in the log
    local name=$1 limit=$2; shift 2
    say "start $name (limit ${limit}s)"
    timeout -k 10 "$limit" "$PY" "$@" --json "$OUT/$name.json" >/dev/null 2>>"$LOG"
    local rc=$?
    say "end $name: exit $rc"
}

# 1. SDD iteration vs compute floor: precision, SDPA vs classic attention, batched vs split CFG, channels_last
step sdd_speed 150 bench/sdd_iteration.py $SD $EXTRA --repeats 3 --warmup 1 --library-iters 2 --no-components \
    --variant fp32 --variant bf16 --variant fp16 --variant bf16+classic-attn --variant bf16+split-cfg \
    --variant bf16+channels-last
# 2. peak memory of SDD training at 512 px (the student's forward + backward is the peak; K does not matter)
step sdd_memory 90 bench/sdd_iteration.py $SD $EXTRA --fixed-steps 1 --repeats 1 --warmup 1 --library-iters 0 \
    --no-components --variant fp32 --variant bf16 --variant bf16+frozen16 --variant bf16+ckpt \
    --variant bf16+frozen16+ckpt --variant fp16+frozen16+ckpt --variant bf16+frozen16+ckpt+adam8bit
# 3. generation images/s per method, fp16, 25 steps, 512 px; sd with classic attention / channels_last / bf16 / fp32
step generation 120 bench/generation.py $SD $EXTRA --dtype fp16 --batch 8 --steps 25 --repeats 2 --warmup 1 --variants
# 4. torch.compile (generation UNet; SDD's three graphs only with BENCH_COMPILE_SDD=1: minutes of compiling)
if [ "$DEV" = cuda ] || [ "${BENCH_COMPILE:-0}" != "0" ]; then
    step generation_compile 110 bench/generation.py $SD $EXTRA --dtype fp16 --batch 8 --steps 25 --repeats 2 \
        --warmup 2 --only sd --variants --compile-only
fi
if [ "${BENCH_COMPILE_SDD:-0}" != "0" ]; then
    step sdd_compile 200 bench/sdd_iteration.py $SD $EXTRA --repeats 2 --warmup 2 --library-iters 0 \
        --no-components --variant bf16 --variant bf16+compile
fi
say "done; files: $(ls "$OUT" | tr '\n' ' ')"
