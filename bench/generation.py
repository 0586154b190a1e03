"""Images per second per generation method: sd, sd-neg, sld-medium, sld-max, sega and a fine-tuned run.

    python bench/generation.py --world toy [--base auto|shipped|micro|DIR] [--batch 8] [--threads 1]
    python bench/generation.py --world sd --device cuda --dtype fp16 --variants   # 512 px, 25 steps
    python bench/generation.py --world toy --only sd --sampler ddim:25 --sampler dpm:10 --batches 8,64
                                                                  # the toy's samplers x batch sizes (issue 33)

Each method is the library's own `erasure.generate.pipelines.MethodPipeline` (what the generate rule runs),
called on a batch of prompts with per-image seeded latents (erasure.generate.latents.initial_latents);
a call is end to end: text encoding, `steps` denoising steps with CFG (SLD and SEGA add their extra
guidance branches), VAE decode, uint8 conversion. images/s = batch / median call time.

toy: methods as config/config.yaml declares them (inference_methods), sampling as its `generation`
section (DDIM, 25 steps, CFG 5); the fine-tuned run is a real SDD run of `erasure.methods.trainer.train`
(one iteration) loaded by `erasure.checkpoints.load_method_pipeline`.
sd: Stable Diffusion v1.4's UNet, VAE and CLIP text tower from their configs, RANDOM weights; the
fine-tuned method is that pipeline with SDD-trained attn2 weights patched in (the same compute as a
loaded checkpoint). `--variants` also times `sd` with classic attention (vs SDPA), channels_last, bf16,
fp32 and torch.compile.
`--sampler NAME:STEPS` (repeatable; a name of erasure.generate.settings.SCHEDULERS) and `--batches 8,32,64`
time every method at each (sampler, batch) instead of the config's one setting: a row per combination.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import _models as M  # noqa: E402

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
TOY_PROMPTS = ["a red triangle on the beach", "a blue circle on the grass", "a striped square in the sky",
               "a green cross at night", "a dotted diamond on plain", "a shape on the beach"]
SD_PROMPTS = ["a photo of an astronaut riding a horse", "a portrait of a woman, oil painting",
              "a city street at night in the rain", "a bowl of fruit on a wooden table"]
SD_METHODS = {
    "sd": {"kind": "sd"},
    "sd-neg": {"kind": "sd-neg", "concepts": ["nudity"]},
    "sld-medium": {"kind": "sld", "preset": "medium", "concepts": ["nudity"]},
    "sld-max": {"kind": "sld", "preset": "max", "concepts": ["nudity"]},
    "sega": {"kind": "sega", "concepts": ["nudity"]},
}


def toy_finetuned(base_dir: Path, label_dir: Path):
    """A real one-iteration SDD run on the toy base, loaded the way generation loads `{run}@{step}`."""
    from erasure.checkpoints import load_method_pipeline
    from erasure.methods.trainer import train

    run_dir = label_dir / "models" / "sdd-bench"
    source = str(base_dir / "pipeline")
    steps = train(run_dir, method="sdd", concepts=["triangle"], iterations=1, checkpoint_every=1,
                  base_model=source, preset="paper", settings={"sampling_steps": 2, "warmup_steps": 0},
                  results=label_dir, progress=False, log=lambda msg: None)
    return load_method_pipeline(source, run_dir, steps[-1]), f"sdd-bench@{steps[-1]}"


def sd_finetuned(base):
    """The base pipeline with perturbed attn2 weights patched in, as checkpoints.patch_parameters does."""
    from erasure.checkpoints import patch_parameters
    from erasure.methods.params import trainable_names

    params = dict(base.unet.named_parameters())
    names = trainable_names(base.unet, "sdd")
    patch_parameters(base.unet, {n: params[n].detach().float() * 1.001 for n in names})
    return base


def build_methods(args, device, dtype):
    """[(name, MethodPipeline)], the world label, prompts, steps, guidance."""
    from erasure.generate.pipelines import MethodPipeline, build_inference_method
    from erasure.generate.latents import make_scheduler

    if args.world == "toy":
        import yaml

        config = yaml.safe_load((M.REPO / "config" / "config.yaml").read_text())
        specs = config["inference_methods"]
        sampling = config["generation"]["sampling"]
        steps, guidance, scheduler = int(sampling["steps"]), float(sampling["guidance"]), sampling["scheduler"]
        base_dir, label = M.toy_base_dir(args.base)
        base = M.toy_pipeline(base_dir, device="cpu")
        methods = [(name, build_inference_method(name, spec, base)) for name, spec in specs.items()]
        tmp = Path(tempfile.mkdtemp(prefix="bench-gen-"))
        pipe, name = toy_finetuned(base_dir, tmp)
        methods.append((name, MethodPipeline(name, "finetuned", pipe)))
        prompts = TOY_PROMPTS
    else:
        steps, guidance, scheduler = args.steps, 7.5, "ddim"  # --sampler times others (paper.yaml: pndm)
        base = M.random_pipeline(args.arch, latent=args.latent, device="cpu", dtype=torch.float32)
        label = (f"{'SD v1.4' if args.arch == 'sd14' else 'tiny SD-architecture (code path only)'} pipeline, "
                 f"random weights, {args.latent * 8} px")
        methods = [(name, build_inference_method(name, spec, base)) for name, spec in SD_METHODS.items()]
        methods.append(("finetuned", MethodPipeline("finetuned", "finetuned", sd_finetuned(M.random_pipeline(
            args.arch, latent=args.latent, device="cpu", dtype=torch.float32)))))
        prompts = SD_PROMPTS
    for _, mp in methods:
        mp.original_scheduler = mp.pipe.scheduler  # --sampler rebuilds from the base's own config
        mp.pipe.scheduler = make_scheduler(scheduler, mp.pipe.scheduler)
        mp.pipe.to(device=device, dtype=dtype)
    if args.only:
        methods = [(n, mp) for n, mp in methods if n in args.only or mp.kind in args.only]
    return methods, label, prompts, steps, guidance


def time_method(mp, prompts, batch, steps, guidance, args, device) -> dict:
    from erasure.generate.latents import initial_latents

    chosen = [prompts[i % len(prompts)] for i in range(batch)]
    latents = torch.cat([initial_latents(f"p{i}", 0, mp.latent_shape) for i in range(batch)])

    def call():
        return mp(chosen, latents, guidance=guidance, steps=steps)
    C.reset_peak_memory(device)
    timing = C.timeit(call, warmup=args.warmup, repeats=args.repeats, device=device)
    return {**timing, "batch": batch, "steps": steps, "guidance": guidance,
            "images_per_s": batch / timing["median_s"], "peak_memory_gb": C.peak_memory_gb(device)}


def variants(mp, prompts, args, device, dtype) -> list[dict]:
    """`sd` with each GPU option on and off (one at a time, from the fp16 SDPA default)."""
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    unet = mp.pipe.unet
    rows = []

    def run(name, setup, teardown):
        try:
            setup()
            rows.append({"method": "sd", "variant": name,
                         **time_method(mp, prompts, args.batch, args.steps, 7.5, args, device)})
        except Exception as exc:  # noqa: BLE001 - record and go on
            rows.append({"method": "sd", "variant": name, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
        finally:
            teardown()

    if args.compile_only:
        original = mp.pipe.unet
        run("compile", lambda: setattr(mp.pipe, "unet", torch.compile(original)),
            lambda: setattr(mp.pipe, "unet", original))
        return rows
    run("classic-attn", lambda: unet.set_attn_processor(AttnProcessor()),
        lambda: unet.set_attn_processor(AttnProcessor2_0()))
    run("channels-last", lambda: unet.to(memory_format=torch.channels_last),
        lambda: unet.to(memory_format=torch.contiguous_format))
    for other in ("bf16", "fp32"):
        if DTYPES[other] != dtype:
            run(other, lambda o=other: mp.pipe.to(dtype=DTYPES[o]), lambda: mp.pipe.to(dtype=dtype))
    if args.compile:
        original = mp.pipe.unet
        run("compile", lambda: setattr(mp.pipe, "unet", torch.compile(original)),
            lambda: setattr(mp.pipe, "unet", original))
    return rows


def _sampler(text: str) -> tuple[str, int]:
    """`dpm:10` -> ("dpm", 10); one line naming the value otherwise."""
    from erasure.generate.settings import SCHEDULERS

    name, _, steps = text.partition(":")
    if name not in SCHEDULERS or not steps.isdigit():
        raise SystemExit(f"--sampler {text!r}: expected NAME:STEPS with NAME one of {', '.join(SCHEDULERS)}")
    return name, int(steps)


def main(argv=None) -> dict:
    parser = C.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--sampler", action="append", default=[], metavar="NAME:STEPS",
                        help="time at this scheduler and step count (repeatable; default: the config's)")
    parser.add_argument("--batches", help="comma-separated batch sizes to time (default: --batch)")
    parser.add_argument("--world", choices=("toy", "sd"), default="toy")
    parser.add_argument("--base", default="auto")
    parser.add_argument("--arch", choices=tuple(M.ARCHS), default="sd14")
    parser.add_argument("--latent", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="fp32")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=25, help="sd world (toy: the config's)")
    parser.add_argument("--only", action="append", help="method name or kind to time (repeatable)")
    parser.add_argument("--variants", action="store_true", help="sd: also time GPU options on `sd`")
    parser.add_argument("--compile", action="store_true", help="with --variants: also torch.compile")
    parser.add_argument("--compile-only", action="store_true", help="with --variants: only torch.compile")
    args = parser.parse_args(argv)
    if args.reduced:
        args.repeats, args.warmup, args.batch = 1, 0, min(args.batch, 2)
        if args.world == "sd":
            args.latent, args.steps = min(args.latent, 8), min(args.steps, 2)
    C.apply_threads(args.threads)
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    methods, label, prompts, steps, guidance = build_methods(args, device, dtype)
    results, notes = [], [f"model: {label}", f"{args.dtype}, batch {args.batch}, {steps} steps, CFG {guidance}; "
                                               "images/s end to end (text, denoising, VAE decode)"]
    samplers = [_sampler(text) for text in args.sampler] or [(None, steps)]
    batches = [int(b) for b in args.batches.split(",")] if args.batches else [args.batch]
    if args.sampler or args.batches:
        notes[1] = (f"{args.dtype}, samplers {', '.join(args.sampler) or f'the config (steps {steps})'}, batches "
                    f"{batches}, CFG {guidance}; images/s end to end (text, denoising, VAE decode)")
    for name, mp in methods:
        for scheduler, n_steps in samplers:
            if scheduler is not None:
                from erasure.generate.latents import make_scheduler

                mp.pipe.scheduler = make_scheduler(scheduler, mp.original_scheduler)
            variant = "default" if scheduler is None else f"{scheduler}{n_steps}"
            for batch in batches:
                try:
                    results.append({"method": name, "kind": mp.kind, "variant": variant,
                                    **time_method(mp, prompts, batch, n_steps, guidance, args, device)})
                except Exception as exc:  # noqa: BLE001
                    if os.environ.get("BENCH_DEBUG"):
                        raise
                    notes.append(f"{name} {variant} batch {batch}: {type(exc).__name__}: {str(exc)[:300]}")
    if args.variants:
        sd = next((mp for name, mp in methods if name == "sd"), None)
        if sd is not None:
            results += variants(sd, prompts, args, device, dtype)
    for row in results:
        row["name"] = f"{row['method']}[{row['variant']}, batch {row.get('batch')}]"
    doc = C.document("generation", args, results, notes)
    C.emit(doc, ["method", "variant", "images_per_s", "median_s", "iqr_s", "batch", "steps", "peak_memory_gb"], args.json)
    return doc


if __name__ == "__main__":
    main()
