"""Time per SDD iteration on a toy base, split into z_t sampling, train step (loss, backward, clip, AdamW,
lr schedule) and EMA update.

    nice -n 10 python experiments/scripts/erase_timing.py --base erasure/worlds/toy/assets/base/pipeline \
        --iterations 60 --settings '{"batch_size": 4, "sampling_steps": 25}' --threads 1
"""

import argparse
import json
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--iterations", type=int, default=60)
    ap.add_argument("--settings", default="{}")
    ap.add_argument("--method", default="sdd")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    from erasure.methods.base import encode_prompts
    from erasure.methods.concepts import resolve_concepts
    from erasure.methods.presets import resolve_settings
    from erasure.methods.trainer import build_method, make_optimizer
    from erasure.models import load_base_pipeline
    from erasure.runtime import set_threads

    set_threads(args.threads)
    settings = resolve_settings(args.method, None, {"warmup_steps": 0, **json.loads(args.settings)})
    pipe = load_base_pipeline(args.base)
    m = build_method(args.method, pipe.unet, dict(pipe.scheduler.config),
                     encode_prompts(pipe, resolve_concepts(["triangle"])), settings)
    params = list(m.trainable.values())
    opt, sched = make_optimizer(params, settings, args.iterations)
    gen = torch.Generator().manual_seed(0)
    spent = {"sample_zt": 0.0, "train_step": 0.0, "ema_update": 0.0}
    for step in range(args.iterations):
        t0 = time.perf_counter()
        drawn = m.sample(step, gen)  # (z_t, t) for SDD, (z_t, t, c) for ESD
        t1 = time.perf_counter()
        loss = m.loss_at(*drawn, step, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
        opt.step()
        sched.step()
        t2 = time.perf_counter()
        m.after_step()
        t3 = time.perf_counter()
        spent["sample_zt"] += t1 - t0
        spent["train_step"] += t2 - t1
        spent["ema_update"] += t3 - t2
    total = sum(spent.values())
    print(json.dumps({
        "iterations": args.iterations, "threads": args.threads, "settings": json.loads(args.settings),
        "ms_per_iteration": round(1000 * total / args.iterations, 2),
        "ms": {k: round(1000 * v / args.iterations, 2) for k, v in spent.items()},
        "share": {k: round(v / total, 3) for k, v in spent.items()},
        "trained_params": sum(p.numel() for p in params),
    }))


if __name__ == "__main__":
    main()
