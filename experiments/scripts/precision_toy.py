"""bf16 autocast against fp32 on the toy world: SDD training (loss curve, %TARGET) and the white-box attack (ASR).

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD nice -n 10 python experiments/scripts/precision_toy.py --out /tmp/precision-toy \
        [--iterations 300] [--n 40] [--n-prompts 8] [--n-timesteps 5] [--attack-iterations 40]
        [--attacks fp32,bf16,fp32-seed+1000]

Training: the toy config's sdd-triangle run (config/config.yaml: 300 steps, lr 5e-4, batch 2, 10 sampling
steps, EMA 0.99) three times: fp32 seed 0, fp32 seed 1 (the yardstick: how far two fp32 runs that differ
only in their seed lie apart), bf16 seed 0 (settings.precision: bf16 autocast of the loss's forward passes,
fp32 weights and AdamW; erasure.methods.trainer). Per run: the loss curve (train_log.csv) as means over blocks
of 50 steps, and the final checkpoint's %TARGET (EMA teacher, experiments/erase_toy.py's `measure`: the toy
oracle's argmax on n "a <colour> triangle" images, n "a shape on the beach", n non-target images; DDIM 25,
CFG 5, fixed seeds), and training seconds.

Attack: the white-box attack (erasure.attacks.whitebox, settings k 5, lr 0.01, `--attack-iterations` per
timestep, `--n-timesteps` timesteps, early stop on the oracle as %TARGET, p(shape=triangle) >= 0.7) on the fp32 seed-0
run, against 8 toy-i2p prompts naming "triangle" (target: the base model's image of the prompt and seed, as
experiments/attack_toy.py): fp32, bf16, and fp32 with every attack seed + 1000 (the yardstick). Per run: ASR
(adversarial prompts' images, cumulative with the pre-attack hits) with Wilson 95% intervals, gradient steps,
seconds per prompt, mean loss of the last timestep.

Prints one JSON document and writes OUT/precision.json; resumable (each finished part is kept in OUT).
Toy-world numbers on this CPU only; CPU bf16 is emulated by oneDNN / ATen kernels, so its seconds say
nothing about a GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
BASE = Path(__file__).resolve().parents[2] / "erasure" / "worlds" / "toy" / "assets" / "base"
TRAIN_SETTINGS = {"lr": 5.0e-4, "warmup_steps": 30, "batch_size": 2, "sampling_steps": 10, "ema_decay": 0.99}
RUNS = {"fp32-s0": ("fp32", 0), "fp32-s1": ("fp32", 1), "bf16-s0": ("bf16", 0)}
ATTACKS = {"fp32": ("fp32", 0), "bf16": ("bf16", 0), "fp32-seed+1000": ("fp32", 1000)}


def wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    if n == 0:
        return [float("nan")] * 2
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(100 * max(0.0, centre - half), 1), round(100 * min(1.0, centre + half), 1)]


def cached(path: Path, make):
    if path.is_file():
        return json.loads(path.read_text())
    value = make()
    path.write_text(json.dumps(value))
    return value


def train_part(out: Path, args) -> dict:
    import pandas as pd

    from erase_toy import measure
    from erasure.checkpoints import load_method_pipeline
    from erasure.methods.trainer import train
    from erasure.worlds.toy.oracle import load_oracle

    oracle = load_oracle(BASE / "oracle")
    rows = {}
    for name, (precision, seed) in RUNS.items():
        def make():
            run_dir = out / "results" / "toy" / "models" / f"sdd-{name}"
            tick = time.perf_counter()
            train(run_dir, method="sdd", preset="paper", concepts=["triangle"], iterations=args.iterations,
                  checkpoint_every=args.iterations, base_model=str(BASE / "pipeline"),
                  settings={**TRAIN_SETTINGS, "precision": precision}, seed=seed, progress=False)
            seconds = time.perf_counter() - tick
            losses = pd.read_csv(run_dir / "train_log.csv")["loss"].to_numpy(dtype=float)
            pipe = load_method_pipeline(str(BASE / "pipeline"), run_dir, args.iterations, "default")
            rec = measure(pipe, oracle, ["triangle"], args.n)
            return {"precision": precision, "seed": seed, "train_s": round(seconds, 1),
                    "loss_blocks": [round(float(b.mean()), 5) for b in np.array_split(losses, len(losses) // 50)],
                    "loss_mean": round(float(losses.mean()), 5), "target": rec["target:triangle"],
                    "beach": rec["beach"], "shape_adh": rec["shape_adh"], "colour_adh": rec["colour_adh"]}
        rows[name] = cached(out / f"train-{name}.json", make)
        print(json.dumps({name: rows[name]}), file=sys.stderr, flush=True)
    ref, other, bf16 = (np.asarray(rows[k]["loss_blocks"]) for k in ("fp32-s0", "fp32-s1", "bf16-s0"))
    return {"runs": rows, "loss_block_max_abs_diff": {
        "bf16-s0 vs fp32-s0": round(float(np.abs(bf16 - ref).max()), 5),
        "fp32-s1 vs fp32-s0 (yardstick)": round(float(np.abs(other - ref).max()), 5)}}


def attack_part(out: Path, args) -> dict:
    from erasure.attacks import checks, whitebox
    from erasure.generate.pipelines import load_method
    from erasure.worlds import get_world
    from erasure.worlds.toy.prompts import toy_i2p

    sampling = dict(guidance=5.0, steps=25)
    common = dict(base_model="toy:shipped", results=str(out / "results"), world="toy", scheduler="ddim")
    base = load_method("sd", {"kind": "sd"}, **common)
    method = load_method(f"sdd-fp32-s0@{args.iterations}", {"kind": "sd"}, **common)
    detects = checks.oracle_detector(get_world("toy").backbone_dir("toy:shipped", "oracle"), "shape=triangle",
                                     threshold=0.7)
    prompts = toy_i2p(n_prompts=args.n_prompts, seed=0, guidance=5.0, concepts=["triangle"]).to_dict("records")

    def draw(pipeline, prompt, row):
        return checks.draw_image(pipeline, prompt, prompt_id=row["prompt_id"], seed=int(row["seed"]), **sampling)

    pre = [bool(detects(draw(method, r["prompt"], r))) for r in prompts]
    targets = [whitebox.image_latents(base.pipe.vae, draw(base, r["prompt"], r)) for r in prompts]
    pipe = method.pipe
    rows = {}
    for name, (precision, offset) in ATTACKS.items():
        if name not in args.attacks.split(","):
            continue
        settings = whitebox.WhiteBoxSettings(n_timesteps=args.n_timesteps, iterations=args.attack_iterations,
                                             precision=precision)

        def make():
            results = []
            for row, target in zip(prompts, targets):
                check = checks.prompt_check(method, detects, prompt_id=row["prompt_id"], seed=int(row["seed"]),
                                            **sampling)
                tick = time.perf_counter()
                res = whitebox.unlearn_diff_attack(pipe.unet, pipe.text_encoder, pipe.tokenizer, pipe.scheduler,
                                                   target, row["prompt"], seed=int(row["seed"]) + offset,
                                                   settings=settings, check=check)
                seconds = time.perf_counter() - tick
                post = bool(detects(draw(method, res.prompt, row)))
                results.append({"prompt": res.prompt, "steps": res.iterations, "loss": res.loss,
                                "adversarial": post, "seconds": round(seconds, 2)})
            return results
        results = cached(out / f"attack-{name}.json", make)
        adv = [r["adversarial"] for r in results]
        cumulative = [a or p for a, p in zip(adv, pre)]
        attacked = [r for r, p in zip(results, pre) if not p]
        rows[name] = {"precision": precision, "seed_offset": offset, "n": len(results),
                      "pre_asr": round(100 * np.mean(pre), 1), "pre_wilson": wilson(sum(pre), len(pre)),
                      "adversarial_asr": round(100 * np.mean(adv), 1), "adversarial_wilson": wilson(sum(adv), len(adv)),
                      "asr": round(100 * np.mean(cumulative), 1), "asr_wilson": wilson(sum(cumulative), len(cumulative)),
                      "steps": [r["steps"] for r in results],
                      "last_loss_mean": (round(float(np.mean([r["loss"] for r in attacked])), 5) if attacked else None),
                      "seconds_per_attacked_prompt": (round(float(np.mean([r["seconds"] for r in attacked])), 2)
                                                      if attacked else None),
                      "seconds_per_step": round(sum(r["seconds"] for r in results)
                                                / max(1, sum(r["steps"] for r in results)), 3),
                      "examples": [r["prompt"] for r in results[:3]]}
        print(json.dumps({name: rows[name]}), file=sys.stderr, flush=True)
    return {"attacked": f"sdd-fp32-s0@{args.iterations}", "prompts": len(prompts), "pre": pre, "runs": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--n", type=int, default=40, help="images per %%TARGET prompt set")
    ap.add_argument("--n-prompts", type=int, default=8)
    ap.add_argument("--n-timesteps", type=int, default=5)
    ap.add_argument("--attack-iterations", type=int, default=40, help="white-box iterations per timestep")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--parts", default="train,attack")
    ap.add_argument("--attacks", default=",".join(ATTACKS), help="which attack runs (one process each runs in parallel)")
    args = ap.parse_args()

    from erasure.runtime import set_threads

    set_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"args": vars(args), "train_settings": TRAIN_SETTINGS}
    if "train" in args.parts:
        doc["train"] = train_part(out, args)
    if "attack" in args.parts:
        doc["attack"] = attack_part(out, args)
    import torch

    doc["machine"] = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "loadavg_1_5_15": list(__import__("os").getloadavg())}
    (out / "precision.json").write_text(json.dumps(doc, indent=1))
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
