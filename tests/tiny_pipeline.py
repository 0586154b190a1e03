"""The tiny random Stable Diffusion pipeline the method and attack tests share (toy tokenizer, 2-block UNet on
4x4 latents): built from configs, seeded, no weights that mean anything."""

from __future__ import annotations

import torch


def tiny_pipeline(tokenizer_dir):
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from erasure.worlds.toy.tokenizer import build_tokenizer
    from erasure.worlds.toy.unet import SCHEDULER_KWARGS

    torch.manual_seed(0)
    tokenizer = build_tokenizer(tokenizer_dir)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        max_position_embeddings=tokenizer.model_max_length, projection_dim=16,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    ))
    unet = UNet2DConditionModel(
        sample_size=4, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(8, 16),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        attention_head_dim=4, cross_attention_dim=16, norm_num_groups=4,
    )
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(4, 4), layers_per_block=1,
                        latent_channels=4, norm_num_groups=2, sample_size=8)
    return StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=DDIMScheduler(**SCHEDULER_KWARGS),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
