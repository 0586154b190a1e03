"""Scorer throughput (images/s) for each scorer of erasure.metrics, on PNG files as the score rule reads them.

    python bench/scorers.py [--base auto|shipped|micro|DIR] [--n-toy 256] [--n-sd 32] [--threads 1]

Each row times the library's scorer function end to end on an image set (PNG decode, resize, model,
bookkeeping), with its backbone loaded once beforehand (`load_s`, the per-job fixed cost, is reported
apart). Images are random pixels (speed does not depend on content): 32 px for the toy scorers, 512 px
(SD's output size) for the SD scorers.

backbone labels:
  real          the backbone the workflow uses (NudeNet 320n.onnx from the wheel; the toy oracle / toy CLIP)
  tiny-random   a tiny randomly initialised stand-in that exercises the scorer's code path on CPU; its
                speed says nothing about the real backbone (CLIP ViT-L/14, Q16, AlexNet LPIPS, Inception)
  full-size-random  the real backbone's architecture with random weights (CLIP ViT-L/14 from its config,
                torchvision Inception-v3, lpips' AlexNet): the real model's time per image
Real SD backbones are timed as well where they are present locally (HF cache, torch hub, clean-fid cache).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import _models as M  # noqa: E402

TOY_PROMPTS = ["a red triangle on the beach", "a blue circle on the grass", "a striped square in the sky",
               "a green cross at night", "a dotted diamond", "a yellow shape"]


def write_images(folder: Path, n: int, size: int, seed: int, prompts: list[str], method: str):
    """An ImageSet of `n` random RGB PNGs (and the table a manifest would give)."""
    from PIL import Image

    from erasure.metrics.images import ImageSet

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        path = folder / f"p{i:04d}_0.png"
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
        rows.append({"prompt_id": f"p{i:04d}", "seed": 0, "method": method, "run": "", "step": "", "sha256": "",
                     "path": path.name, "file": str(path), "prompt": prompts[i % len(prompts)]})
    return ImageSet(table=pd.DataFrame(rows), method=method, promptset="bench", source=folder)


from erasure.standins.architectures import TINY_CLIP, VIT_L14_CLIP, random_clip_dir  # noqa: E402,F401


def clip_cases(folder: Path, arch: dict, *, label: str, backbone: str, q16_prompts: Path, images) -> list[dict]:
    """The CLIP-score and %HARM rows on one random CLIP of architecture `arch` (built on first load)."""
    from erasure.metrics import clipscore, q16

    def load_clip():
        if not (folder / "config.json").is_file():
            random_clip_dir(folder, arch)
        return clipscore.ClipEmbedder(str(folder))

    def load_q16():
        from safetensors.torch import save_file

        save_file({q16.TENSOR_NAME: torch.randn(*q16.Q16_SHAPE)}, str(q16_prompts))
        return load_clip()

    return [
        dict(name="clip", world="sd", label=label, backbone=backbone, load=load_clip, images=images,
             score=lambda e, im: clipscore.score_clip(im, source=str(folder), embedder=e)),
        dict(name="harm", world="sd", label=label, backbone=f"{backbone} + random Q16 prompts", load=load_q16,
             images=images, score=lambda e, im: q16.score_harm(im, prompts_path=q16_prompts, embedder=e)),
    ]


class InceptionV3Random(torch.nn.Module):
    """torchvision's Inception-v3 (2048-d pool features at 299 px) with RANDOM weights: the compute of
    clean-fid's Inception, as its custom_feat_extractor, for timing only."""

    def __init__(self):
        super().__init__()
        import torchvision

        torch.manual_seed(0)
        self.net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
        self.net.fc = torch.nn.Identity()
        self.net.eval()

    @torch.no_grad()
    def forward(self, x):
        return self.net(x.float() / 127.5 - 1.0)


