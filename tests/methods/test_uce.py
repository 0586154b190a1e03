"""UCE on a tiny model: the edit equals Eq. 7 computed independently (numpy float64, embeddings from the
pipeline's own encode_prompt, tokens picked by hand); erased keys map to the guide's values; preserved
keys stay put as η_p grows; the output is a checkpoint the existing writer and loader take; bad input is
one ErasureError line."""

import numpy as np
import pytest
import torch

from erasure import checkpoints as ckpt
from erasure.errors import ErasureError
from erasure.methods.uce import (
    DELIVERABLE,
    encode_texts,
    projection_weights,
    resolve_uce_settings,
    uce,
    uce_keys,
    uce_weights,
)
from erasure.models import load_base_pipeline


@pytest.fixture(scope="module")
def pipe(tiny_base):
    return load_base_pipeline(tiny_base)


def embeds(pipe, text):
    """[L, D] float64 via the pipeline's own encoder path (not the module under test)."""
    return pipe.encode_prompt(text, "cpu", 1, False)[0][0].detach().double().numpy()


def last_subject(pipe, text):
    ids = pipe.tokenizer(text, padding="max_length", max_length=pipe.tokenizer.model_max_length).input_ids
    return ids.index(pipe.tokenizer.eos_token_id) - 1  # the token before the first EOS (BOS for "")


def hand_keys(pipe, text, guide, tokens):
    c, g = embeds(pipe, text), embeds(pipe, guide)
    i, j = last_subject(pipe, text), last_subject(pipe, guide)
    if tokens == "last-subject":
        return c[i:i + 1], g[j:j + 1]
    n = len(c) - max(i, j)  # train_erase.py: both cut to the same length from their last subject tokens
    return c[i:i + n], g[j:j + n]


def hand_uce(W, erase, guide, preserve, lamb, es, ps):
    """W' = [λW + η_e Σ v* cᵀ + η_p Σ (W c_j) c_jᵀ][λI + η_e Σ c cᵀ + η_p Σ c_j c_jᵀ]⁻¹, sums written out."""
    D = W.shape[1]
    A, M = lamb * W.copy(), lamb * np.eye(D)
    for c, g in zip(erase, guide):
        A += es * np.outer(W @ g, c)
        M += es * np.outer(c, c)
    for c in preserve:
        A += ps * np.outer(W @ c, c)
        M += ps * np.outer(c, c)
    return A @ np.linalg.inv(M)


@pytest.mark.parametrize("preset, overrides, erase, preserve", [
    ("paper", {}, ["a triangle"], []),                                   # paper code: "" preserved by default
    ("paper", {}, ["a triangle", "a red shape"], ["a square", "a blue circle"]),
    ("current", {}, ["a triangle", "a striped shape"], ["a square"]),
    ("paper", {"lamb": 0.2, "erase_scale": 3.0, "preserve_scale": 0.7}, ["a red shape"], ["a red square"]),
])
def test_uce_equals_formula(pipe, preset, overrides, erase, preserve):
    settings = resolve_uce_settings(preset, overrides)
    edited = uce(pipe.unet, pipe.text_encoder, pipe.tokenizer, erase, preserve, settings)
    params = dict(pipe.unet.named_parameters())
    attn2_kv = [n for n in params if ".attn2.to_k." in n or ".attn2.to_v." in n]
    assert sorted(edited) == sorted(attn2_kv) and len(attn2_kv) >= 4
    pairs = [hand_keys(pipe, e, "", settings.erase_tokens) for e in erase]
    ce, cg = np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])
    kept = preserve or [""]
    if preset == "paper":
        cp = np.concatenate([embeds(pipe, p) for p in kept])
    else:
        cp = np.concatenate([embeds(pipe, p)[last_subject(pipe, p)][None] for p in (preserve or [])])
    for name in attn2_kv:
        W = params[name].detach().double().numpy()
        want = hand_uce(W, ce, cg, cp, settings.lamb, settings.erase_scale, settings.preserve_scale)
        got = edited[name]
        assert got.dtype == params[name].dtype
        np.testing.assert_allclose(got.double().numpy(), want, rtol=1e-5, atol=1e-6)
        assert not np.allclose(want, W, atol=1e-3)  # the edit did something


def test_float64_core_matches_formula_tightly(pipe):
    settings = resolve_uce_settings("paper")
    keys = uce_keys(pipe.text_encoder, pipe.tokenizer, ["a triangle"], ["a square"], settings)
    weights = projection_weights(pipe.unet)
    edited = uce_weights(weights, keys, settings)
    for name, W in weights.items():
        want = hand_uce(W.numpy(), keys.erase.numpy(), keys.guide.numpy(), keys.preserve.numpy(), settings.lamb,
                        settings.erase_scale, settings.preserve_scale)
        np.testing.assert_allclose(edited[name].numpy(), want, rtol=1e-9, atol=1e-11)


