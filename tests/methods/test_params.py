import torch

from erasure.methods.params import count, is_attn2, select_trainable


def test_sd14_attn2_count(sd14_unet):
    unet = sd14_unet
    total = count(unet.parameters())
    selected = select_trainable(unet, "sdd")
    assert abs(total - 859.52e6) < 0.05e6, total
    assert abs(count(selected.values()) - 44.0e6) < 0.1e6, count(selected.values())
    # 16 transformer blocks, each with to_q, to_k, to_v (no bias) and to_out.0 (weight + bias)
    assert len(selected) == 16 * 5
    assert all(p.requires_grad == (n in selected) for n, p in unet.named_parameters())


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
