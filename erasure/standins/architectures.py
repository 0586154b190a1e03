"""The Stable Diffusion v1.4, v2.1 and SDXL base 1.0 and CLIP ViT-L/14 architectures from their configs, at full
size or scaled down, with RANDOM weights (no download). Used by the benchmarks (compute depends on the architecture, not the
weights) and by the stand-ins of `erasure.standins.build` (the real loading code on tiny models).

`arch="sd14"` is SD v1.4 exactly (UNet 860M, VAE 84M, CLIP ViT-L/14 text tower 123M); `arch="tiny"` keeps
every block type of SD v1.4 at toy widths. `family_pipeline("sd21" | "sdxl", tiny=...)` builds SD 2.1 (v-prediction,
OpenCLIP-H text tower as diffusers converts it: a 23-layer CLIPTextModel, gelu, 1024 wide) and SDXL base 1.0
(two text towers, added text / time conditions) the same way; their tiny versions shrink widths and depths the
way diffusers' own pipeline tests do (tests/pipelines/stable_diffusion_xl: block_out_channels (32, 64),
cross_attention_dim = the two text widths' sum, addition_time_embed_dim 8, projection_class_embeddings_input_dim
= 6 x 8 + the pooled width) and keep every block type, the head-count pattern and the per-block transformer
depths' ordering. Numbers from random weights mean nothing.
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

# stabilityai/stable-diffusion-2-1 unet/config.json (its `attention_head_dim` is diffusers' legacy name for the
# number of heads: 5, 10, 20, 20 heads of 64), text_encoder/config.json (OpenCLIP ViT-H/14's text tower
# converted to transformers' CLIPTextModel with its last layer dropped: SD 2 conditions on the penultimate
# layer), scheduler/scheduler_config.json (DDIM, v-prediction); vae as SD v1.4's at 768 px
SD21_UNET = {**SD14_UNET, "attention_head_dim": [5, 10, 20, 20], "cross_attention_dim": 1024,
             "use_linear_projection": True, "upcast_attention": True, "sample_size": 96}
SD21_VAE = {**SD14_VAE, "sample_size": 768}
SD21_TEXT = dict(
    vocab_size=49408, hidden_size=1024, intermediate_size=4096, num_hidden_layers=23, num_attention_heads=16,
    max_position_embeddings=77, hidden_act="gelu", projection_dim=512, bos_token_id=0, eos_token_id=2,
    pad_token_id=1, layer_norm_eps=1e-5,
)
SD21_SCHEDULER_FILE = {"_class_name": "DDIMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
                       "beta_start": 0.00085, "clip_sample": False, "num_train_timesteps": 1000,
                       "prediction_type": "v_prediction", "set_alpha_to_one": False, "skip_prk_steps": True,
                       "steps_offset": 1, "trained_betas": None}

# stabilityai/stable-diffusion-xl-base-1.0: unet/config.json, vae/config.json (force_upcast: its fp16 decoder
# overflows), text_encoder (CLIP ViT-L/14) and text_encoder_2 (OpenCLIP ViT-bigG/14, CLIPTextModelWithProjection),
# scheduler/scheduler_config.json (Euler, ε), model_index.json's force_zeros_for_empty_prompt
SDXL_UNET = dict(
    act_fn="silu", addition_embed_type="text_time", addition_embed_type_num_heads=64, addition_time_embed_dim=256,
    attention_head_dim=[5, 10, 20], block_out_channels=[320, 640, 1280], center_input_sample=False,
    cross_attention_dim=2048, down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    downsample_padding=1, flip_sin_to_cos=True, freq_shift=0, in_channels=4, layers_per_block=2,
    mid_block_type="UNetMidBlock2DCrossAttn", norm_eps=1e-5, norm_num_groups=32, out_channels=4,
    projection_class_embeddings_input_dim=2816, sample_size=128, transformer_layers_per_block=[1, 2, 10],
    up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"], use_linear_projection=True,
)
SDXL_VAE = {**SD14_VAE, "sample_size": 1024, "scaling_factor": 0.13025, "force_upcast": True}
SDXL_TEXT = {**SD14_TEXT, "layer_norm_eps": 1e-5}
SDXL_TEXT_2 = dict(
    vocab_size=49408, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20,
    max_position_embeddings=77, hidden_act="gelu", projection_dim=1280, bos_token_id=0, eos_token_id=2,
    pad_token_id=1, layer_norm_eps=1e-5,
)
SDXL_SCHEDULER_FILE = {"_class_name": "EulerDiscreteScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
                       "beta_start": 0.00085, "interpolation_type": "linear", "num_train_timesteps": 1000,
                       "prediction_type": "epsilon", "sample_max_value": 1.0, "set_alpha_to_one": False,
                       "skip_prk_steps": True, "steps_offset": 1, "timestep_spacing": "leading",
                       "use_karras_sigmas": False}

TINY_SD21_UNET = {**SD21_UNET, "block_out_channels": [32, 64, 64, 64], "attention_head_dim": [2, 4, 4, 4],
                  "cross_attention_dim": 32, "layers_per_block": 1, "norm_num_groups": 8}
TINY_SD21_TEXT = {**SD21_TEXT, "hidden_size": 32, "intermediate_size": 128, "num_hidden_layers": 2,
                  "num_attention_heads": 2, "projection_dim": 16}
TINY_SDXL_TEXT = {**SDXL_TEXT, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                  "num_attention_heads": 2, "projection_dim": 32}
TINY_SDXL_TEXT_2 = {**SDXL_TEXT_2, "hidden_size": 32, "intermediate_size": 128, "num_hidden_layers": 3,
                    "num_attention_heads": 2, "projection_dim": 32}
TINY_SDXL_UNET = {**SDXL_UNET, "block_out_channels": [32, 64, 64], "attention_head_dim": [2, 4, 4],
                  "transformer_layers_per_block": [1, 1, 2], "layers_per_block": 1, "norm_num_groups": 8,
                  "cross_attention_dim": 64, "addition_time_embed_dim": 8, "addition_embed_type_num_heads": 8,
                  "projection_class_embeddings_input_dim": 6 * 8 + 32}

# family -> {"full" | "tiny": (unet, vae, text encoders, scheduler file)}
FAMILY_ARCHS = {
    "sd21": {"full": (SD21_UNET, SD21_VAE, (SD21_TEXT,), SD21_SCHEDULER_FILE),
             "tiny": (TINY_SD21_UNET, {**TINY_VAE, "sample_size": 768}, (TINY_SD21_TEXT,), SD21_SCHEDULER_FILE)},
    "sdxl": {"full": (SDXL_UNET, SDXL_VAE, (SDXL_TEXT, SDXL_TEXT_2), SDXL_SCHEDULER_FILE),
             "tiny": (TINY_SDXL_UNET, {**TINY_VAE, "sample_size": 1024, "scaling_factor": 0.13025, "force_upcast": True},
                      (TINY_SDXL_TEXT, TINY_SDXL_TEXT_2), SDXL_SCHEDULER_FILE)},
}

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


def family_unet(family: str, *, tiny: bool = False, latent: int | None = None, device="cpu", seed: int = 0):
    """The UNet of `family` ("sd21", "sdxl") at full size or tiny, random weights; `device="meta"` allocates
    nothing (parameter counts of the real architecture)."""
    from diffusers import UNet2DConditionModel

    config = dict(FAMILY_ARCHS[family]["tiny" if tiny else "full"][0])
    if latent is not None:
        config["sample_size"] = latent
    torch.manual_seed(seed)
    with torch.device(device):
        return UNet2DConditionModel(**config)


def family_text_encoders(family: str, *, tiny: bool = False, device="cpu", seed: int = 0) -> list:
    """The text encoder(s) of `family`: one CLIPTextModel (SD 2.1), or CLIPTextModel + CLIPTextModelWithProjection
    (SDXL), random weights."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    configs = FAMILY_ARCHS[family]["tiny" if tiny else "full"][2]
    torch.manual_seed(seed)
    with torch.device(device):
        return [(CLIPTextModelWithProjection if k else CLIPTextModel)(CLIPTextConfig(**c)) for k, c in enumerate(configs)]


