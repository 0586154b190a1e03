"""SAFREE (erasure/generate/inference/safree.py) against jaehong31/SAFREE@b8b2c3fa9d7f51c46f5a570170503fc98bd9c7ec:
its equations on vectors worked by hand, its self-validated step schedule inside a real sampling loop, and a
batch that gives each prompt the image it gets alone (the authors draw one prompt at a time)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from erasure.generate.inference.safree import f_beta, project, projection_matrix, trigger_tokens
from erasure.methods.settings import SAFREESettings

torch.set_num_threads(1)


def _axis(*vectors) -> torch.Tensor:
    return projection_matrix(torch.tensor(vectors, dtype=torch.float32).T)


def test_projection_is_orthogonal_complement_of_concepts_after_the_masked_prompt_span():
    # P_c onto (1, 1, 0)/√2, P_m onto span{e1, e3}; e = (1, 2, 3):
    # P_m e = (1, 0, 3); (I − P_c)(1, 0, 3) = (1, 0, 3) − ½(1, 1, 0) = (0.5, −0.5, 3).
    # The two projections do not commute: P_m (I − P_c) e = (−0.5, 0, 3) would fail here.
    concept = _axis((1.0, 1.0, 0.0))
    masked = _axis((1.0, 0.0, 0.0), (0.0, 0.0, 1.0))
    out = project(torch.tensor([[1.0, 2.0, 3.0]]), masked, concept)
    assert torch.allclose(out, torch.tensor([[0.5, -0.5, 3.0]]), atol=1e-6)
    assert torch.allclose(concept @ concept, concept, atol=1e-6)  # a projection: idempotent


def test_a_trigger_is_a_token_whose_masking_moves_the_prompt_alpha_beyond_the_others_mean():
    concept = _axis((1.0, 0.0, 0.0))  # distances are the norms of the (y, z) parts
    masked = torch.tensor([[5.0, 1.0, 0.0], [0.0, 0.0, 1.0], [2.0, 1.0, 0.0], [0.0, 3.0, 0.0]])
    assert trigger_tokens(masked, concept, 0.01).tolist() == [False, False, False, True]
    # d = (1, 1, 1.005): 1.005 < 1.01 · 1 is safe at α = 0.01, a trigger at α = 0
    close = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.005, 0.0]])
    assert trigger_tokens(close, concept, 0.01).tolist() == [False, False, False]
    assert trigger_tokens(close, concept, 0.0).tolist() == [False, False, True]


def test_f_beta_is_the_authors_sigmoid_schedule():
    assert f_beta(0.5333, 10, 5.333, 2.5) == 5  # σ(0) = ½
    assert f_beta(0.755, 10, 5.333, 2.5) == 10
    assert f_beta(0.2, 10, 5.333, 2.5) == 0
    assert f_beta(0.56, 10, 5.333, 2.5) == 8  # 10 σ(2 · 2.5 · 0.267) = 7.92
    beta = 0.55
    assert f_beta(beta, 10, 5.5, 3.5) == round(10 / (1 + math.exp(-7.0 * (10 * beta - 5.5))))  # artist constants


def test_defaults_and_presets_are_the_authors():
    assert SAFREESettings.resolve("nudity") == SAFREESettings()
    artist = SAFREESettings.resolve("artist")
    assert (artist.svf_midpoint, artist.svf_slope) == (5.5, 3.5)
    assert (SAFREESettings().alpha, SAFREESettings().up_t, SAFREESettings().re_attn_t) == (0.01, 10, (-1, 1001))


@pytest.fixture(scope="module")
def safree():
    from erasure.generate.latents import make_scheduler
    from erasure.generate.pipelines import build_inference_method
    from erasure.models import load_base_pipeline

    base = load_base_pipeline("toy:shipped")
    built = build_inference_method("safree", {"kind": "safree", "concepts": ["triangle"]}, base)
    built.pipe.scheduler = make_scheduler("ddim", built.pipe.scheduler)
    return built


PROMPTS = ["a triangle", "a blue circle on the grass", "a red triangle on the beach"]


def _latents(n: int) -> torch.Tensor:
    return torch.randn((n, 4, 8, 8), generator=torch.Generator().manual_seed(0))


def test_each_prompt_is_conditioned_on_its_projection_up_to_its_self_validated_step(safree):
    seen = []

    def record(pipe, step, timestep, tensors):
        seen.append(tensors["prompt_embeds"].clone())
        return tensors

    from diffusers import StableDiffusionPipeline

    pipe = safree.pipe
    first = pipe.encode_prompt(PROMPTS, "cpu", 1, False)[0]  # SAFREE's; sets safree_last
    original = StableDiffusionPipeline.encode_prompt(pipe, PROMPTS, "cpu", 1, False)[0]  # the base pipeline's
    runs = pipe.safree_last
    assert torch.equal(first, torch.stack([r.embeds if r.first <= 0 else o for r, o in zip(runs, original)]))
    assert runs[0].last == 10 and runs[1].last == 0  # "a triangle" self-validates to 10 steps, the circle to 0
    assert runs[0].triggers.any()
    pipe(prompt=PROMPTS, negative_prompt=["a triangle"] * 3, latents=_latents(3), num_inference_steps=14,
         guidance_scale=5.0, output_type="np", callback_on_step_end=record)
    # what each step conditioned on (recorded before SAFREE's callback swaps in the next step's), CFG's
    # negative half first
    conditioning = [embeds[3:] for embeds in seen]
    assert len(conditioning) == 14
    for step, cond in enumerate(conditioning):
        for i, run in enumerate(runs):
            expected = run.embeds if run.first <= step <= run.last else original[i]
            assert torch.equal(cond[i], expected), (step, PROMPTS[i])
    for run, own in zip(runs, original):  # the trigger tokens' positions (after BOS), and only those, projected
        changed = (run.embeds != own).any(dim=-1).nonzero().flatten().tolist()
        assert changed == [i + 1 for i in run.triggers.nonzero().flatten().tolist()] != []


def test_a_prompt_in_a_batch_gets_the_image_it_gets_alone_and_safree_changes_the_concept_prompt(safree):
    steps, latents = 12, _latents(3)
    batch = safree(PROMPTS, latents, guidance=5.0, steps=steps)
    alone = safree(PROMPTS[:1], latents[:1], guidance=5.0, steps=steps)
    assert np.abs(batch[0].astype(int) - alone[0]).max() <= 1
    from diffusers import StableDiffusionPipeline

    from erasure.generate.pipelines import MethodPipeline, compose

    plain = MethodPipeline("neg", "sd-neg", compose(StableDiffusionPipeline, safree.pipe),
                           negative_prompt="a triangle")
    plain.pipe.scheduler = safree.pipe.scheduler
    reference = plain(PROMPTS, latents, guidance=5.0, steps=steps)
    # SAFREE = SD+NEG with the concept text as negative prompt, plus the projection: the triangle prompt
    # (projected for 10 steps) changes; the circle prompt (step 0 only) barely
    changed = [np.abs(batch[i].astype(int) - reference[i]).mean() for i in range(3)]
    assert changed[0] > 5 * max(changed[1], 0.5)

