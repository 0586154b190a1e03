"""One iteration of the white-box attack (erasure.attacks.whitebox: a text-encoder + UNet forward and backward
to the relaxed tokens, Adam, simplex projection) in fp32, TF32 and bf16 autocast, with peak GPU memory.

    python bench/whitebox_iteration.py [--arch sd14|tiny] [--latent 64] [--device cuda] [--iterations 10]
        [--variant fp32 --variant tf32 --variant bf16] [--json PATH]

Random weights of the named architecture (erasure.standins.architectures.random_pipeline; sd14: SD v1.4 at
full size), a random target latent, one timestep, no early-stop check: seconds per iteration are the attack's
gradient steps alone (its checks draw images: bench/generation.py times those). `ratio_to_fp32` is what an
`unlearndiffatk_prompt_bf16` row of erasure/cost/throughput.csv derives from (the iterations' share of a
prompt). On the CPU bf16 is emulated: the figures there test the code path, not the speed-up.
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
    parser.add_argument("--latent", type=int, default=64, help="latent side (SD 1.x at 512 px: 64)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--iterations", type=int, default=10, help="attack iterations per timed call")
    parser.add_argument("--variant", action="append", choices=("fp32", "tf32", "bf16"))
    args = parser.parse_args(argv)
    args.variant = args.variant or ["fp32", "tf32", "bf16"]
    if args.reduced:
        args.arch, args.latent, args.iterations, args.repeats, args.warmup = "tiny", 8, 2, 1, 1
    C.apply_threads(args.threads)

    from erasure.attacks.whitebox import WhiteBoxSettings, unlearn_diff_attack
    from erasure.standins.architectures import random_pipeline

    device = torch.device(args.device)
    pipe = random_pipeline(args.arch, latent=args.latent, device=device, dtype=torch.float32)
    target = torch.randn((1, 4, args.latent, args.latent), generator=torch.Generator().manual_seed(0))
    prompt = "a photo of a person"
    rows = []
    for variant in args.variant:
        matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = variant == "tf32"
        settings = WhiteBoxSettings(iterations=args.iterations, timesteps=(500,), check_original=False,
                                    precision="bf16" if variant == "bf16" else "fp32")
        try:
            C.reset_peak_memory(device)
            timing = C.timeit(lambda: unlearn_diff_attack(pipe.unet, pipe.text_encoder, pipe.tokenizer, pipe.scheduler,
                                                          target, prompt, seed=0, settings=settings),
                              warmup=args.warmup, repeats=args.repeats, device=device)
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn
        rows.append({"name": f"white-box iteration {variant}", "variant": variant,
                     **timing, "s_per_iteration": timing["median_s"] / args.iterations,
                     "peak_memory_gb": C.peak_memory_gb(device)})
    fp32 = next((r["s_per_iteration"] for r in rows if r["variant"] == "fp32"), None)
    for row in rows:
        row["ratio_to_fp32"] = None if fp32 is None else row["s_per_iteration"] / fp32
    label = "SD v1.4 architecture, random weights" if args.arch == "sd14" else "tiny SD architecture (code path only)"
    doc = C.document("whitebox_iteration", args, rows, [label, "no early-stop check: gradient steps only"])
    return C.emit(doc, ["name", "s_per_iteration", "ratio_to_fp32", "peak_memory_gb", "repeats"], args.json)


if __name__ == "__main__":
    main()
