"""The black-box (Ring-A-Bell-style) attack: text encoder only, and its search moves toward the target."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from erasure.attacks.ringabell import RingABellSettings, concept_vector, embed_texts, ring_a_bell, swap_pairs
from erasure.attacks.text import encode_ids, word_vocabulary, words_text
from erasure.errors import ErasureError

PROMPT = "a red shape on the beach"
SMALL = RingABellSettings(eta=3.0, length=6, population=16, generations=25)


@pytest.fixture(scope="module")
def concept(tiny_pipe):
    with_c, without = swap_pairs(["a red triangle on the beach", "a striped triangle", "a blue circle"],
                                 "triangle", ["circle", "square"])
    return concept_vector(tiny_pipe.text_encoder, tiny_pipe.tokenizer, with_c, without)


def test_never_calls_the_unet(tiny_pipe, concept, monkeypatch):
    parameters = set(inspect.signature(ring_a_bell).parameters)
    assert not parameters & {"unet", "pipe", "pipeline", "scheduler", "vae"}
    calls = {"unet": 0, "text_encoder": 0}

    def unet_forward(*args, **kwargs):
        calls["unet"] += 1
        raise AssertionError("Ring-A-Bell called the UNet")

    encoder_forward = tiny_pipe.text_encoder.forward

    def counted(*args, **kwargs):
        calls["text_encoder"] += 1
        return encoder_forward(*args, **kwargs)

    monkeypatch.setattr(tiny_pipe.unet, "forward", unet_forward)
    monkeypatch.setattr(tiny_pipe.text_encoder, "forward", counted)
    ring_a_bell(tiny_pipe.text_encoder, tiny_pipe.tokenizer, PROMPT, concept, seed=0, settings=SMALL)
    assert calls["unet"] == 0 and calls["text_encoder"] > SMALL.generations  # the mock is live


def test_best_prompt_is_nearer_the_target_than_random_prompts(tiny_pipe, concept):
    te, tok = tiny_pipe.text_encoder, tiny_pipe.tokenizer
    result = ring_a_bell(te, tok, PROMPT, concept, seed=0, settings=SMALL)
    target = embed_texts(te, tok, [PROMPT])[0] + SMALL.eta * concept
    # recomputed from the shared text alone: it re-encodes to the searched ids and has the reported distance
    assert encode_ids(tok, result.prompt) == result.token_ids and len(result.token_ids) == SMALL.length
    distance = float(((embed_texts(te, tok, [result.prompt])[0] - target) ** 2).sum())
    assert distance == pytest.approx(result.loss, rel=1e-5)
    assert set(result.token_ids) <= set(word_vocabulary(tok).tolist())
    rng = np.random.default_rng(99)
    vocab = word_vocabulary(tok).numpy()
    randoms = [words_text(tok, vocab[rng.integers(0, len(vocab), SMALL.length)]) for _ in range(32)]
    random_distance = ((embed_texts(te, tok, randoms) - target) ** 2).sum(dim=(1, 2)).numpy()
    assert distance < result.extra["initial_mean"] and distance < random_distance.mean()
    assert result.history[-1] <= result.history[0] and result.iterations == SMALL.generations


def test_same_seed_same_prompt(tiny_pipe, concept):
    run = lambda seed: ring_a_bell(tiny_pipe.text_encoder, tiny_pipe.tokenizer, PROMPT, concept, seed=seed,  # noqa: E731
                                   settings=RingABellSettings(length=6, population=12, generations=6))
    a, b, c = run(3), run(3), run(4)
    assert (a.prompt, a.token_ids, a.history) == (b.prompt, b.token_ids, b.history)
    assert a.history != c.history


def test_concept_vector_is_the_mean_pair_difference(tiny_pipe):
    te, tok = tiny_pipe.text_encoder, tiny_pipe.tokenizer
    with_c, without = swap_pairs(["a red triangle", "a triangle on the sky", "a blue square"], "triangle", ["circle"])
    assert with_c == ["a red triangle", "a triangle on the sky"]
    assert without == ["a red circle", "a circle on the sky"]
    vector = concept_vector(te, tok, with_c, without)
    e = embed_texts(te, tok, with_c + without)
    torch.testing.assert_close(vector, ((e[0] - e[2]) + (e[1] - e[3])) / 2)
    assert vector.shape == (tok.model_max_length, te.config.hidden_size)


def test_bad_settings_are_one_line_errors(tiny_pipe, concept):
    te, tok = tiny_pipe.text_encoder, tiny_pipe.tokenizer
    with pytest.raises(ErasureError, match="length 15 plus BOS/EOS exceeds the text encoder's 16 positions"):
        ring_a_bell(te, tok, PROMPT, concept, seed=0, settings=RingABellSettings(length=15))
    with pytest.raises(ErasureError, match=r"concept vector: shape \[3, 16\]"):
        ring_a_bell(te, tok, PROMPT, torch.zeros(3, 16), seed=0, settings=SMALL)
    with pytest.raises(ErasureError, match="mutation_rate must be in"):
        RingABellSettings(mutation_rate=1.5)
    with pytest.raises(ErasureError, match="equally many prompts"):
        concept_vector(te, tok, ["a triangle"], [])
    with pytest.raises(ErasureError, match="none names 'triangle'"):
        swap_pairs(["a red circle"], "triangle", ["square"])
