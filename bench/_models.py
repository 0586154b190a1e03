"""Models the benchmarks run on: the toy base (shipped, or a micro base built on demand) and the Stable
Diffusion v1.4 architecture built from its configs with RANDOM weights (no download; speed and memory
depend on the architecture, not the weights).

`arch="sd14"` is SD v1.4 exactly (UNet 860M, VAE 84M, CLIP ViT-L/14 text tower 123M);
`arch="tiny"` keeps every block type of SD v1.4 at toy widths, so the GPU code paths can be tested on a CPU
in seconds (BENCH_REDUCED=1). Figures from `tiny` mean nothing and are labelled as such.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from erasure.worlds.toy.tokenizer import bytes_to_unicode  # CLIP's byte alphabet, one copy

REPO = Path(__file__).resolve().parents[1]

# CompVis/stable-diffusion-v1-4 unet/config.json, vae/config.json, text_encoder/config.json, scheduler
SD14_UNET = dict(
    act_fn="silu", attention_head_dim=8, block_out_channels=[320, 640, 1280, 1280], center_input_sample=False,
    cross_attention_dim=768, down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"], downsample_padding=1,
    flip_sin_to_cos=True, freq_shift=0, in_channels=4, layers_per_block=2, mid_block_scale_factor=1, norm_eps=1e-5,
    norm_num_groups=32, out_channels=4, sample_size=64, up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
)
SD14_VAE = dict(
    act_fn="silu", block_out_channels=[128, 256, 512, 512], down_block_types=["DownEncoderBlock2D"] * 4,
    in_channels=3, latent_channels=4, layers_per_block=2, norm_num_groups=32, out_channels=3, sample_size=512,
    up_block_types=["UpDecoderBlock2D"] * 4,
)
SD14_TEXT = dict(
    vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
    max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768, bos_token_id=0, eos_token_id=2,
    pad_token_id=1,
)
SD14_SCHEDULER = dict(
    beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
    set_alpha_to_one=False, steps_offset=1, clip_sample=False, skip_prk_steps=True,
)

TINY_UNET = {**SD14_UNET, "block_out_channels": [32, 64, 64, 64], "cross_attention_dim": 32,
             "attention_head_dim": 4, "layers_per_block": 1, "norm_num_groups": 8}
TINY_VAE = {**SD14_VAE, "block_out_channels": [16, 16, 32, 32], "layers_per_block": 1, "norm_num_groups": 8}
TINY_TEXT = {**SD14_TEXT, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 2, "projection_dim": 32}

ARCHS = {"sd14": (SD14_UNET, SD14_VAE, SD14_TEXT), "tiny": (TINY_UNET, TINY_VAE, TINY_TEXT)}


def random_unet(arch: str = "sd14", *, latent: int = 64, device="cpu", seed: int = 0):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    config = {**ARCHS[arch][0], "sample_size": latent}
    with torch.device(device):
        unet = UNet2DConditionModel(**config)
    return unet


def write_byte_tokenizer(folder: Path) -> Path:
    """A CLIP tokenizer with CLIP's 512 byte-level symbols and no merges (offline; tokens are characters).
    Token ids stay below 49408, so SD v1.4's text tower takes them; prompts are padded to 77 as in SD."""
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    symbols = list(bytes_to_unicode().values())
    vocab = {s: i for i, s in enumerate(symbols + [s + "</w>" for s in symbols] + ["<|startoftext|>", "<|endoftext|>"])}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)
    tok.save_pretrained(str(folder))
    return folder


def random_pipeline(arch: str = "sd14", *, latent: int = 64, device="cpu", dtype=torch.float32, seed: int = 0):
    """A StableDiffusionPipeline of the SD v1.4 architecture with random weights and a DDIM scheduler."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    unet_cfg, vae_cfg, text_cfg = ARCHS[arch]
    unet = random_unet(arch, latent=latent, device=device, seed=seed)
    with torch.device(device):
        vae = AutoencoderKL(**{**vae_cfg, "sample_size": latent * 8})
        text_encoder = CLIPTextModel(CLIPTextConfig(**text_cfg))
    tok_dir = write_byte_tokenizer(Path(tempfile.mkdtemp(prefix="bench-tok-")))
    tokenizer = CLIPTokenizer.from_pretrained(str(tok_dir))
    scheduler = DDIMScheduler(**{k: v for k, v in SD14_SCHEDULER.items() if k != "skip_prk_steps"})
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device=device, dtype=dtype)


def micro_base_dir() -> Path:
    """A micro toy base (erasure.worlds.toy.build --recipe micro), built once into the temp dir."""
    root = Path(os.environ.get("BENCH_CACHE", Path(tempfile.gettempdir()) / "erasure-bench")) / "micro"
    if not (root / "pipeline" / "model_index.json").is_file():
        subprocess.run([sys.executable, "-m", "erasure.worlds.toy.build", "--out", str(root), "--recipe", "micro",
                        "--threads", str(max(1, torch.get_num_threads()))], check=True, cwd=REPO,
                       stdout=subprocess.DEVNULL)
    return root


def toy_base_dir(choice: str = "auto") -> tuple[Path, str]:
    """(base directory, label): `shipped`, `micro`, a path, or `auto` (shipped if present, else micro)."""
    from erasure.worlds.toy.assets import SHIPPED_BASE

    if choice in ("auto", "shipped"):
        if (SHIPPED_BASE / "pipeline" / "model_index.json").is_file():
            return SHIPPED_BASE, "toy:shipped"
        if choice == "shipped":
            raise SystemExit(f"{SHIPPED_BASE}: the shipped toy base is not there yet; use --base micro")
        return micro_base_dir(), "toy micro base (random-ish: 6 training steps; speed only)"
    if choice == "micro":
        return micro_base_dir(), "toy micro base (random-ish: 6 training steps; speed only)"
    return Path(choice), f"toy base at {choice}"


def toy_pipeline(base_dir: Path, device="cpu"):
    from erasure.models import load_base_pipeline

    return load_base_pipeline(str(base_dir / "pipeline"), device=device)


def toy_run_settings(run: str = "sdd-triangle") -> dict:
    """The toy config's own settings for an SDD run (config/config.yaml), so the toy benchmark is the toy run."""
    import yaml

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    spec = config["runs"][run]
    return {"preset": spec.get("preset", "paper"), "concepts": spec["concepts"], "settings": dict(spec.get("settings", {}))}
