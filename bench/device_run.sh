#!/usr/bin/env bash
# All GPU benchmarks in one run of the device tool, as rows (bench/device_rows.py): each row its own process and
# time limit, $OUT/device.json rewritten after every row (a failing, hanging or cut-off row loses only itself).
# Rows: a run_images shard's time outside the UNet in a folder of 30,000 files; the model load, float32 read +
# cast against a float16 read; sd and sld-max images/s with PNDM at batch 8 and 16 (fp16, 512 px); SDD iteration
# and peak memory in fp32 / TF32 / bf16; the white-box attack's iteration in fp32 / TF32 / bf16; ESD-u's (and
# SDD's) training step peak memory, AdamW foreach vs fused; GPU scorers (listed as not-implemented until their
# script exists). SD v1.4 architecture, RANDOM weights.
# Its figures replace the estimate rows of erasure/cost/throughput.csv (source: measured).
#
#   device tool:  run(command="bash bench/device_run.sh", carry=[".whl"], timeout_s=540)
#   CPU mode:     BENCH_REDUCED=1 OUT=/tmp/out bash bench/device_run.sh     (tiny SD-architecture stand-ins)
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
LOG="$OUT/log.txt"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
MODE=""
if [ "${BENCH_REDUCED:-0}" != "0" ]; then
    MODE="--cpu"
elif ls .whl/*.whl >/dev/null 2>&1; then   # diffusers / transformers of this repo's pins (bench/README.md)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        >>"$LOG" 2>&1 && export PYTHONPATH="/tmp/site:$PYTHONPATH" || echo "wheel install failed; using the image's packages" >>"$LOG"
fi
{ nvidia-smi 2>&1 || true; python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.version.cuda)' 2>&1; } > "$OUT/env.txt"
python3 bench/device_rows.py --out "$OUT" $MODE 2>&1 | tee -a "$LOG"
echo "done; files: $(ls "$OUT" | tr '\n' ' ')" | tee -a "$LOG"
