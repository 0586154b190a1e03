#!/bin/bash
# Every issue-3 figure on a toy base, in two niced single-thread lanes (A1-A5 and B1-B3: 15 min wall on 2 idle cores;
# B4-B6 took about 11 min more when run on their own with --threads 2):
#   experiments/scripts/erase_toy_all.sh [BASE_DIR] [OUT_DIR]
# BASE_DIR defaults to the shipped asset. Results: OUT_DIR/*.jsonl (one line per run, step, which),
# OUT_DIR/base-*.json (the base on the same seeds), logs A*.log / B*.log (interference JSON in A2.log,
# timing JSON in A3.log).
set -u
cd "$(dirname "$0")/../.."
BASE=${1:-erasure/worlds/toy/assets/base}
OUT=${2:-/tmp/erase-exp}
mkdir -p "$OUT"
LOGS=$OUT
# the runs of config/config.yaml, as the workflow trains them
C="--from-config config/config.yaml"
# sdd+retain (an extension, not the paper's SDD): the preservation term on non-target shapes
R='{"lr": 1e-3, "warmup_steps": 30, "batch_size": 2, "sampling_steps": 10, "ema_decay": 0.99, "retain_weight": 0.1,
    "retain_prompts": ["a circle", "a square", "a cross", "a diamond", "a red circle", "a blue square", "a purple cross", "a yellow diamond"]}'
# multi-concept, official preset; S: sdd-triangle's settings in config/config.yaml, for the runs beside it
M='{"lr": 5e-4, "batch_size": 2, "sampling_steps": 10, "ema_decay": 0.99}'
S='{"lr": 5e-4, "warmup_steps": 30, "batch_size": 2, "sampling_steps": 10, "ema_decay": 0.99}'
(
 nice -n 10 python experiments/scripts/erase_toy.py --base $BASE --out $OUT --run sdd-triangle $C --n 40 --which default,student > $LOGS/A1.log 2>&1
 nice -n 10 python experiments/scripts/erase_interference.py --base $BASE --run-dir $OUT/models/sdd-triangle --step 300 --n 4 > $LOGS/A2.log 2>&1
 nice -n 10 python experiments/scripts/erase_timing.py --base $BASE/pipeline --iterations 30 --settings '{"batch_size": 2, "sampling_steps": 10}' > $LOGS/A3.log 2>&1
 nice -n 10 python experiments/scripts/erase_toy.py --base $BASE --out $OUT --run sdd-retain-triangle --method sdd+retain --concepts triangle \
   --iterations 400 --checkpoint-every 100 --settings "$R" --n 40 > $LOGS/A4.log 2>&1
 # multi-concept with the official preset's concept roles (z_t from the joined concepts, the loss on one
 # concept per step, cycling): the paper preset's joined c_s is a caption the toy CLIP never saw
 nice -n 10 python experiments/scripts/erase_toy.py --base $BASE --out $OUT --run sdd-multi-official --method sdd --preset official \
   --concepts triangle,red,striped --iterations 400 --checkpoint-every 100 --settings "$M" --n 40 > $LOGS/A5.log 2>&1
 echo done > $LOGS/A.done
) &
(
 nice -n 10 python experiments/scripts/erase_toy.py --base $BASE --out $OUT --run sdd-multi $C --n 40 --steps 400 > $LOGS/B1.log 2>&1
 nice -n 10 python experiments/scripts/erase_toy.py --base $BASE --out $OUT --run esd-x-triangle $C --n 40 > $LOGS/B2.log 2>&1
 nice -n 10 python experiments/scripts/erase_toy.py --base $BASE --out $OUT --run esd-u-triangle $C --n 40 > $LOGS/B3.log 2>&1
 # one concept alone, the slow one of the multi-concept set (sdd-triangle's settings; the cosine schedule
 # spans 300 or 600 iterations, so the two runs differ before step 300 too)
 nice -n 10 python experiments/scripts/erase_toy.py --base $BASE --out $OUT --run sdd-striped --method sdd --preset paper \
   --concepts striped --iterations 300 --checkpoint-every 100 --settings "$S" --n 40 > $LOGS/B4.log 2>&1
 nice -n 10 python experiments/scripts/erase_toy.py --base $BASE --out $OUT --run sdd-striped-600 --method sdd --preset paper \
   --concepts striped --iterations 600 --checkpoint-every 100 --steps 400,500,600 --settings "$S" --n 40 > $LOGS/B5.log 2>&1
 # the teacher's frontier between the config run's checkpoints (same run, checkpoints every 50)
 nice -n 10 python experiments/scripts/erase_toy.py --base $BASE --out $OUT --run sdd-triangle-ck50 --method sdd --preset paper \
   --concepts triangle --iterations 300 --checkpoint-every 50 --steps 150,250,300 --settings "$S" --n 40 > $LOGS/B6.log 2>&1
 echo done > $LOGS/B.done
) &
wait
