"""Peak GPU memory and seconds of an ESD-u training step (the whole UNet but attn2 trained) with AdamW foreach
against fused, and of SDD's for comparison: what the cost table's train_memory_* rows estimate.

    python bench/esd_memory.py [--arch sd14|tiny] [--latent 64] [--device cuda] [--steps 4] [--iterations 3]
        [--method esd-u --method sdd] [--json PATH]

Random SD v1.4-architecture UNet (erasure.standins.architectures.random_unet), random prompt embeddings, the
paper presets (esd: ESD-u's trainable `noxattn`, z_t from the trained model; sdd: attn2) with `--steps` DDIM
steps for z_t (the mean trajectory is what the memory does not depend on), one training step =
`erasure.methods.trainer.train_step` (loss, backward, clip, AdamW, lr schedule, EMA), fp32 as the paper plan
trains. The peak includes the UNet(s), gradients and AdamW's moments after the first step. On the CPU there is
no peak to read: the rows test the code path.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def main(argv=None) -> dict:
    parser = C.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=("sd14", "tiny"), default="sd14")
    parser.add_argument("--latent", type=int, default=64)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=4, help="DDIM steps for z_t")
    parser.add_argument("--iterations", type=int, default=3, help="training steps timed per variant")
    parser.add_argument("--method", action="append", choices=("esd-u", "esd-x", "sdd"))
    args = parser.parse_args(argv)
    args.method = args.method or ["esd-u", "sdd"]
    if args.reduced:
        args.arch, args.latent, args.steps, args.iterations = "tiny", 8, 2, 1
    C.apply_threads(args.threads)

    import time

    from diffusers.optimization import get_scheduler

    from erasure.methods import specs
    from erasure.methods.base import Prompts
    from erasure.methods.trainer import build_method, train_step
    from erasure.standins.architectures import SD14_SCHEDULER, random_unet

    device = torch.device(args.device)
    rows = []
    for method in args.method:
        spec = specs.get(method, specs.FINE_TUNING)
        settings = spec.settings_class().resolve_run(spec, spec.default_preset,
                                                     {"sampling_steps": args.steps, "batch_size": 1})
        for adamw in ("foreach", "fused"):
            if adamw == "fused" and device.type != "cuda":
                continue  # fused AdamW is a CUDA kernel
            C.reset_peak_memory(device)
            unet = random_unet(args.arch, latent=args.latent, device=device)
            dim = unet.config.cross_attention_dim
            g = torch.Generator().manual_seed(0)
            emb = [torch.randn(1, 77, dim, generator=g).to(device) for _ in range(3)]
            prompts = Prompts(uncond=emb[0], concepts=[emb[1]], joined=emb[2], retain=[])
            m = build_method(method, unet, dict(SD14_SCHEDULER), prompts, settings)
            params = list(m.trainable.values())
            optimizer = torch.optim.AdamW(params, lr=settings.lr, betas=settings.betas, eps=settings.eps,
                                          weight_decay=settings.weight_decay, **{adamw: True})
            lr_scheduler = get_scheduler(settings.lr_schedule, optimizer, num_warmup_steps=settings.warmup_steps,
                                         num_training_steps=10_000)
            generator = torch.Generator().manual_seed(0)
            times = []
            for step in range(1, args.iterations + 2):  # the first step allocates AdamW's state: untimed
                C.sync(device)
                tick = time.perf_counter()
                train_step(m, optimizer, lr_scheduler, step, generator, settings.grad_clip)
                C.sync(device)
                if step > 1:
                    times.append(time.perf_counter() - tick)
            rows.append({"name": f"{method} train step, AdamW {adamw}", "method": method, "adamw": adamw,
                         "trained_params": sum(p.numel() for p in params), **C.summarize(times),
                         "peak_memory_gb": C.peak_memory_gb(device)})
            del m, unet, optimizer, params
    label = "SD v1.4 UNet, random weights" if args.arch == "sd14" else "tiny SD architecture (code path only)"
    doc = C.document("esd_memory", args, rows, [label, f"z_t by {args.steps} DDIM steps; fp32"])
    return C.emit(doc, ["name", "trained_params", "median_s", "peak_memory_gb"], args.json)


if __name__ == "__main__":
    main()