def test_encode_texts_is_what_the_pipeline_conditions_on(pipe):
    texts = ["a triangle", "", "a red striped square on the beach"]
    for enc in encode_texts(pipe.text_encoder, pipe.tokenizer, texts):
        np.testing.assert_allclose(enc.hidden.numpy(), embeds(pipe, enc.text), rtol=0, atol=1e-6)
        assert enc.last_subject == last_subject(pipe, enc.text)


@pytest.mark.parametrize("preset, concepts", [("paper", ["a triangle"]),
                                               ("current", ["a triangle", "a red shape", "a striped shape"])])
def test_erased_keys_map_to_guide_values(pipe, preset, concepts):
    """η_p = 0, λ → 0: W' c_i = v*_i = W c*_i for every erased key (fewer keys than dimensions)."""
    settings = resolve_uce_settings(preset, {"preserve_scale": 0.0, "lamb": 1e-7})
    keys = uce_keys(pipe.text_encoder, pipe.tokenizer, concepts, (), settings)
    assert keys.erase.shape[0] < keys.erase.shape[1]
    weights = projection_weights(pipe.unet)
    edited = uce_weights(weights, keys, settings)
    for name, W in weights.items():
        target, before = keys.guide @ W.T, keys.erase @ W.T
        err = (keys.erase @ edited[name].T - target).norm() / target.norm()
        assert err < 1e-3, (name, float(err))
        assert (before - target).norm() / target.norm() > 0.1  # it had something to move


def test_preserved_keys_kept_as_preservation_grows(pipe):
    errors = []
    for scale in (0.01, 0.1, 1.0, 10.0, 100.0, 1e4):
        settings = resolve_uce_settings("paper", {"preserve_scale": scale})
        keys = uce_keys(pipe.text_encoder, pipe.tokenizer, ["a triangle"], ["a square", "a red shape"], settings)
        weights = projection_weights(pipe.unet)
        edited = uce_weights(weights, keys, settings)
        num = sum(float(((keys.preserve @ (edited[n] - W).T) ** 2).sum()) for n, W in weights.items())
        den = sum(float(((keys.preserve @ W.T) ** 2).sum()) for W in weights.values())
        errors.append((num / den) ** 0.5)
    assert all(b < a for a, b in zip(errors, errors[1:])), errors
    assert errors[0] > 0.05 and errors[-1] < 1e-2, errors


def test_edit_is_a_checkpoint_the_loader_takes(pipe, tiny_base, tmp_path):
    edited = uce(pipe.unet, pipe.text_encoder, pipe.tokenizer, ["a triangle"])
    ckpt.save_checkpoint(tmp_path, 1, {DELIVERABLE: edited}, {}, {}, {"method": "uce", "deliverable": DELIVERABLE})
    loaded = ckpt.load_method_pipeline(tiny_base, tmp_path, 1)
    base = dict(pipe.unet.named_parameters())
    for name, p in loaded.unet.named_parameters():
        want = edited[name] if name in edited else base[name]
        torch.testing.assert_close(p.detach(), want.detach(), rtol=0, atol=0)


def test_uce_does_not_modify_the_unet(pipe):
    before = {n: p.detach().clone() for n, p in pipe.unet.named_parameters()}
    uce(pipe.unet, pipe.text_encoder, pipe.tokenizer, ["a triangle"])
    for n, p in pipe.unet.named_parameters():
        assert torch.equal(p, before[n])


@pytest.mark.parametrize("call, message", [
    (lambda p: resolve_uce_settings("nope"), "unknown UCE preset"),
    (lambda p: resolve_uce_settings("paper", {"lamda": 1}), "settings.lamda: unknown"),
    (lambda p: resolve_uce_settings("paper", {"lamb": 0}), "settings.lamb"),
    (lambda p: resolve_uce_settings("paper", {"erase_tokens": "first"}), "settings.erase_tokens"),
    (lambda p: uce(p.unet, p.text_encoder, p.tokenizer, []), "non-empty list"),
    (lambda p: uce(p.unet, p.text_encoder, p.tokenizer, "a triangle"), "non-empty list"),
    (lambda p: uce(p.unet, p.text_encoder, p.tokenizer, ["a triangle", "a square"], guides=["art"]), "guides: 1"),
])
def test_bad_input_is_one_line(pipe, call, message):
    with pytest.raises(ErasureError, match=message) as info:
        call(pipe)
    assert "\n" not in str(info.value)


def test_text_encoder_of_another_width_is_refused(pipe):
    from transformers import CLIPTextConfig, CLIPTextModel

    tok = pipe.tokenizer
    other = CLIPTextModel(CLIPTextConfig(vocab_size=len(tok), hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                         num_attention_heads=2, max_position_embeddings=tok.model_max_length))
    with pytest.raises(ErasureError, match="8-dim|gives 8"):
        uce(pipe.unet, other, tok, ["a triangle"])