def family_pipeline(family: str, *, tiny: bool = True, latent: int = 8, seed: int = 0, tokenizer_dir: Path | None = None):
    """A diffusers pipeline of `family` ("sd21": SD 2.1's, "sdxl": SDXL base 1.0's) with random weights at
    `latent` (pixels = 8 x latent), its scheduler as the real model's scheduler_config.json makes it, the byte
    tokenizer (SD 2.x and SDXL's second tokenizer pad with "!", as the released ones do)."""
    import diffusers
    from diffusers import AutoencoderKL
    from transformers import CLIPTokenizer

    unet_cfg, vae_cfg, _, scheduler_file = FAMILY_ARCHS[family]["tiny" if tiny else "full"]
    unet = family_unet(family, tiny=tiny, latent=latent, seed=seed)
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(**{**vae_cfg, "sample_size": latent * 8})
    encoders = family_text_encoders(family, tiny=tiny, seed=seed + 2)
    tok_dir = write_byte_tokenizer(tokenizer_dir or Path(tempfile.mkdtemp(prefix="standin-tok-")))
    scheduler_cls = getattr(diffusers, scheduler_file["_class_name"])
    scheduler = scheduler_cls.from_config({k: v for k, v in scheduler_file.items() if k != "_class_name"})
    if family == "sd21":
        tokenizer = CLIPTokenizer.from_pretrained(str(tok_dir), pad_token="!")
        pipe = diffusers.StableDiffusionPipeline(vae=vae, text_encoder=encoders[0], tokenizer=tokenizer, unet=unet,
                                                 scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                                 requires_safety_checker=False)
    else:
        pipe = diffusers.StableDiffusionXLPipeline(
            vae=vae, text_encoder=encoders[0], text_encoder_2=encoders[1],
            tokenizer=CLIPTokenizer.from_pretrained(str(tok_dir)),
            tokenizer_2=CLIPTokenizer.from_pretrained(str(tok_dir), pad_token="!"),
            unet=unet, scheduler=scheduler, force_zeros_for_empty_prompt=True, add_watermarker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


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
