"""Tokenizer, pipeline round trip, UNet training signal, oracle round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from erasure.worlds.toy.vocab import all_words


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from erasure.worlds.toy.tokenizer import build_tokenizer

    return build_tokenizer(tmp_path_factory.mktemp("tok"))


def test_every_vocabulary_word_is_one_token(tokenizer):
    for word in all_words():
        ids = tokenizer(word, add_special_tokens=False).input_ids
        assert len(ids) == 1, (word, tokenizer.convert_ids_to_tokens(ids))
        assert tokenizer.convert_ids_to_tokens(ids) == [word + "</w>"]
    # words inside other words must not break them ("in" inside "plain")
    ids = tokenizer("a plain in", add_special_tokens=False).input_ids
    assert tokenizer.convert_ids_to_tokens(ids) == ["a</w>", "plain</w>", "in</w>"]


def test_padding_is_eos_as_in_sd(tokenizer):
    ids = tokenizer("a red circle", padding="max_length", max_length=tokenizer.model_max_length).input_ids
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id == tokenizer.pad_token_id
    assert len(ids) == tokenizer.model_max_length


def _tiny_pipeline(tokenizer):
    from diffusers import StableDiffusionPipeline
    from transformers import CLIPTextModel

    from erasure.worlds.toy.clip import clip_config
    from erasure.worlds.toy.unet import make_sample_scheduler, make_unet
    from erasure.worlds.toy.vae import make_vae

    torch.manual_seed(0)
    cfg = clip_config(tokenizer, hidden=64, layers=1)
    text_encoder = CLIPTextModel(cfg.text_config).eval()
    return StableDiffusionPipeline(
        vae=make_vae().eval(), text_encoder=text_encoder, tokenizer=tokenizer,
        unet=make_unet(cfg.text_config.hidden_size).eval(), scheduler=make_sample_scheduler(),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )


def _sample(pipe):
    pipe.set_progress_bar_config(disable=True)
    gens = [torch.Generator().manual_seed(s) for s in (11, 12)]
    return pipe(["a red circle", "a shape on the beach"], num_inference_steps=3, guidance_scale=5.0,
                generator=gens, output_type="np").images


def test_pipeline_save_load_gives_identical_samples(tokenizer, tmp_path):
    from diffusers import StableDiffusionPipeline

    pipe = _tiny_pipeline(tokenizer)
    before = _sample(pipe)
    assert before.shape == (2, 32, 32, 3)
    pipe.save_pretrained(tmp_path / "pipeline")
    loaded = StableDiffusionPipeline.from_pretrained(tmp_path / "pipeline", local_files_only=True)
    assert loaded.safety_checker is None
    np.testing.assert_array_equal(before, _sample(loaded))


def test_a_few_training_steps_lower_the_unet_loss():
    from erasure.worlds.toy.unet import diffusion_loss, make_train_scheduler, make_unet

    torch.manual_seed(0)
    unet = make_unet(32)
    sched = make_train_scheduler()
    latents = torch.randn(8, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    cond = torch.randn(8, 16, 32, generator=torch.Generator().manual_seed(2))

    def fixed_loss():
        with torch.no_grad():
            return diffusion_loss(unet, sched, latents, cond, torch.Generator().manual_seed(3)).item()

    start = fixed_loss()
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-3)
    for i in range(8):
        loss = diffusion_loss(unet, sched, latents, cond, torch.Generator().manual_seed(100 + i))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert fixed_loss() < start


def test_train_unet_from_init_continues_that_model_and_leaves_it_untouched():
    from erasure.worlds.toy.unet import make_unet, train_unet

    torch.manual_seed(0)
    init = make_unet(32).eval().requires_grad_(False)
    before = {k: v.clone() for k, v in init.state_dict().items()}
    g = torch.Generator().manual_seed(1)
    mean, std = torch.randn(16, 4, 8, 8, generator=g), torch.full((16, 4, 8, 8), 0.1)
    cond_table = torch.randn(3, 16, 32, generator=g)
    cond_index = torch.randint(0, 3, (16,), generator=g)
    student, ema = train_unet(mean, std, 1.0, cond_index, cond_table, steps=2, batch=4, lr=1e-7, lr2=1e-7,
                              phase1=0.0, seed=5, init=init, log=lambda s: None)
    for name, value in init.state_dict().items():
        assert torch.equal(value, before[name]), name
    for model in (student, ema):
        drift = max((p - before[k]).abs().max().item() for k, p in model.state_dict().items())
        assert drift < 1e-5  # a random start would be O(0.1) away
    assert student.steps_done == 2


def test_oracle_save_load_roundtrip(tmp_path):
    from erasure.worlds.toy.oracle import Oracle, load_oracle, save_oracle
    from erasure.worlds.toy.vocab import ATTRIBUTES

    torch.manual_seed(0)
    oracle = Oracle().eval()
    x = torch.rand(4, 3, 32, 32)
    save_oracle(oracle, tmp_path)
    loaded = load_oracle(tmp_path)
    probs = loaded.predict(x)
    assert set(probs) == set(ATTRIBUTES)
    for attr, p in probs.items():
        assert p.shape == (4, len(ATTRIBUTES[attr]))
        torch.testing.assert_close(p, oracle.predict(x)[attr])
    assert loaded.features(x).shape[0] == 4
