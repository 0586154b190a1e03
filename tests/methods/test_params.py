import torch

from erasure.methods.params import count, is_attn2, select_trainable, trainable_names

# UNet2DConditionModel config of CompVis/stable-diffusion-v1-4 (unet/config.json)
SD14_UNET_CONFIG = {
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 768,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}


def sd14_unet_on_meta():
    from accelerate import init_empty_weights
    from diffusers import UNet2DConditionModel

    with init_empty_weights():
        return UNet2DConditionModel(**SD14_UNET_CONFIG)


def test_sd14_attn2_count():
    unet = sd14_unet_on_meta()
    total = count(unet.parameters())
    selected = select_trainable(unet, "sdd")
    assert abs(total - 859.52e6) < 0.05e6, total
    assert abs(count(selected.values()) - 44.0e6) < 0.1e6, count(selected.values())
    # 16 transformer blocks, each with to_q, to_k, to_v (no bias) and to_out.0 (weight + bias)
    assert len(selected) == 16 * 5
    assert all(p.requires_grad == (n in selected) for n, p in unet.named_parameters())


def test_esd_u_is_the_complement():
    unet = sd14_unet_on_meta()
    x = set(trainable_names(unet, "esd-x"))
    u = set(trainable_names(unet, "esd-u"))
    assert x == set(trainable_names(unet, "sdd"))
    assert not x & u and x | u == {n for n, _ in unet.named_parameters()}
    select_trainable(unet, "esd-u")
    assert count(p for p in unet.parameters() if p.requires_grad) == count(unet.parameters()) - 44_000_000 - 20_000 \
        or abs(count(p for p in unet.parameters() if p.requires_grad) - 815.5e6) < 0.1e6


def test_attn2_pattern():
    assert is_attn2("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_out.0.weight")
    assert is_attn2("mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight")
    assert not is_attn2("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_k.weight")
    assert not is_attn2("down_blocks.0.attentions.0.transformer_blocks.0.norm2.weight")


def test_frozen_parameters_get_no_gradient(tiny_base):
    from erasure.models import load_base_pipeline

    unet = load_base_pipeline(tiny_base).unet
    select_trainable(unet, "sdd")
    out = unet(torch.randn(1, 4, 4, 4), 10, encoder_hidden_states=torch.randn(1, 16, 16)).sample
    out.square().mean().backward()
    for name, p in unet.named_parameters():
        assert (p.grad is not None) == is_attn2(name), name
