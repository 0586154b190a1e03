#!/bin/bash
# Issue 33's sampler study: Table 1 and the frontier of the default toy run under each candidate sampler,
# against today's setting (DDIM 25, batch 8) and the seed spread of today's setting.
#   experiments/scripts/sampler_study.sh RUN_DIR OUT_DIR [NAME ...]
# RUN_DIR: a finished default run (a clone where `snakemake --cores all` ran, e.g. bench/frontdoor.py --keep).
# Each NAME gets a copy of RUN_DIR (trained models reused: training does not depend on the sampler) with the
# overlay below; only generation, scoring and the two reports rerun. Then
#   python experiments/scripts/sampler_study.py OUT_DIR   writes OUT_DIR/comparison.md.
set -eu
RUN=$(realpath "$1"); OUT=$(realpath -m "$2"); shift 2
NAMES=${*:-"ddim25-seed1 ddim25-seed2 ddim25-b64 dpm10 dpm15-quick unipc15-quick dpm20-quick"}
mkdir -p "$OUT"
overlay() {  # the generation overlay of candidate $1 (every_method: only the sets Table 1 and the frontier show)
  local c=${1%-quick}
  case $c in
    ddim25-seed*) echo "prompt_sets: {coco: {seed: ${c#ddim25-seed}}}" ;;   # FID-toy's spread: coco only
    ddim25-b64)   echo "generation: {batch_size: 64}" ;;   # today's sampler, the candidate batch size
    dpm*|unipc*|ddim*)  local s=${c%%[0-9]*}
                  echo "generation: {batch_size: 64, sampling: {scheduler: $s, steps: ${c#$s}, guidance: 5.0}}" ;;
    *) echo "unknown candidate $1" >&2; exit 2 ;;
  esac
}
for name in $NAMES; do
  dir=$OUT/$name
  [ -e "$dir/study.done" ] && { echo "$name: done already"; continue; }
  rm -rf "$dir"; cp -a "$RUN" "$dir"
  overlay "$name" > "$dir/study.yaml"
  echo "generation: {every_method: [body, coco]}" > "$dir/study-sets.yaml"
  targets="results/toy/tables/table1.csv results/toy/tables/frontier.csv"
  case $name in
    ddim25-seed*) targets=results/toy/tables/table1.csv ;;  # only Table 1's FID cells are read
    # NAME-quick: only the body %TARGET of the inference-time methods whose guidance starts after a number of
    # denoising steps (SLD's sld_warmup_steps, SEGA's edit_warmup_steps: 10 in their presets), the cells a
    # shorter schedule moves first; a candidate failing these fails the criterion without the full run
    *-quick) targets=$(for m in sd-neg sld-medium sld-max sega; do echo results/toy/scores/target/$m/body.summary.csv; done) ;;
  esac
  tick=$(date +%s)
  (cd "$dir" && PYTHONPATH=$dir nice -n 5 snakemake --cores 2 $targets \
      --configfile config/config.yaml study.yaml study-sets.yaml > "$OUT/$name.log" 2>&1)
  echo "$name: $(( $(date +%s) - tick )) s" | tee "$dir/study.done"
done
