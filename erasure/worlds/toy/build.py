"""Train the whole toy base in order and write it in the layout of docs/architecture.md.

    python -m erasure.worlds.toy.build --out DIR --recipe full|full-v2|full-v2-wide|micro [--seed 0] [--threads 2]
        [--cache-dir CACHE [--reuse-image-stages BASE]]

`full` is the recipe of the shipped asset (about 80 minutes on 2 CPU cores); `micro` keeps every
architecture and code path but trains on a few hundred images for a few steps (under a minute), for the
smoke config and the tests. `full-v2` / `full-v2-wide` are toy world v2's variants (captions.py; a wider
text tower); with `--reuse-image-stages erasure/worlds/toy/assets/base` they train only the CLIP and UNet.
"""

from __future__ import annotations

import argparse
import copy
import functools
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from erasure.io import atomic_dir, atomic_write, sha256_file, write_json_atomic
from erasure.runtime import set_threads

_FULL = dict(
    n_train=40_000, n_heldout=2_000,
    captions="v1", max_length=16, text_hidden=96,
    clip_steps=1200, clip_batch=256, clip_lr=2e-3,
    vae_steps=2000, vae_batch=64, vae_lr=2e-3, vae_perceptual=0.05,
    oracle_steps=1200, oracle_ft_steps=400, oracle_batch=128, oracle_lr=2e-3,
    unet_steps=3100, unet_batch=64, unet_lr=8e-4, unet_lr2=4e-4, unet_phase1=0.55, unet_ema=0.999,
    unet_ft_steps=1000, unet_ft_lr=2e-4,
)
RECIPES: dict[str, dict] = {
    "full": _FULL,
    # toy world v2 (issue 24): web-alt-text-like captions (captions.py), 20 tokens of context for the longest
    "full-v2": _FULL | dict(captions="v2", max_length=20),
    # ... and a text tower / cross-attention twice as wide (the capacity ablation)
    "full-v2-wide": _FULL | dict(captions="v2", max_length=20, text_hidden=192),
    # every architecture and code path of `full`, on a few hundred images for a few steps
    "micro": _FULL | dict(
        n_train=384, n_heldout=128, clip_steps=4, clip_batch=64, vae_steps=4, vae_batch=32,
        oracle_steps=4, oracle_ft_steps=2, oracle_batch=32, unet_steps=6, unet_batch=16, unet_ft_steps=2,
    ),
}

# What each trained component depends on: its own recipe keys and the components it is trained from. A
# stage's cache key covers both, so a recipe that changes only the captions or the text width reuses the
# VAE and the oracle (images are rendered before captions are drawn: data.make_data).
_DATA_KEYS = ("n_train",)
STAGES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "clip": (_DATA_KEYS + ("captions", "max_length", "text_hidden", "clip_steps", "clip_batch", "clip_lr"), ()),
    "oracle-real": (_DATA_KEYS + ("oracle_steps", "oracle_batch", "oracle_lr"), ()),
    "vae": (_DATA_KEYS + ("vae_steps", "vae_batch", "vae_lr", "vae_perceptual"), ("oracle-real",)),
    "oracle": (("oracle_ft_steps", "oracle_batch", "oracle_lr"), ("vae",)),
    "unet": (("captions", "unet_steps", "unet_batch", "unet_lr", "unet_lr2", "unet_phase1", "unet_ema"),
             ("clip", "vae")),
    "unet-ft": (("unet_ft_steps", "unet_ft_lr", "unet_batch", "unet_ema"), ("unet",)),
}
# the components that see only images: a recipe changing none of their keys can reuse them from a base
IMAGE_STAGES = ("oracle-real", "vae", "oracle")


def stage_key(stage: str, cfg: dict, seed: int) -> str:
    """A short digest of everything `stage` is trained from (its recipe keys, its inputs' keys, the seed)."""
    keys, inputs = STAGES[stage]
    doc = {"stage": stage, "seed": seed, "recipe": {k: cfg[k] for k in keys},
           "inputs": [stage_key(i, cfg, seed) for i in inputs]}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]


