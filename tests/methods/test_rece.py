"""RECE on a tiny model: each round's c' is the minimiser of Σ‖W'c' − Wc‖² + γ‖c'‖² (normal equations,
numpy), it regenerates the concept on the edited model better than the concept itself does, and the next
edit takes that away; both modes; checkpoints; bad settings."""

import numpy as np
import pytest

from erasure.errors import ErasureError
from erasure.methods.rece import adversarial_embedding, params, rece, resolve_rece_settings
from erasure.methods.uce import encode_texts, projection_weights
from erasure.models import load_base_pipeline


@pytest.fixture(scope="module")
def pipe(tiny_base):
    return load_base_pipeline(tiny_base)


def loss(edited, original, x, c):
    """Σ_l ‖W'_l x − W_l c‖² over tokens, numpy."""
    return sum(float(((x @ edited[n].numpy().T - c @ W.numpy().T) ** 2).sum()) for n, W in original.items())


@pytest.mark.parametrize("mode, concepts", [("sequential", ["a triangle"]),
                                            ("cumulative", ["a triangle", "a red shape"])])
def test_rounds_derive_adversarial_embeddings_and_erase_them(pipe, mode, concepts):
    settings = resolve_rece_settings({"rounds": 3, "mode": mode})
    rounds = rece(pipe.unet, pipe.text_encoder, pipe.tokenizer, concepts, settings=settings)
    assert [r.index for r in rounds] == [0, 1, 2, 3]
    original = projection_weights(pipe.unet)
    hidden = [e.hidden.numpy() for e in encode_texts(pipe.text_encoder, pipe.tokenizer, concepts)]
    for prev, r in zip(rounds, rounds[1:]):
        assert len(r.adversarial) == len(concepts)
        for k, (adv, c) in enumerate(zip(r.adversarial, hidden)):
            x = adv.numpy()
            # the minimiser: Σ W'ᵀ(W'x − Wc) + γx = 0 for every token (independent of the module's solve)
            grad = sum((x @ prev.weights[n].numpy().T - c @ W.numpy().T) @ prev.weights[n].numpy()
                       for n, W in original.items()) + settings.reg * x
            scale = sum(np.abs(c @ W.numpy().T @ prev.weights[n].numpy()).max() for n, W in original.items())
            assert np.abs(grad).max() < 1e-8 * scale
            derived, of_concept = loss(prev.weights, original, x, c), loss(prev.weights, original, c, c)
            after = loss(r.weights, original, x, c)
            assert derived < 0.7 * of_concept, (r.index, derived, of_concept)   # an adversarial embedding
            assert after > 1.2 * derived, (r.index, derived, after)             # which the next edit erases
            np.testing.assert_allclose([derived, of_concept, after],
                                       [r.loss_derived[k], r.loss_concept[k], r.loss_after[k]], rtol=1e-9)


def test_round_zero_is_uce(pipe):
    from erasure.methods.uce import resolve_uce_settings, uce

    rounds = rece(pipe.unet, pipe.text_encoder, pipe.tokenizer, ["a triangle"], settings=resolve_rece_settings({"rounds": 1}))
    want = uce(pipe.unet, pipe.text_encoder, pipe.tokenizer, ["a triangle"], settings=resolve_uce_settings("paper"))
    got = params(rounds[0], pipe.unet)
    assert sorted(got) == sorted(want)
    for n in want:
        assert (got[n] == want[n]).all()
    assert any(not (params(rounds[1], pipe.unet)[n] == want[n]).all() for n in want)


def test_regulariser_shrinks_the_embedding(pipe):
    original = projection_weights(pipe.unet)
    rounds = rece(pipe.unet, pipe.text_encoder, pipe.tokenizer, ["a triangle"], settings=resolve_rece_settings({"rounds": 1}))
    c = encode_texts(pipe.text_encoder, pipe.tokenizer, ["a triangle"])[0].hidden
    norms = [float(adversarial_embedding(rounds[0].weights, original, c, g).norm()) for g in (1e-3, 1e-1, 10.0, 1e3)]
    assert all(b < a for a, b in zip(norms, norms[1:])), norms


@pytest.mark.parametrize("overrides, message", [
    ({"mode": "greedy"}, "settings.mode"),
    ({"rounds": 0}, "settings.rounds"),
    ({"reg": -1}, "settings.reg"),
    ({"epochs": 3}, "settings.epochs: unknown"),
    ({"uce_preset": "v3"}, "unknown UCE preset"),
])
def test_bad_settings_are_one_line(overrides, message):
    with pytest.raises(ErasureError, match=message) as info:
        resolve_rece_settings(overrides)
    assert "\n" not in str(info.value)


def hand_edit(W, erase, guide, preserve, lamb, es, ps):
    """UCE's Eq. 7 written out in numpy (rows of erase/guide/preserve are token embeddings)."""
    A = lamb * W + es * (guide @ W.T).T @ erase + ps * (preserve @ W.T).T @ preserve
    M = lamb * np.eye(W.shape[1]) + es * erase.T @ erase + ps * preserve.T @ preserve
    return A @ np.linalg.inv(M)


@pytest.mark.parametrize("mode", ["sequential", "cumulative"])
def test_each_round_is_the_edit_its_mode_names(pipe, mode):
    """sequential (the authors' code): W_r = edit of W_{r−1} erasing c'_r (all tokens, towards the empty
    prompt's), preserving "" at λ 0.1 / η_e 1 / η_p 0.1; cumulative: UCE (paper preset) of the ORIGINAL
    with the erased set grown by every c' so far."""
    from erasure.methods.uce import resolve_uce_settings, uce_keys

    settings = resolve_rece_settings({"rounds": 2, "mode": mode})
    rounds = rece(pipe.unet, pipe.text_encoder, pipe.tokenizer, ["a triangle"], settings=settings)
    original = {n: W.numpy() for n, W in projection_weights(pipe.unet).items()}
    empty = encode_texts(pipe.text_encoder, pipe.tokenizer, [""])[0].hidden.numpy()
    paper = resolve_uce_settings("paper")
    stage0 = uce_keys(pipe.text_encoder, pipe.tokenizer, ["a triangle"], (), paper)
    erased, guides = stage0.erase.numpy(), stage0.guide.numpy()
    for prev, r in zip(rounds, rounds[1:]):
        adv = r.adversarial[0].numpy()
        erased, guides = np.concatenate([erased, adv]), np.concatenate([guides, empty])
        for n, W0 in original.items():
            if mode == "sequential":
                want = hand_edit(prev.weights[n].numpy(), adv, empty, empty, 0.1, 1.0, 0.1)
            else:
                want = hand_edit(W0, erased, guides, stage0.preserve.numpy(), paper.lamb, paper.erase_scale,
                                 paper.preserve_scale)
            np.testing.assert_allclose(r.weights[n].numpy(), want, rtol=1e-7, atol=1e-9)
