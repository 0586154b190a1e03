"""UCE on the shipped toy base (its own toy CLIP): erasing "a triangle" moves what the UNet sees for triangle
prompts more than for square prompts — attn2 key/value outputs and the guidance direction
ε(z_t, c) − ε(z_t, ∅) of one noise prediction. Proxies only (no images); experiments/scripts/erase_uce_toy.py
measures images."""

import pytest
import torch

from erasure.checkpoints import patch_parameters
from erasure.methods.uce import encode_texts, projection_weights, resolve_uce_settings, uce
from erasure.models import load_base_pipeline

OTHER_SHAPES = ["a square", "a circle", "a cross", "a diamond"]


@pytest.fixture(scope="module")
def pipe():
    return load_base_pipeline("toy:shipped")


def kv_change(pipe, edited, text):
    """‖Δ(W c)‖ / ‖W c‖ over every attn2 to_k / to_v and every token of `text`."""
    c = encode_texts(pipe.text_encoder, pipe.tokenizer, [text])[0].hidden
    W = projection_weights(pipe.unet)
    num = sum(float(((c @ (edited[n].double() - w).T) ** 2).sum()) for n, w in W.items())
    den = sum(float(((c @ w.T) ** 2).sum()) for w in W.values())
    return (num / den) ** 0.5


@torch.no_grad()
def guidance_change(pipe, edited, text, t=(250, 500, 750)):
    """Relative change of ε(z_t, c) − ε(z_t, ∅) on 4 fixed latents at timesteps t."""
    cfg = pipe.unet.config
    z = torch.randn(4, cfg.in_channels, cfg.sample_size, cfg.sample_size, generator=torch.Generator().manual_seed(0))
    h = {e.text: e.hidden.float()[None].expand(4, -1, -1) for e in encode_texts(pipe.text_encoder, pipe.tokenizer, [text, ""])}

    def direction():
        return torch.stack([pipe.unet(z, s, encoder_hidden_states=h[text]).sample
                            - pipe.unet(z, s, encoder_hidden_states=h[""]).sample for s in t])

    original = {n: p.detach().clone() for n, p in pipe.unet.named_parameters() if n in edited}
    before = direction()
    patch_parameters(pipe.unet, edited)
    try:
        after = direction()
    finally:
        patch_parameters(pipe.unet, original)
    return float((after - before).norm() / before.norm())


@pytest.mark.parametrize("preset, preserve, other, ratio", [
    # the paper script's default (only "" preserved): measured kv 0.83 vs 0.43, guidance 1.22 vs 0.56
    ("paper", [], "a square", 1.5),
    # the current script preserving the other shapes, checked on a wording it did not preserve:
    # measured kv 0.83 vs 0.11, guidance 1.11 vs 0.13
    ("current", OTHER_SHAPES, "a blue square", 4.0),
])
def test_erasing_triangle_moves_triangles_more_than_squares(pipe, preset, preserve, other, ratio):
    edited = uce(pipe.unet, pipe.text_encoder, pipe.tokenizer, ["a triangle"], preserve, resolve_uce_settings(preset))
    tri, sq = kv_change(pipe, edited, "a triangle"), kv_change(pipe, edited, other)
    assert tri > 0.5 and tri > ratio * sq, (tri, sq)
    g_tri, g_sq = guidance_change(pipe, edited, "a triangle"), guidance_change(pipe, edited, other)
    assert g_tri > 0.5 and g_tri > ratio * g_sq, (g_tri, g_sq)