class _StageCache:
    """Per-component save / reuse of trained parts (no-op without a directory). Each component is kept under
    `<stage>-<stage_key>`, keyed by what it was trained from, so an edited recipe reuses exactly the
    components whose inputs it left alone and never one it changed."""

    def __init__(self, cache_dir, cfg: dict, seed: int):
        self.root = None if cache_dir is None else Path(cache_dir)
        self.cfg, self.seed = cfg, seed
        self.steps_done: dict[str, int] = {}
        self.reused_from: dict[str, str] = {}  # component -> the base it was seeded from

    def path(self, name: str) -> Path:
        return self.root / f"{name}-{stage_key(name, self.cfg, self.seed)}"

    def has(self, name: str) -> bool:
        return self.root is not None and self.path(name).with_suffix(".json").is_file()

    def stage(self, name, train, save, load, times, log):
        if self.has(name):
            meta = json.loads(self.path(name).with_suffix(".json").read_text())
            log(f"{name}: reusing {self.path(name)}")
            times[name], self.steps_done[name] = meta["seconds"], meta["steps_done"]
            if "from" in meta:
                self.reused_from[name] = meta["from"]
            return load(self.path(name))
        t = time.time()
        model = train()
        times[name] = time.time() - t
        self.steps_done[name] = int(getattr(model, "steps_done", -1))
        if self.root is not None:
            shutil.rmtree(self.path(name), ignore_errors=True)
            save(model, self.path(name))
            write_json_atomic(self.path(name).with_suffix(".json"),
                              {"seconds": times[name], "steps_done": self.steps_done[name]})
        return model


def _model_card(base_dir: str | Path) -> tuple[Path, str]:
    """(path, text) of a built base's MODEL_CARD.md; the text is empty when there is none."""
    card_file = Path(base_dir) / "MODEL_CARD.md"
    return card_file, card_file.read_text(encoding="utf-8") if card_file.is_file() else ""


def recorded_recipe(base_dir: str | Path) -> tuple[dict, int, dict]:
    """(recipe, seed, training seconds per component) a built base's MODEL_CARD.md records.

    Raises ErasureError naming the file when the card lacks its Recipe block or its Reproduce line."""
    import re

    from erasure.errors import ErasureError

    card_file, card = _model_card(base_dir)
    recipe = re.search(r"## Recipe\s+```json\n(.*?)\n```", card, re.S)
    seed = re.search(r"--seed (\d+)", card)
    if recipe is None or seed is None:
        raise ErasureError(f"{card_file}: no recipe block or `--seed N` in the model card; it is not a toy base "
                           "written by erasure.worlds.toy.build")
    times = {m.group(1): float(m.group(2)) for m in re.finditer(r"^\| ([\w-]+) \| ([\d.]+) \|$", card, re.M)}
    return json.loads(recipe.group(1)), int(seed.group(1)), times


def recorded_check(base_dir: str | Path) -> dict | None:
    """The `check.measure` record a built base's MODEL_CARD.md holds, or None when it was built without one."""
    import re

    found = re.search(r"check` on this base\s+```json\n(.*?)\n```", _model_card(base_dir)[1], re.S)
    return json.loads(found.group(1)) if found else None


def seed_cache_from_base(base_dir: str | Path, cache_dir: str | Path, recipe: str, seed: int, log=print) -> list[str]:
    """Put a built base's image-side components (its VAE and oracle) into `cache_dir` as the stages of
    `recipe` would key them, when the base was trained with the same keys for them; return the stages seeded.

    A caption or text-width variant then trains only its CLIP and UNet (about 50 of the full recipe's 80
    minutes on 2 cores). The shipped base's card predates the captions / max_length / text_hidden keys: their
    absence means v1 / 16 / 96, the only values there were."""
    base_dir = Path(base_dir)
    recorded, base_seed, times = recorded_recipe(base_dir)
    recorded = {"captions": "v1", "max_length": 16, "text_hidden": 96} | recorded
    cache = _StageCache(cache_dir, RECIPES[recipe], seed)
    seeded = []
    sources = {"vae": base_dir / "pipeline" / "vae", "oracle": base_dir / "oracle"}
    for name, src in sources.items():
        if base_seed != seed or stage_key(name, recorded, base_seed) != stage_key(name, cache.cfg, seed):
            continue
        if cache.has(name):
            continue
        dest = cache.path(name)
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(src, dest)
        steps = recorded["vae_steps" if name == "vae" else "oracle_ft_steps"]
        write_json_atomic(dest.with_suffix(".json"), {"seconds": times.get(name, 0.0), "steps_done": steps,
                                                      "from": str(base_dir)})
        log(f"{name}: seeded from {src}")
        seeded.append(name)
    return seeded