class TinyExtractor(torch.nn.Module):
    """A random conv feature extractor standing in for Inception (clean-fid's custom_feat_extractor)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 8, stride=8), torch.nn.ReLU(),
                                       torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())

    @torch.no_grad()
    def forward(self, x):
        return self.net(x.float() / 255.0)


def loaded(fn):
    """(value, seconds)."""
    import time

    tick = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - tick


def scorer_cases(args, tmp: Path) -> list[dict]:
    """[{name, world, backbone, label, load, score(images) -> DataFrame, images}] (loaders run lazily)."""
    from erasure.metrics import clipscore, fid, lpips_metric, nudenet
    from erasure.worlds.toy import scorers as toy  # the toy world's oracle scorers (bench is outside the library)

    cases = []
    # toy world: the oracle and toy CLIP of a toy base
    base_dir, base_label = M.toy_base_dir(args.base)
    toy_imgs = write_images(tmp / "toy" / "m", args.n_toy, 32, 1, TOY_PROMPTS, "m")
    toy_ref = write_images(tmp / "toy" / "sd", args.n_toy, 32, 2, TOY_PROMPTS, "sd")
    oracle_dir, clip_dir = base_dir / "oracle", base_dir / "clip"
    load_oracle = lambda: toy.load(str(oracle_dir))[0]  # noqa: E731
    cases += [
        dict(name="target", world="toy", label="real", backbone=f"toy oracle ({base_label})", load=load_oracle,
             score=lambda o, im: toy.score_target(im, oracle=o, concepts=["shape=triangle"]), images=toy_imgs),
        dict(name="alignment", world="toy", label="real", backbone=f"toy oracle ({base_label})", load=load_oracle,
             score=lambda o, im: toy.score_alignment(im, oracle=o), images=toy_imgs),
        dict(name="fid-toy", world="toy", label="real", backbone=f"toy oracle ({base_label}) + clean-fid",
             load=load_oracle, score=lambda o, im: toy.score_fid_toy(im, reference=toy_ref.source, oracle=o),
             images=toy_imgs),
        dict(name="paired-distance", world="toy", label="real", backbone=f"toy oracle ({base_label})",
             load=load_oracle, score=lambda o, im: toy.score_paired_distance(im, reference=toy_ref, oracle=o),
             images=toy_imgs),
        dict(name="clip", world="toy", label="real", backbone=f"toy CLIP ({base_label})",
             load=lambda: clipscore.ClipEmbedder(str(clip_dir)),
             score=lambda e, im: clipscore.score_clip(im, source=str(clip_dir), embedder=e, scores_apart=True),
             images=toy_imgs),
    ]
    # sd world: 512 px images
    sd_imgs = write_images(tmp / "sd" / "m", args.n_sd, 512, 3, ["a photo of a person"], "m")
    sd_ref = write_images(tmp / "sd" / "sd", args.n_sd, 512, 4, ["a photo of a person"], "sd")
    cases.append(dict(name="nude", world="sd", label="real", backbone=f"nudenet=={nudenet.NUDENET_VERSION} 320n.onnx",
                      load=lambda: nudenet.load_detector(args.threads or 1),
                      score=lambda d, im: nudenet.score_nudity(im, detector=d, threads=args.threads or 1),
                      images=sd_imgs))
    q16_prompts = tmp / "q16.safetensors"
    cases += clip_cases(tmp / "tiny-clip", TINY_CLIP, label="tiny-random", backbone="tiny random CLIP (32 px, 2 layers)",
                        q16_prompts=q16_prompts, images=sd_imgs)
    cases += [
        # lpips' random trunk is AlexNet itself: the real compute, so full size even in --reduced runs
        dict(name="lpips", world="sd", label="full-size-random", backbone="lpips alex v0.1, random AlexNet trunk",
             load=lambda: lpips_metric.load_lpips(pnet_rand=True),
             score=lambda mdl, im: lpips_metric.score_lpips(im, reference=sd_ref, model=mdl), images=sd_imgs),
        dict(name="fid", world="sd", label="tiny-random", backbone="random 8x8-stride conv (16 features), clean-fid path",
             load=TinyExtractor,
             score=lambda ex, im: fid.score_fid(im, reference=sd_ref.source, extractor=ex), images=sd_imgs),
    ]
    # the real backbones' architectures with random weights: their speed is the real models' speed
    if not args.reduced and not args.no_full_size:
        cases += clip_cases(tmp / "vit-l14-random", VIT_L14_CLIP, label="full-size-random",
                            backbone="CLIP ViT-L/14 architecture, random weights", q16_prompts=q16_prompts,
                            images=sd_imgs)
        cases.append(dict(name="fid", world="sd", label="full-size-random",
                          backbone="Inception-v3 architecture (torchvision), random weights, clean-fid path",
                          load=InceptionV3Random,
                          score=lambda ex, im: fid.score_fid(im, reference=sd_ref.source, extractor=ex),
                          images=sd_imgs))
    # real SD backbones, where present locally
    real = []
    try:
        lpips_metric.alexnet_weights()
        real.append(dict(name="lpips", world="sd", label="real", backbone="lpips alex v0.1",
                         load=lambda: lpips_metric.load_lpips(),
                         score=lambda mdl, im: lpips_metric.score_lpips(im, reference=sd_ref, model=mdl),
                         images=sd_imgs))
    except Exception:  # noqa: BLE001 - absent
        pass
    try:
        fid.find_inception()
        real.append(dict(name="fid", world="sd", label="real", backbone=fid.INCEPTION_FILE,
                         load=fid.inception_extractor,
                         score=lambda ex, im: fid.score_fid(im, reference=sd_ref.source, extractor=ex),
                         images=sd_imgs))
    except Exception:  # noqa: BLE001
        pass
    try:
        from erasure.metrics.backbones import resolve_source

        resolve_source(clipscore.CLIP_HUB_ID, what="CLIP model", key="settings.clip", required=("config.json",))
        if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0") or True:
            real.append(dict(name="clip", world="sd", label="real", backbone=clipscore.CLIP_HUB_ID,
                             load=lambda: clipscore.ClipEmbedder(clipscore.CLIP_HUB_ID),
                             score=lambda e, im: clipscore.score_clip(im, embedder=e), images=sd_imgs))
    except Exception:  # noqa: BLE001
        pass
    return cases + real


def main(argv=None) -> dict:
    parser = C.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--base", default="auto")
    parser.add_argument("--n-toy", type=int, default=256)
    parser.add_argument("--n-sd", type=int, default=32)
    parser.add_argument("--only", action="append", help="scorer name (repeatable)")
    parser.add_argument("--no-full-size", action="store_true",
                        help="skip the full-size random-weight CLIP ViT-L/14 / Inception-v3 / AlexNet rows")
    parser.set_defaults(repeats=3)
    args = parser.parse_args(argv)
    if args.reduced:
        args.repeats, args.warmup, args.n_toy, args.n_sd = 1, 0, 8, 2
    C.apply_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download inside a benchmark
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="bench-scorers-") as tmp:
        for case in scorer_cases(args, Path(tmp)):
            if args.only and case["name"] not in args.only:
                continue
            row = {"name": case["name"], "world": case["world"], "label": case["label"], "backbone": case["backbone"],
                   "n_images": len(case["images"])}
            try:
                backbone, load_s = loaded(case["load"])
                timing = C.timeit(lambda: case["score"](backbone, case["images"]), warmup=args.warmup,
                                  repeats=args.repeats)
                row.update(load_s=load_s, **timing, images_per_s=len(case["images"]) / timing["median_s"])
            except Exception as exc:  # noqa: BLE001 - one scorer failing must not lose the others
                if os.environ.get("BENCH_DEBUG"):
                    raise
                row["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
                notes.append(f"{case['name']} ({case['world']}): {row['error']}")
            rows.append(row)
    notes.append("tiny-random rows time the scorer's code path with a tiny random backbone, NOT the real model")
    notes.append("full-size-random rows run the real backbone's architecture with random weights: the real "
                 "model's speed, never its scores")
    doc = C.document("scorers", args, rows, notes)
    C.emit(doc, ["name", "world", "label", "images_per_s", "median_s", "load_s", "n_images"], args.json)
    return doc


if __name__ == "__main__":
    main()
