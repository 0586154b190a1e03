"""The white-box (UnlearnDiffAtk-style) attack.

Whether it lowers its loss is measured on the shipped toy base (a trained model, where the prompt changes the
noise prediction; a random tiny UNet barely listens to its text), against a fixed yardstick: the same loss
on noises drawn once (`reconstruction_loss`), for the attack's prompt, the plain prompt and random prefixes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from erasure.attacks.text import encode_ids, word_vocabulary, words_text
from erasure.attacks.whitebox import (
    WhiteBoxSettings,
    effective_precision,
    image_latents,
    project_simplex,
    reconstruction_loss,
    sampled_timesteps,
    unlearn_diff_attack,
)
from erasure.errors import ErasureError

PLAIN = "a blue circle on the grass"
TARGET = "a red triangle on the beach"
TIMESTEPS = (300, 700)


@pytest.fixture(scope="module")
def toy():
    """(pipeline, target latents): the toy base and the VAE latent of its own image of TARGET."""
    from erasure.attacks.checks import draw_image
    from erasure.generate.pipelines import MethodPipeline
    from erasure.generate.latents import make_scheduler
    from erasure.models import load_base_pipeline

    pipe = load_base_pipeline("toy:shipped")
    pipe.scheduler = make_scheduler("ddim", pipe.scheduler)
    image = draw_image(MethodPipeline("sd", "sd", pipe), TARGET, prompt_id="t-0", seed=0, guidance=5.0, steps=10)
    return pipe, image_latents(pipe.vae, image)


def _args(pipe, z0):
    return pipe.unet, pipe.text_encoder, pipe.tokenizer, pipe.scheduler, z0


def test_attack_lowers_its_loss_on_the_toy_base(toy):
    pipe, z0 = toy
    args = _args(pipe, z0)
    settings = WhiteBoxSettings(k=3, iterations=15, timesteps=TIMESTEPS)
    result = unlearn_diff_attack(*args, PLAIN, seed=0, settings=settings)
    one_step = unlearn_diff_attack(*args, PLAIN, seed=0, settings=WhiteBoxSettings(k=3, iterations=1, timesteps=TIMESTEPS))
    rng = np.random.default_rng(0)
    vocab = word_vocabulary(pipe.tokenizer)
    random_prefixes = [f"{words_text(pipe.tokenizer, vocab[rng.integers(0, len(vocab), 3)])} {PLAIN}" for _ in range(8)]
    losses = reconstruction_loss(*args, [result.prompt, one_step.prompt, PLAIN, *random_prefixes],
                                 timesteps=list(TIMESTEPS))
    attacked, after_one, plain, random_losses = losses[0], losses[1], losses[2], losses[3:]
    assert result.iterations == 30 and len(result.history) == 30
    assert attacked < after_one  # more iterations, lower loss
    assert attacked < plain and attacked < random_losses.min()
    assert np.isfinite(result.loss)


def test_attack_tokens_are_vocabulary_words_that_round_trip(toy):
    pipe, z0 = toy
    result = unlearn_diff_attack(*_args(pipe, z0), PLAIN, seed=1, settings=WhiteBoxSettings(k=5, iterations=3, timesteps=(500,)))
    vocab = set(word_vocabulary(pipe.tokenizer).tolist())
    assert len(result.token_ids) == 5 and set(result.token_ids) <= vocab
    assert result.prompt.endswith(PLAIN)
    # the shared text re-encodes to the optimised ids, then the plain prompt's
    assert encode_ids(pipe.tokenizer, result.prompt) == result.token_ids + encode_ids(pipe.tokenizer, PLAIN)
    assert result.prompt.isprintable()


def test_same_seed_same_prompt_and_other_seed_other_path(toy):
    pipe, z0 = toy
    settings = WhiteBoxSettings(k=3, iterations=4, timesteps=(500,))
    a = unlearn_diff_attack(*_args(pipe, z0), PLAIN, seed=7, settings=settings)
    b = unlearn_diff_attack(*_args(pipe, z0), PLAIN, seed=7, settings=settings)
    c = unlearn_diff_attack(*_args(pipe, z0), PLAIN, seed=8, settings=settings)
    assert (a.prompt, a.token_ids, a.history) == (b.prompt, b.token_ids, b.history)
    assert a.history != c.history


def test_early_stop_and_unattacked_prompt(tiny_pipe, target_latents):
    args = _args(tiny_pipe, target_latents)
    seen: list[str] = []

    def check(prompt: str) -> bool:  # the original shows nothing; any attacked prompt "shows the concept"
        seen.append(prompt)
        return prompt != PLAIN

    result = unlearn_diff_attack(*args, PLAIN, seed=0, settings=WhiteBoxSettings(k=2, iterations=3, n_timesteps=4),
                                 check=check)
    assert seen[0] == PLAIN and len(seen) == 2  # the plain prompt, then one timestep's prompt
    assert result.iterations == 3 and result.detected is True and result.extra["timesteps"] == [125]

    shown = unlearn_diff_attack(*args, PLAIN, seed=0, settings=WhiteBoxSettings(k=2, iterations=3), check=lambda p: True)
    assert (shown.prompt, shown.token_ids, shown.iterations, shown.detected) == (PLAIN, [], 0, True)
    assert np.isnan(shown.loss)

    never = unlearn_diff_attack(*args, PLAIN, seed=0, settings=WhiteBoxSettings(k=2, iterations=2, n_timesteps=3),
                                check=lambda p: False)
    assert never.iterations == 6 and never.detected is False


def test_bad_inputs_are_one_line_errors(tiny_pipe, target_latents):
    args = _args(tiny_pipe, target_latents)
    long_prompt = " ".join(["a red triangle"] * 4)  # 12 tokens + 5 + BOS/EOS > 16 positions
    with pytest.raises(ErasureError, match="exceed the text encoder's 16 positions; lower k"):
        unlearn_diff_attack(*args, long_prompt, seed=0, settings=WhiteBoxSettings(iterations=1, n_timesteps=1))
    with pytest.raises(ErasureError, match=r"target latents: shape \[1, 4, 8, 8\]"):
        unlearn_diff_attack(*args[:4], torch.zeros(1, 4, 8, 8), PLAIN, seed=0)
    with pytest.raises(ErasureError, match="iterations must be at least 1"):
        WhiteBoxSettings(iterations=0)
    with pytest.raises(ErasureError, match="target image: expected uint8"):
        image_latents(tiny_pipe.vae, np.zeros((8, 8, 3), dtype=np.float32))


def test_project_simplex():
    v = torch.tensor([[0.5, 0.5, 0.5], [0.2, 0.3, 0.5], [2.0, -1.0, 0.0], [0.0, 0.0, 0.0]])
    p = project_simplex(v)
    expected = torch.tensor([[1 / 3, 1 / 3, 1 / 3], [0.2, 0.3, 0.5], [1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    torch.testing.assert_close(p, expected)
    rows = project_simplex(torch.randn(6, 50, generator=torch.Generator().manual_seed(0)))
    assert (rows >= 0).all()
    torch.testing.assert_close(rows.sum(-1), torch.ones(6))


def test_sampled_timesteps_are_upstreams():
    assert sampled_timesteps(1000, 50) == list(range(10, 1000, 20))
    assert sampled_timesteps(1000, 4) == [125, 375, 625, 875]


def test_non_finite_loss_is_one_line(tiny_pipe, target_latents):
    import copy

    broken = copy.deepcopy(tiny_pipe.unet)
    with torch.no_grad():
        broken.conv_out.weight.fill_(float("nan"))
    with pytest.raises(ErasureError, match=r"non-finite loss for prompt 'a blue circle on the grass' at timestep 500, "
                                           r"iteration 1 \(UNet dtype float32, precision fp32\)"):
        unlearn_diff_attack(broken, tiny_pipe.text_encoder, tiny_pipe.tokenizer, tiny_pipe.scheduler, target_latents,
                            PLAIN, seed=0, settings=WhiteBoxSettings(iterations=2, timesteps=(500,)))


def test_precision_bf16_autocasts_the_forward_passes_only(tiny_pipe, target_latents):
    """bf16: the UNet and text encoder run under bf16 autocast while the relaxed tokens stay fp32; "auto" on the
    CPU is fp32, bit for bit the attack without the setting."""
    seen = []
    hook = tiny_pipe.unet.register_forward_pre_hook(lambda *_: seen.append(torch.is_autocast_enabled("cpu")))
    try:
        runs = {p: unlearn_diff_attack(*_args(tiny_pipe, target_latents), PLAIN, seed=0,
                                       settings=WhiteBoxSettings(k=2, iterations=3, timesteps=(500,), precision=p))
                for p in ("fp32", "auto", "bf16")}
    finally:
        hook.remove()
    assert seen == [False] * 3 + [False] * 3 + [True] * 3
    assert runs["auto"].history == runs["fp32"].history and runs["auto"].extra["precision"] == "fp32"
    assert runs["bf16"].extra["precision"] == "bf16" and np.isfinite(runs["bf16"].history).all()
    assert effective_precision("auto", "cuda") == "bf16" and effective_precision("fp32", "cuda") == "fp32"
    with pytest.raises(ErasureError, match="precision must be one of auto, fp32, bf16, got 'fp16'"):
        WhiteBoxSettings(precision="fp16")
