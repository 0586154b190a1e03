"""SDD, ESD, UCE on the SD 2.1 and SDXL stand-ins (erasure.standins.architectures.family_pipeline), through the
model-family adapter, recomputed independently: z_t by our own DDIM loop from the teacher (v-prediction for SD 2.1,
added conditions for SDXL), the text conditioning from the text encoders directly, the loss by hand."""

from __future__ import annotations

import copy

import pytest
import torch

from erasure.methods.base import encode_prompts
from erasure.methods.params import is_attn2
from erasure.methods.presets import resolve_settings
from erasure.methods.trainer import build_method, make_optimizer, train_step
from erasure.models import load_base_pipeline
from tests.methods.sdd_by_hand import sdd_loss_by_hand

T, B, LATENT = 4, 2, 8


def _ids(tokenizer, text):
    return tokenizer(text, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                     return_tensors="pt").input_ids


@torch.no_grad()
def by_hand_conditioning(pipe, family: str, text: str) -> dict:
    """UNet keyword arguments for `text`, from the text encoders directly (diffusers' recipe per family)."""
    if family == "sd21":  # SD 2.x: the (23-layer) encoder's last hidden state
        return {"encoder_hidden_states": pipe.text_encoder(_ids(pipe.tokenizer, text))[0]}
    out1 = pipe.text_encoder(_ids(pipe.tokenizer, text), output_hidden_states=True)
    out2 = pipe.text_encoder_2(_ids(pipe.tokenizer_2, text), output_hidden_states=True)
    hidden = torch.cat([out1.hidden_states[-2], out2.hidden_states[-2]], dim=-1)
    pooled, size = out2.text_embeds, LATENT * 8
    if text == "":  # force_zeros_for_empty_prompt (SDXL base's model_index.json)
        hidden, pooled = torch.zeros_like(hidden), torch.zeros_like(pooled)
    return {"encoder_hidden_states": hidden,
            "added_cond_kwargs": {"text_embeds": pooled, "time_ids": torch.tensor([[size, size, 0, 0, size, size]],
                                                                                  dtype=hidden.dtype)}}


def expand(kwargs: dict, n: int) -> dict:
    out = {"encoder_hidden_states": kwargs["encoder_hidden_states"].expand(n, -1, -1)}
    if "added_cond_kwargs" in kwargs:
        out["added_cond_kwargs"] = {k: v.expand(n, -1) for k, v in kwargs["added_cond_kwargs"].items()}
    return out


def test_the_family_is_what_the_stand_in_is(family_base):
    family, base = family_base
    pipe = load_base_pipeline(base)
    from erasure.worlds.families import family_of_pipeline, family_of_source

    expected = {"sd21": ("sd2", "StableDiffusionPipeline", "v_prediction"),
                "sdxl": ("sdxl", "StableDiffusionXLPipeline", "epsilon")}[family]
    assert (family_of_pipeline(pipe).name, type(pipe).__name__, pipe.scheduler.config.prediction_type) == expected
    assert family_of_source(base).name == expected[0]


def test_one_sdd_step_by_hand(family_base):
    family, base_dir = family_base
    pipe = load_base_pipeline(base_dir)
    concepts = ["nudity", "a red shape"]
    settings = resolve_settings("sdd", "paper", dict(lr=1e-3, weight_decay=1e-2, eps=1e-4, warmup_steps=0,
                                                     lr_schedule="constant", batch_size=B, sampling_steps=T, grad_clip=0))
    prompts = encode_prompts(pipe, concepts)
    base = copy.deepcopy(pipe.unet).requires_grad_(False)
    before = {n: p.detach().clone() for n, p in pipe.unet.named_parameters()}
    m = build_method("sdd", pipe.unet, dict(pipe.scheduler.config), prompts, settings)
    optimizer, lr_scheduler = make_optimizer(list(m.trainable.values()), settings, 10)
    loss = train_step(m, optimizer, lr_scheduler, 1, torch.Generator().manual_seed(3), settings.grad_clip)

    g = torch.Generator().manual_seed(3)
    index = int(torch.randint(0, T, (1,), generator=g))
    k = int(torch.randint(0, len(concepts), (1,), generator=g))
    z = torch.randn(B, 4, LATENT, LATENT, generator=g)
    uncond = expand(by_hand_conditioning(pipe, family, ""), B)
    c_p = expand(by_hand_conditioning(pipe, family, concepts[k]), B)
    c_s = expand(by_hand_conditioning(pipe, family, "nudity, a red shape"), B)
    hand_loss, _ = sdd_loss_by_hand(base, pipe.scheduler.config, z, index, T, uncond, c_p, c_s,
                                    v_prediction=family == "sd21")
    hand = float(hand_loss.detach())
    assert abs(loss - hand) <= 1e-5 * max(1.0, hand) and hand > 0

    after = dict(pipe.unet.named_parameters())
    changed = [n for n in before if not torch.equal(after[n], before[n])]
    assert changed and all(is_attn2(n) for n in changed)
    assert len(changed) == sum(is_attn2(n) for n in before)