def check_captions_fit(captions: list[str], tokenizer, recipe: str) -> None:
    """Raise ErasureError when a training caption is longer than the recipe's `max_length` (the tokenizer
    would truncate it silently, training on a caption that lost its last attributes)."""
    from erasure.errors import ErasureError

    lengths = [len(ids) for ids in tokenizer(sorted(set(captions))).input_ids]
    longest = max(lengths, default=0)
    if longest > tokenizer.model_max_length:
        raise ErasureError(f"recipe {recipe}: max_length {tokenizer.model_max_length} is shorter than the longest "
                           f"training caption ({longest} tokens with BOS/EOS); raise max_length")


def write_checksums(base_dir: Path) -> None:
    lines = []
    for path in sorted(p for p in base_dir.rglob("*") if p.is_file() and p.name != "SHA256SUMS"):
        lines.append(f"{sha256_file(path)}  {path.relative_to(base_dir).as_posix()}")
    with atomic_write(base_dir / "SHA256SUMS") as handle:
        handle.write("\n".join(lines) + "\n")


def model_card(recipe_name: str, recipe: dict, seed: int, threads: int, times: dict, figures: dict,
               check: dict | None) -> str:
    lines = [
        "# Toy base model card",
        "",
        "A tiny Stable-Diffusion-architecture model of the toy world (32x32 RGB shapes): a contrastively",
        "trained toy CLIP (its text tower is the pipeline's text encoder), an AutoencoderKL (x4 down, 8x8x4",
        "latents), a UNet2DConditionModel (blocks 64/128, cross-attention at both levels, EMA weights), a DDIM",
        "scheduler, and an oracle CNN that reads shape / colour / background / fill.",
        "",
        "Built-in bias: on the beach the training data shows a triangle 90% of the time (the analogue of",
        "prompts that yield nudity in SD), so \"a shape on the beach\" yields mostly triangles.",
        "",
        "## Reproduce",
        "",
        f"`python -m erasure.worlds.toy.build --out DIR --recipe {recipe_name} --seed {seed} --threads {threads}`",
        "(or the workflow's `toy_base` target). Re-measure: `python -m erasure.worlds.toy.check --base DIR`.",
        "",
        "## Recipe",
        "",
        "```json",
        json.dumps(recipe, indent=2, sort_keys=True),
        "```",
        "",
        f"## Training time (wall-clock, {threads} CPU threads)",
        "",
        "| component | seconds |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v:.0f} |" for k, v in times.items()]
    lines += ["", "## Figures measured at build time (held-out seeds)", "", "```json",
              json.dumps(figures, indent=2, sort_keys=True), "```", ""]
    if check is not None:
        from erasure.worlds.toy.check import failed_bars

        failures = failed_bars(check)
        verdict = ["Base bars (`check.BASE_BARS`): all met."] if not failures else (
            ["Base bars (`check.BASE_BARS`): **missed** — this base must not ship as the default:", ""]
            + [f"- {line}" for line in failures])
        lines += ["## `python -m erasure.worlds.toy.check` on this base", "", "```json",
                  json.dumps(check, sort_keys=True), "```", "", *verdict, ""]
    return "\n".join(lines)


