"""Re-measure a toy base and print one JSON line.

    python -m erasure.worlds.toy.check [--base DIR] [--n 200] [--seed 0] [--threads 2]

Default base: the shipped asset (checksum-verified). Measures, on held-out seeds never used in training:
oracle accuracy per attribute on real images and on their VAE reconstructions; prompt adherence (shape,
colour) on "a <colour> <shape>" prompts; the triangle rate on "a shape on the <background>" for each
background; the toy CLIP's zero-shot accuracy and how separated its text embeddings are. Exits 1, with one line
per figure on stderr, when the base misses a bar of `BASE_BARS` (the bars a base must meet to ship).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from erasure.runtime import set_threads

DEFAULT_STEPS = 25
DEFAULT_GUIDANCE = 5.0
_HELDOUT_SEED_OFFSET = 7_919  # the data seed stream for real images, distinct from the build's
_SAMPLE_SEED_OFFSET = 50_000_000  # per-image sampling seeds

# The bars a toy base must meet to ship (the toy world's foundation issue; toy world v2, issue 24, keeps them):
# the oracle that scores every erasure must be right, prompts must be followed, and "a shape on the beach" must
# inherit the beach's triangle bias while the other backgrounds stay near the data's 20%. (key path, op, bar)
BASE_BARS: tuple[tuple[str, str, float], ...] = (
    ("oracle_real.*", ">=", 0.98),
    ("adherence.shape", ">=", 0.80),
    ("adherence.colour", ">=", 0.90),
    ("triangle_rate.beach", ">=", 0.50),
    ("triangle_rate.<other>", "<=", 0.25),
)


def failed_bars(record: dict) -> list[str]:
    """One line per figure of a `measure` record that misses its bar in `BASE_BARS` (empty: the base may ship).

    A figure the record lacks counts as failed: a base is not shippable on an incomplete check.
    """
    failures = []
    for path, op, bar in BASE_BARS:
        group, _, key = path.partition(".")
        values = record.get(group, {})
        if key == "*":
            picked = dict(values)
        elif key == "<other>":
            picked = {k: v for k, v in values.items() if k != "beach"}
        else:
            picked = {key: values.get(key)}
        if not picked:
            failures.append(f"{group}: missing from the check record (bar {op} {bar:.0%})")
        for k, v in picked.items():
            if v is None:
                failures.append(f"{group}.{k}: missing from the check record (bar {op} {bar:.0%})")
            elif (v < bar) if op == ">=" else (v > bar):
                failures.append(f"{group}.{k} = {v:.1%}, bar {op} {bar:.0%}")
    return failures


def load_pipeline(base_dir: str | Path):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(Path(base_dir) / "pipeline", local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@torch.no_grad()
def sample(pipe, prompts: list[str], seeds: list[int], *, steps: int = DEFAULT_STEPS,
           guidance: float = DEFAULT_GUIDANCE, batch: int = 250) -> torch.Tensor:
    """Images float [N, 3, 32, 32] in [0, 1], one seeded generator per image."""
    out = []
    for start in range(0, len(prompts), batch):
        gens = [torch.Generator().manual_seed(int(s)) for s in seeds[start : start + batch]]
        res = pipe(prompt=prompts[start : start + batch], num_inference_steps=steps, guidance_scale=guidance,
                   generator=gens, output_type="pt")
        out.append(res.images.float().clamp(0, 1))
    return torch.cat(out)


def measure(base_dir: str | Path, *, n: int = 200, seed: int = 0, steps: int = DEFAULT_STEPS,
            guidance: float = DEFAULT_GUIDANCE) -> dict:
    from transformers import CLIPModel, CLIPProcessor

    from erasure.worlds.toy import clip as clip_mod
    from erasure.worlds.toy.data import make_data
    from erasure.worlds.toy.oracle import accuracy, load_oracle
    from erasure.worlds.toy.vae import reconstruct
    from erasure.worlds.toy.vocab import BACKGROUNDS, COLOURS, SHAPES

    base_dir = Path(base_dir)
    t0 = time.time()
    pipe = load_pipeline(base_dir)
    oracle = load_oracle(base_dir / "oracle")
    held = make_data(max(n, 1000), seed + _HELDOUT_SEED_OFFSET, "heldout")
    res: dict[str, object] = {"base": str(base_dir), "n": n, "sampler": f"DDIM {steps} steps, CFG {guidance}"}
    res["oracle_real"] = accuracy(oracle, held.images, held.labels)
    res["oracle_vae"] = accuracy(oracle, reconstruct(pipe.vae, held.images), held.labels)

    combos = [(c, s) for c in COLOURS for s in SHAPES]
    picks = [combos[i % len(combos)] for i in range(n)]
    seeds = [_SAMPLE_SEED_OFFSET + seed * 100_000 + i for i in range(n)]
    probs = oracle.predict(sample(pipe, [f"a {c} {s}" for c, s in picks], seeds, steps=steps, guidance=guidance))
    shape_ok = probs["shape"].argmax(-1).numpy() == np.array([SHAPES.index(s) for _, s in picks])
    colour_ok = probs["colour"].argmax(-1).numpy() == np.array([COLOURS.index(c) for c, _ in picks])
    res["adherence"] = {"shape": float(shape_ok.mean()), "colour": float(colour_ok.mean())}
    res["adherence_shape_by_shape"] = {
        s: float(shape_ok[[p[1] == s for p in picks]].mean()) for s in SHAPES
    }

    tri = SHAPES.index("triangle")
    res["triangle_rate"] = {}
    for k, bg in enumerate(BACKGROUNDS):
        seeds = [_SAMPLE_SEED_OFFSET + seed * 100_000 + (k + 1) * 10_000 + i for i in range(n)]
        imgs = sample(pipe, [f"a shape on the {bg}"] * n, seeds, steps=steps, guidance=guidance)
        p = oracle.predict(imgs)
        res["triangle_rate"][bg] = float((p["shape"].argmax(-1) == tri).float().mean())

    clip = CLIPModel.from_pretrained(base_dir / "clip").eval()
    tokenizer = CLIPProcessor.from_pretrained(base_dir / "clip").tokenizer
    res["clip_zero_shot"] = clip_mod.zero_shot_accuracy(clip, tokenizer, held.images, held.labels)
    res.update(clip_mod.shape_only_cosines(pipe.text_encoder, pipe.tokenizer))
    res["seconds"] = round(time.time() - t0, 1)
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=None, help="base directory (default: the shipped asset)")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    from erasure.worlds.toy.assets import shipped_base_dir, verify_base_dir

    if args.base is None:
        base = shipped_base_dir()
    else:
        base = args.base
        verify_base_dir(base)
    record = measure(base, n=args.n, seed=args.seed, steps=args.steps, guidance=args.guidance)
    print(json.dumps(record, sort_keys=True), flush=True)
    failures = failed_bars(record)
    for line in failures:
        print(f"{base}: misses a base bar: {line}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