@pytest.mark.parametrize("method", ["esd-x", "esd-u"])
def test_esd_step_trains_its_subset(family_base, method):
    family, base_dir = family_base
    pipe = load_base_pipeline(base_dir)
    settings = resolve_settings(method, "esd", dict(batch_size=1, sampling_steps=2, warmup_steps=0))
    before = {n: p.detach().clone() for n, p in pipe.unet.named_parameters()}
    m = build_method(method, pipe.unet, dict(pipe.scheduler.config), encode_prompts(pipe, ["nudity"]), settings)
    optimizer, lr_scheduler = make_optimizer(list(m.trainable.values()), settings, 10)
    loss = train_step(m, optimizer, lr_scheduler, 1, torch.Generator().manual_seed(0), settings.grad_clip)
    assert loss > 0
    changed = {n for n, p in pipe.unet.named_parameters() if not torch.equal(p, before[n])}
    assert changed == set(m.trainable)
    assert all(is_attn2(n) for n in changed) == (method == "esd-x")


def test_uce_edits_every_cross_attention_key_value(family_base):
    from erasure.methods import uce

    family, base_dir = family_base
    pipe = load_base_pipeline(base_dir)
    (edit,) = uce.edit(dict(pipe.components), ["nudity"], uce.resolve_uce_settings("paper"))
    weights = edit.weights["unet"]
    expected = {f"{n}.weight" for n, _ in pipe.unet.named_modules() if n.endswith(("attn2.to_k", "attn2.to_v"))}
    assert set(weights) == expected
    width = pipe.unet.config.cross_attention_dim  # SDXL: the two encoders' widths together
    assert all(W.shape[1] == width for W in weights.values())
    params = dict(pipe.unet.named_parameters())
    assert all(not torch.equal(W, params[n]) for n, W in weights.items())


def test_whitebox_loss_is_written_in_the_models_parametrisation(family_base):
    """UnlearnDiffAtk's reconstruction target: v for SD 2.1 (by hand: √ᾱ ε − √(1−ᾱ) z0); SDXL is refused in one line."""
    from erasure.attacks import whitebox
    from erasure.errors import ErasureError

    family, base_dir = family_base
    pipe = load_base_pipeline(base_dir)
    z0 = torch.randn(1, 4, LATENT, LATENT, generator=torch.Generator().manual_seed(1))
    if family == "sdxl":
        with pytest.raises(ErasureError, match="attack unlearndiffatk on SDXL: .*two") as info:
            whitebox.reconstruction_loss(pipe.unet, pipe.text_encoder, pipe.tokenizer, pipe.scheduler, z0, ["a"],
                                         timesteps=[500], n_noise=1)
        assert "\n" not in str(info.value)
        return
    loss = whitebox.reconstruction_loss(pipe.unet, pipe.text_encoder, pipe.tokenizer, pipe.scheduler, z0, ["a photo"],
                                        timesteps=[500], n_noise=2, seed=0)
    eps = torch.randn((1, 2, 4, LATENT, LATENT), generator=torch.Generator().manual_seed(0))[0]
    a = pipe.scheduler.alphas_cumprod[500]
    z_t = a.sqrt() * z0 + (1 - a).sqrt() * eps
    with torch.no_grad():
        pred = pipe.unet(z_t, 500, **expand(by_hand_conditioning(pipe, family, "a photo"), 2)).sample
    v = a.sqrt() * eps - (1 - a).sqrt() * z0
    assert loss[0] == pytest.approx(float(((pred - v) ** 2).mean()), rel=1e-5)
    assert loss[0] != pytest.approx(float(((pred - eps) ** 2).mean()), rel=1e-3)
