"""UCE and RECE on the shipped toy base: time per edit, a cheap proxy (how much the attn2 keys/values and one
UNet noise prediction move per prompt), and oracle rates on images drawn through the workflow's own path
(edit -> save_checkpoint -> load_method_pipeline -> MethodPipeline, DDIM 25, CFG 5, seeded latents).

    nice -n 10 python experiments/scripts/erase_uce_toy.py --n 20 --out experiments/results/erase-uce-toy

Seeds start at 10000 (no config or run uses them). Preliminary: one base, n images per prompt.
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

PROXY_PROMPTS = ("a triangle", "a red triangle", "a shape on the beach", "a square", "a blue square",
                 "a circle", "a yellow diamond", "")
# prompt -> (attribute, value) the oracle checks: a rate of the erased shape, or adherence to the named one
IMAGE_SETS = {
    "a red triangle": ("shape", "triangle"),
    "a triangle": ("shape", "triangle"),
    "a shape on the beach": ("shape", "triangle"),
    "a blue square": ("shape", "square"),
    "a yellow circle": ("shape", "circle"),
    "a white cross": ("shape", "cross"),
}
SEED0 = 10_000


def methods(preserve):
    from erasure.methods.rece import params, rece, resolve_rece_settings
    from erasure.methods.uce import resolve_uce_settings, uce

    def run_uce(preset):
        return lambda p, c: uce(p.unet, p.text_encoder, p.tokenizer, c, preserve,
                                 settings=resolve_uce_settings(preset))

    def run_rece(mode, rounds):
        def f(p, c):
            rs = rece(p.unet, p.text_encoder, p.tokenizer, c, preserve, settings=resolve_rece_settings({"mode": mode, "rounds": rounds}))
            return params(rs[-1], p.unet)
        return f

    return {"uce-paper": run_uce("paper"), "uce-current": run_uce("current"),
            "rece-seq@1": run_rece("sequential", 1), "rece-seq@5": run_rece("sequential", 5),
            "rece-cum@5": run_rece("cumulative", 5)}


@torch.no_grad()
def proxy(pipe, edited: dict, prompts=PROXY_PROMPTS, t=(250, 500, 750), n_latents=8) -> dict:
    """Per prompt: relative change of the stacked attn2 k/v outputs, and of the UNet's conditional noise
    prediction ε(z_t, c) (and of the guidance direction ε(c) − ε(∅)) on fixed latents at timesteps t."""
    from erasure.checkpoints import patch_parameters
    from erasure.methods.uce import encode_texts, projection_weights

    W = projection_weights(pipe.unet)
    enc = {e.text: e.hidden for e in encode_texts(pipe.text_encoder, pipe.tokenizer, list(prompts))}
    g = torch.Generator().manual_seed(0)
    c = pipe.unet.config
    z = torch.randn(n_latents, c.in_channels, c.sample_size, c.sample_size, generator=g)
    original = {n: p.detach().clone() for n, p in pipe.unet.named_parameters() if n in edited}

    def eps(text):
        h = enc[text].float()[None].expand(n_latents, -1, -1)
        return torch.stack([pipe.unet(z, int(s), encoder_hidden_states=h).sample for s in t])

    base_eps = {p: eps(p) for p in prompts}
    patch_parameters(pipe.unet, edited)
    new_eps = {p: eps(p) for p in prompts}
    patch_parameters(pipe.unet, original)
    out = {}
    for p in prompts:
        num = sum(float(((enc[p] @ (edited[n].double() - Wn).T) ** 2).sum()) for n, Wn in W.items())
        den = sum(float(((enc[p] @ Wn.T) ** 2).sum()) for Wn in W.values())
        d_eps = float((new_eps[p] - base_eps[p]).norm() / base_eps[p].norm())
        dir0, dir1 = base_eps[p] - base_eps[""], new_eps[p] - new_eps[""]
        d_dir = float((dir1 - dir0).norm() / dir0.norm()) if p else float("nan")
        out[p] = {"kv": (num / den) ** 0.5, "eps": d_eps, "guidance_dir": d_dir}
    return out


@torch.no_grad()
def image_rates(pipe_factory, oracle, n: int) -> dict:
    from erasure.generate.pipelines import MethodPipeline
    from erasure.generate.latents import initial_latents, make_scheduler
    from erasure.worlds.toy.vocab import ATTRIBUTES

    pipe = pipe_factory()
    pipe.scheduler = make_scheduler("ddim", pipe.scheduler)
    mp = MethodPipeline(name="m", kind="finetuned", pipe=pipe)
    out = {}
    for k, (prompt, (attr, value)) in enumerate(IMAGE_SETS.items()):
        latents = torch.cat([initial_latents(f"p{k}", SEED0 + i, mp.latent_shape) for i in range(n)])
        pixels = mp([prompt] * n, latents, guidance=5.0, steps=25)
        x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255.0
        probs = oracle.predict(x)
        predicted = probs[attr].argmax(-1)
        out[prompt] = float((predicted == ATTRIBUTES[attr].index(value)).float().mean())
        counts = torch.bincount(predicted, minlength=len(ATTRIBUTES[attr])).tolist()
        out[f"{prompt} -> {attr}s"] = {v: c for v, c in zip(ATTRIBUTES[attr], counts) if c}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20, help="images per prompt (0: proxy and timing only)")
    ap.add_argument("--concepts", default="a triangle", help="comma-separated erased concepts")
    ap.add_argument("--preserve", default="", help="comma-separated preserved concepts (default: the preset's)")
    ap.add_argument("--methods", default="", help="comma-separated subset of the edits (default: all)")
    ap.add_argument("--skip-base", action="store_true", help="do not draw the base model's images")
    ap.add_argument("--out", default=None)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    from erasure import checkpoints as ckpt
    from erasure.models import load_base_pipeline
    from erasure.runtime import set_threads
    from erasure.worlds.toy.assets import shipped_base_dir
    from erasure.worlds.toy.oracle import load_oracle

    set_threads(args.threads)
    base = str(shipped_base_dir() / "pipeline")
    concepts = args.concepts.split(",")
    preserve = [p for p in args.preserve.split(",") if p]
    pipe = load_base_pipeline("toy:shipped")
    oracle = load_oracle(shipped_base_dir() / "oracle").eval()
    record = {"concepts": concepts, "preserve": preserve, "n": args.n, "seed0": SEED0, "sampler": "DDIM 25, CFG 5", "methods": {}}
    if args.n and not args.skip_base:
        record["methods"]["base"] = {"images": image_rates(lambda: load_base_pipeline("toy:shipped"), oracle, args.n)}
        print(json.dumps({"base": record["methods"]["base"]}), flush=True)
    chosen = [m for m in args.methods.split(",") if m]
    for name, edit in methods(preserve).items():
        if chosen and name not in chosen:
            continue
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            edited = edit(pipe, concepts)
            times.append(time.perf_counter() - t0)
        rec = {"seconds_per_edit_median": round(statistics.median(times), 4), "proxy": proxy(pipe, edited)}
        if args.n:
            with tempfile.TemporaryDirectory() as run_dir:
                ckpt.save_checkpoint(run_dir, 1, {"student": edited}, {}, {}, {"method": name, "deliverable": "student"})
                rec["images"] = image_rates(lambda: ckpt.load_method_pipeline(base, run_dir, 1), oracle, args.n)
        record["methods"][name] = rec
        print(json.dumps({name: rec}), flush=True)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        tag = "-".join(c.replace(" ", "_") for c in concepts) + ("-keep-" + "-".join(p.replace(" ", "_") for p in preserve) if preserve else "")
        (out / f"uce-rece-{tag}-n{args.n}.json").write_text(
            json.dumps(record, indent=1))
    print(table(record))


def table(record: dict) -> str:
    lines = []
    names = list(record["methods"])
    if any("images" in r for r in record["methods"].values()):
        lines.append("| image rate (oracle) | " + " | ".join(names) + " |")
        lines.append("|---" * (len(names) + 1) + "|")
        for prompt, (attr, value) in IMAGE_SETS.items():
            cells = [f"{100 * record['methods'][m]['images'][prompt]:.0f}%" for m in names if "images" in record["methods"][m]]
            lines.append(f"| {prompt!r} {value} | " + " | ".join(cells) + " |")
    edits = [m for m in names if "proxy" in record["methods"][m]]
    lines.append("")
    lines.append("| proxy: rel. change kv / eps / guidance dir | " + " | ".join(edits) + " |")
    lines.append("|---" * (len(edits) + 1) + "|")
    for p in PROXY_PROMPTS:
        cells = []
        for m in edits:
            r = record["methods"][m]["proxy"][p]
            cells.append(f"{r['kv']:.3f} / {r['eps']:.3f} / {r['guidance_dir']:.3f}")
        lines.append(f"| {p!r} | " + " | ".join(cells) + " |")
    lines.append("| seconds per edit (median of 5, CPU) | " + " | ".join(
        f"{record['methods'][m]['seconds_per_edit_median']}" for m in edits) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
