"""The Stable Diffusion v1.4 and CLIP ViT-L/14 architectures from their configs, at full size or scaled down,
with RANDOM weights (no download). Used by the benchmarks (compute depends on the architecture, not the
weights) and by the stand-ins of `erasure.standins.build` (the real loading code on tiny models).

`arch="sd14"` is SD v1.4 exactly (UNet 860M, VAE 84M, CLIP ViT-L/14 text tower 123M); `arch="tiny"` keeps
every block type of SD v1.4 at toy widths. Numbers from random weights mean nothing.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch

from erasure.bpe import bytes_to_unicode  # CLIP's byte alphabet, one copy

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
# scheduler/scheduler_config.json of CompVis/stable-diffusion-v1-4 (PNDMScheduler), every key; the file
# itself is SD14_SCHEDULER_FILE (clip_sample is a DDIM key PNDM ignores, shipped all the same)
SD14_SCHEDULER = dict(
    beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
    set_alpha_to_one=False, steps_offset=1, clip_sample=False, skip_prk_steps=True, trained_betas=None,
)

SD14_SCHEDULER_FILE = {"_class_name": "PNDMScheduler", "_diffusers_version": "0.7.0.dev0", "beta_end": 0.012,
                       "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
                       "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1, "trained_betas": None,
                       "clip_sample": False}

TINY_UNET = {**SD14_UNET, "block_out_channels": [32, 64, 64, 64], "cross_attention_dim": 32,
             "attention_head_dim": 4, "layers_per_block": 1, "norm_num_groups": 8}
TINY_VAE = {**SD14_VAE, "block_out_channels": [16, 16, 32, 32], "layers_per_block": 1, "norm_num_groups": 8}
TINY_TEXT = {**SD14_TEXT, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 2, "projection_dim": 32}

ARCHS = {"sd14": (SD14_UNET, SD14_VAE, SD14_TEXT), "tiny": (TINY_UNET, TINY_VAE, TINY_TEXT)}

# CLIP towers (projection 768 in both, as Q16's prompt embeddings need):
TINY_CLIP = dict(  # 32 px, 2-layer towers: exercises the scorer's code path in seconds
    text=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2),
    vision=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32,
                patch_size=8))
VIT_L14_CLIP = dict(  # openai/clip-vit-large-patch14's architecture: the real model's compute
    text=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12),
    vision=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                image_size=224, patch_size=14))


def random_unet(arch: str = "sd14", *, latent: int = 64, device="cpu", seed: int = 0):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    config = {**ARCHS[arch][0], "sample_size": latent}
    with torch.device(device):
        unet = UNet2DConditionModel(**config)
    return unet


def write_byte_tokenizer(folder: Path) -> Path:
    """A CLIP tokenizer with CLIP's 512 byte-level symbols and no merges (offline; tokens are characters),
    written as vocab.json + merges.txt. Token ids stay below 49408, so SD v1.4's text tower takes them;
    prompts are padded to 77 as in SD."""
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    symbols = list(bytes_to_unicode().values())
    vocab = {s: i for i, s in enumerate(symbols + [s + "</w>" for s in symbols] + ["<|startoftext|>", "<|endoftext|>"])}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)
    tok.save_pretrained(str(folder))
    return folder


def random_pipeline(arch: str = "sd14", *, latent: int = 64, device="cpu", dtype=torch.float32, seed: int = 0,
                    scheduler: str = "ddim", tokenizer_dir: Path | None = None):
    """A StableDiffusionPipeline of the SD v1.4 architecture with random weights; `scheduler` "ddim" or
    "pndm" (SD v1.4's own, its scheduler_config.json exactly)."""
    from diffusers import AutoencoderKL, DDIMScheduler, PNDMScheduler, StableDiffusionPipeline
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    unet_cfg, vae_cfg, text_cfg = ARCHS[arch]
    unet = random_unet(arch, latent=latent, device=device, seed=seed)
    with torch.device(device):
        vae = AutoencoderKL(**{**vae_cfg, "sample_size": latent * 8})
        text_encoder = CLIPTextModel(CLIPTextConfig(**text_cfg))
    tok_dir = write_byte_tokenizer(tokenizer_dir or Path(tempfile.mkdtemp(prefix="bench-tok-")))
    tokenizer = CLIPTokenizer.from_pretrained(str(tok_dir))
    if scheduler == "pndm":
        noise_scheduler = PNDMScheduler.from_config(SD14_SCHEDULER)  # ignores clip_sample, as loading SD v1.4 does
    else:
        noise_scheduler = DDIMScheduler(**{k: v for k, v in SD14_SCHEDULER.items() if k != "skip_prk_steps"})
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=noise_scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device=device, dtype=dtype)


def random_clip_dir(folder: Path, arch: dict, projection_dim: int = 768, *, seed: int = 0) -> Path:
    """A randomly initialised CLIPModel + CLIPProcessor of architecture `arch` (TINY_CLIP, VIT_L14_CLIP),
    saved with save_pretrained so that it loads like the real one."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    torch.manual_seed(seed)
    config = CLIPConfig(text_config=dict(vocab_size=49408, max_position_embeddings=77, **arch["text"]),
                        vision_config=arch["vision"], projection_dim=projection_dim)
    CLIPModel(config).save_pretrained(str(folder))
    tokenizer = CLIPTokenizer.from_pretrained(str(write_byte_tokenizer(Path(folder) / "tok")))
    size = arch["vision"]["image_size"]
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": size},
                                                                 crop_size={"height": size, "width": size}),
                              tokenizer=tokenizer)
    processor.save_pretrained(str(folder))
    return Path(folder)