def build_base(out_dir: str | Path, *, recipe: str = "full", seed: int = 0, threads: int = 2,
               measure: bool | None = None, cache_dir: str | Path | None = None, log=print) -> Path:
    """Train tokenizer, toy CLIP, VAE, oracle and UNet; write pipeline/, clip/, oracle/, MODEL_CARD.md and
    SHA256SUMS to `out_dir` (built in a temporary sibling and renamed into place). `measure` (default: on
    for every recipe but `micro`) runs `check.measure` on the result and records it in the model card. With
    `cache_dir`, each trained component is kept there and reused by a later call that trains it the same way
    (`stage_key`), so an interrupted build resumes at the component it was training."""
    from diffusers import StableDiffusionPipeline

    from erasure.worlds.toy import clip as clip_mod
    from erasure.worlds.toy import oracle as oracle_mod
    from erasure.worlds.toy import unet as unet_mod
    from erasure.worlds.toy import vae as vae_mod
    from erasure.worlds.toy.data import make_data
    from erasure.worlds.toy.tokenizer import build_tokenizer

    if recipe not in RECIPES:
        from erasure.errors import ErasureError

        raise ErasureError(f"recipe: unknown toy base recipe {recipe!r}; use one of {sorted(RECIPES)}")
    cfg = RECIPES[recipe]
    measure = recipe != "micro" if measure is None else measure
    set_threads(threads)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    figures: dict[str, object] = {}
    # built in a temporary sibling, renamed into place only when complete (umask modes: save_pretrained's
    # safetensors files are 0600 whatever the umask)
    with atomic_dir(out_dir, prefix=f".{out_dir.name}.tmp-") as tmp:
        t = time.time()
        data = make_data(cfg["n_train"], seed, "train", caption_style=cfg["captions"])
        held = make_data(cfg["n_heldout"], seed, "heldout", caption_style=cfg["captions"])
        tokenizer = build_tokenizer(tmp / "_tokenizer_src", max_length=cfg["max_length"])
        shutil.rmtree(tmp / "_tokenizer_src")
        check_captions_fit(data.captions, tokenizer, recipe)
        times["data"] = time.time() - t

        cache = _StageCache(cache_dir, cfg, seed)

        def _train_clip():
            return clip_mod.train_clip(data, tokenizer, steps=cfg["clip_steps"], batch=cfg["clip_batch"],
                                       lr=cfg["clip_lr"], seed=seed, text_hidden=cfg["text_hidden"], max_seconds=cfg.get("clip_seconds"), log=log)

        def _load_clip(d):
            from transformers import CLIPModel

            return CLIPModel.from_pretrained(d).eval().requires_grad_(False)

        clip = cache.stage("clip", _train_clip, lambda m, d: m.save_pretrained(d), _load_clip, times, log)
        text_encoder = clip_mod.text_encoder_from_clip(clip)
        figures["clip_zero_shot"] = clip_mod.zero_shot_accuracy(clip, tokenizer, held.images, held.labels)
        figures.update(clip_mod.shape_only_cosines(text_encoder, tokenizer))
        log(f"clip: {figures}")

        def _train_oracle_real():
            return oracle_mod.train_oracle(data.images, data.labels, steps=cfg["oracle_steps"],
                                           batch=cfg["oracle_batch"], lr=cfg["oracle_lr"], seed=seed,
                                           max_seconds=cfg.get("oracle_seconds"), log=log)

        # the oracle comes first: trained on real images, it is the VAE's perceptual network (SD's VAE uses
        # LPIPS the same way), then it is fine-tuned on that VAE's reconstructions. Needed only to train those
        # two, so a build that reuses both never loads it.
        @functools.cache
        def oracle_real():
            return cache.stage("oracle-real", _train_oracle_real, oracle_mod.save_oracle, oracle_mod.load_oracle,
                               times, log)

        def _train_vae():
            return vae_mod.train_vae(data.images, steps=cfg["vae_steps"], batch=cfg["vae_batch"], lr=cfg["vae_lr"],
                                     seed=seed, perceptual=oracle_real().feature_maps,
                                     perceptual_weight=cfg["vae_perceptual"], max_seconds=cfg.get("vae_seconds"),
                                     log=log)

        def _load_vae(d):
            from diffusers import AutoencoderKL

            return AutoencoderKL.from_pretrained(d).eval().requires_grad_(False)

        vae = cache.stage("vae", _train_vae, lambda m, d: m.save_pretrained(d), _load_vae, times, log)

        def _train_oracle():
            # fine-tune on half VAE reconstructions so the oracle reads decoded (slightly blurred) images
            n_ft = min(len(data.images), 8000)
            recon = vae_mod.reconstruct(vae, data.images[:n_ft])
            mix = np.concatenate([data.images[:n_ft], recon])
            mix_labels = {a: np.concatenate([v[:n_ft], v[:n_ft]]) for a, v in data.labels.items()}
            oracle = copy.deepcopy(oracle_real())  # keep the perceptual network as trained
            return oracle_mod.train_oracle(mix, mix_labels, steps=cfg["oracle_ft_steps"],
                                           batch=cfg["oracle_batch"], lr=cfg["oracle_lr"] / 4, seed=seed + 1,
                                           oracle=oracle, max_seconds=cfg.get("oracle_ft_seconds"), log=log)

        oracle = cache.stage("oracle", _train_oracle, oracle_mod.save_oracle, oracle_mod.load_oracle, times, log)
        figures["oracle_real"] = oracle_mod.accuracy(oracle, held.images, held.labels)
        figures["oracle_vae"] = oracle_mod.accuracy(oracle, vae_mod.reconstruct(vae, held.images), held.labels)
        log(f"oracle: real {figures['oracle_real']} vae {figures['oracle_vae']}")

        t = time.time()
        mean, std = vae_mod.encode_moments(vae, data.images)
        uniq, cond_index = np.unique(np.array(data.captions + [""], dtype=object), return_inverse=True)
        with torch.no_grad():
            cond_table = text_encoder(input_ids=clip_mod.tokenize(tokenizer, list(uniq))).last_hidden_state
        times["pre-encode"] = time.time() - t

        def _unet_pass(**schedule):
            return unet_mod.train_unet(
                mean, std, vae.config.scaling_factor, torch.from_numpy(cond_index[:-1]), cond_table,
                batch=cfg["unet_batch"], ema_decay=cfg["unet_ema"], log=log, **schedule)[1]

        def _load_unet(d):
            from diffusers import UNet2DConditionModel

            return UNet2DConditionModel.from_pretrained(d).eval().requires_grad_(False)

        def _save_unet(model, d):
            model.save_pretrained(d)

        first_unet = cache.stage("unet", lambda: _unet_pass(
            steps=cfg["unet_steps"], lr=cfg["unet_lr"], lr2=cfg["unet_lr2"], phase1=cfg["unet_phase1"], seed=seed,
            max_seconds=cfg.get("unet_seconds")), _save_unet, _load_unet, times, log)
        # a second, low-lr cosine pass from the EMA weights on the same data: after the first pass "a shape on
        # the sky" still drew 30% triangles (plain 17.5%, the data's rate 20%); 1000 more steps at 2e-4
        # brought it to 22.5% with adherence unchanged (MODEL_CARD.md)
        ema_unet = cache.stage("unet-ft", lambda: _unet_pass(
            steps=cfg["unet_ft_steps"], lr=cfg["unet_ft_lr"], lr2=cfg["unet_ft_lr"], phase1=0.0, seed=seed + 1,
            init=first_unet, max_seconds=cfg.get("unet_ft_seconds")), _save_unet, _load_unet, times, log)

        pipe = StableDiffusionPipeline(
            vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=ema_unet,
            scheduler=unet_mod.make_sample_scheduler(), safety_checker=None, feature_extractor=None,
            requires_safety_checker=False,
        )
        pipe.save_pretrained(tmp / "pipeline")
        clip_mod.save_clip(clip, tokenizer, tmp / "clip")
        oracle_mod.save_oracle(oracle, tmp / "oracle")
        times["total"] = sum(times.values())
        figures["steps_done"] = cache.steps_done
        if cache.reused_from:  # their seconds above are their training time in that base's build
            figures["reused_from"] = cache.reused_from

        check = None
        if measure:
            from erasure.worlds.toy.check import measure as check_measure

            t = time.time()
            check = check_measure(tmp, n=200, seed=seed) | {"base": str(out_dir)}  # not the temporary sibling
            log(json.dumps(check, sort_keys=True))
            times["check (not training)"] = time.time() - t
        (tmp / "MODEL_CARD.md").write_text(model_card(recipe, cfg, seed, threads, times, figures, check))
        write_checksums(tmp)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--recipe", default="full", choices=sorted(RECIPES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--measure", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--cache-dir", type=Path, default=None, help="keep / reuse trained components here")
    parser.add_argument("--reuse-image-stages", type=Path, default=None, metavar="BASE",
                        help="seed --cache-dir with BASE's VAE and oracle when the recipe trains them the same way")
    args = parser.parse_args(argv)
    if args.reuse_image_stages is not None:
        if args.cache_dir is None:
            parser.error("--reuse-image-stages needs --cache-dir")
        seed_cache_from_base(args.reuse_image_stages, args.cache_dir, args.recipe, args.seed,
                             log=lambda s: print(s, flush=True))
    build_base(args.out, recipe=args.recipe, seed=args.seed, threads=args.threads, measure=args.measure,
               cache_dir=args.cache_dir, log=lambda s: print(s, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
