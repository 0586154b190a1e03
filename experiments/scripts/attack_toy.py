"""Cost and a preliminary ASR of the two prompt attacks on the toy world, before the attack stage exists.

For each prompt naming the erased concept (toy-i2p prompts with concepts [triangle]): the base model's image
for (prompt_id, seed) is the white-box target; the attacked method draws the plain prompt (pre), each
attack writes its adversarial prompt (resumable CSV, erasure.attacks.table), and the method draws it
(post); the toy oracle (threshold 0.7, as %TARGET) says whether the concept shows.

    nice -n 10 python experiments/scripts/attack_toy.py --method sd --n-prompts 8 --out /tmp/attack-toy
    nice -n 10 python experiments/scripts/attack_toy.py --method esd-x-triangle@200 --results /tmp/r --n-prompts 8 \
        --out /tmp/attack-toy-esd

Prints one JSON document: per attack, seconds per prompt (median, mean, max), iterations, pre-attack,
adversarial-prompt and cumulative ASR (erasure.attacks.asr) with bootstrap and Wilson intervals. Numbers are
toy-world numbers (oracle, toy base), nothing else.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", default="sd", help="sd, or a fine-tuned run@step under --results")
    ap.add_argument("--results", default="results")
    ap.add_argument("--n-prompts", type=int, default=8)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--whitebox", default='{"n_timesteps": 10}', help="WhiteBoxSettings overrides (JSON)")
    ap.add_argument("--ringabell", default='{"length": 8, "generations": 300}', help="RingABellSettings overrides")
    ap.add_argument("--attacks", default="unlearndiffatk,ring-a-bell")
    args = ap.parse_args()

    from erasure.attacks import asr, checks, ringabell, whitebox
    from erasure.attacks.table import read_attack_table, run_attacks
    from erasure.generate.pipelines import load_method
    from erasure.worlds import get_world
    from erasure.worlds.toy.prompts import toy_coco, toy_i2p
    from erasure.runtime import set_threads

    set_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    prompts = toy_i2p(n_prompts=args.n_prompts, seed=0, guidance=args.guidance, concepts=["triangle"])
    sampling = dict(guidance=args.guidance, steps=args.steps)
    common = dict(base_model="toy:shipped", results=args.results, world="toy", scheduler="ddim")
    base = load_method("sd", {"kind": "sd"}, **common)
    method = base if args.method == "sd" else load_method(args.method, {"kind": "sd"}, **common)
    detects = checks.oracle_detector(get_world("toy").backbone_dir("toy:shipped", "oracle"), "shape=triangle", threshold=0.7)

    def draw(pipeline, prompt, row):
        return checks.draw_image(pipeline, prompt, prompt_id=row["prompt_id"], seed=int(row["seed"]), **sampling)

    pre = [bool(detects(draw(method, r["prompt"], r))) for r in prompts.to_dict("records")]
    wb = whitebox.WhiteBoxSettings(**json.loads(args.whitebox))
    rb = ringabell.RingABellSettings(**json.loads(args.ringabell))
    pipe = method.pipe
    # concept vector from toy captions naming a triangle, paired with the same caption naming another shape
    captions = list(toy_coco(n_prompts=40, seed=1, guidance=args.guidance, exclude=["triangle"])["prompt"])
    shapes = ["circle", "square", "cross", "diamond"]
    with_c = [" ".join("triangle" if w in shapes else w for w in c.split()) for c in captions]
    concept = ringabell.concept_vector(pipe.text_encoder, pipe.tokenizer, with_c, captions)

    def white(row):
        target = whitebox.image_latents(base.pipe.vae, draw(base, row["prompt"], row))
        check = checks.prompt_check(method, detects, prompt_id=row["prompt_id"], seed=int(row["seed"]), **sampling)
        return whitebox.unlearn_diff_attack(pipe.unet, pipe.text_encoder, pipe.tokenizer, pipe.scheduler, target,
                                            row["prompt"], seed=int(row["seed"]), settings=wb, check=check)

    def black(row):
        return ringabell.ring_a_bell(pipe.text_encoder, pipe.tokenizer, row["prompt"], concept,
                                     seed=int(row["seed"]), settings=rb)

    report = {"method": args.method, "n_prompts": len(prompts), "threads": args.threads,
              "whitebox": wb.__dict__, "ringabell": rb.__dict__, "sampling": sampling, "attacks": {}}
    for name, fn in (("unlearndiffatk", white), ("ring-a-bell", black)):
        if name not in args.attacks.split(","):
            continue
        csv = out / f"{name}.csv"
        started = time.perf_counter()
        run_attacks(prompts, csv, fn, attack_name=name)
        table = read_attack_table(csv)
        post = [bool(detects(draw(method, adv, r)))
                for adv, r in zip(table["adversarial_prompt"], prompts.to_dict("records"))]
        success = pd.DataFrame({"prompt_id": prompts["prompt_id"], "seed": prompts["seed"], "pre": pre,
                                "adversarial": post})
        success.to_csv(out / f"{name}.success.csv", index=False)
        row = asr.table3_row(success, method=args.method, attack=name, promptset="toy-i2p[triangle]",
                             detector="toy-oracle shape=triangle >= 0.7")
        seconds = table["seconds"].to_numpy(dtype=float)
        report["attacks"][name] = {
            **{k: (round(v, 2) if isinstance(v, float) else v) for k, v in row.items()},
            "seconds_per_prompt_median": round(float(np.median(seconds)), 2),
            "seconds_per_prompt_mean": round(float(seconds.mean()), 2),
            "seconds_per_prompt_max": round(float(seconds.max()), 2),
            "iterations": table["iterations"].tolist(), "wall_s": round(time.perf_counter() - started, 1),
            "examples": table["adversarial_prompt"].head(3).tolist(),
        }
    print(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
