#!/bin/bash
# Toy world v2's ablation (issue 24), one base: SDD's erasure-retention frontier on the config's wording and on
# the held-out wording (erase_toy.WORDINGS), single concept and the paper's joined multi-concept prompt, and each
# concept's floor. Two single-thread lanes, about 25 core-minutes on 2 cores:
#   experiments/scripts/toy_v2_ablation.sh BASE_DIR OUT_DIR
# Then: python experiments/scripts/toy_v2_summary.py OUT_DIR/<variant> ...   (the ablation table)
set -eu
cd "$(dirname "$0")/../.."
BASE=$1
OUT=$2
mkdir -p "$OUT"
W=config,heldout
C="--from-config config/config.yaml"
(
  # single concept: config/config.yaml's sdd-triangle (paper preset), every checkpoint (100, 200, 300)
  python experiments/scripts/erase_toy.py --base "$BASE" --out "$OUT" --run sdd-triangle $C --n 40 --wording $W > "$OUT/A.log" 2>&1
) &
(
  # multi-concept: sdd-multi (paper preset: c_s is "a triangle, a red shape, a striped shape"), steps 200 and 400
  python experiments/scripts/erase_toy.py --base "$BASE" --out "$OUT" --run sdd-multi $C --n 40 --steps 200,400 --wording $W \
    > "$OUT/B.log" 2>&1
  for w in config heldout; do
    python experiments/scripts/erase_floor.py --base "$BASE" --concepts triangle,red,striped --n 40 --threads 1 --wording $w \
      > "$OUT/floor-$w.json" 2>"$OUT/floor-$w.log"
  done
) &
wait
