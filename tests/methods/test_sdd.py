"""One SDD step on a tiny model equals a hand computation: DDIM z_t from the teacher with CFG, the loss,
the AdamW update, the EMA update; only attn2 parameters change."""

import copy

import pytest
import torch

from erasure.methods.base import encode_prompts
from erasure.methods.params import is_attn2
from erasure.methods.presets import resolve_settings
from erasure.methods.trainer import build_method, make_optimizer, train_step
from erasure.models import load_base_pipeline
from tests.methods.sdd_by_hand import sdd_loss_by_hand

# Adam eps 1e-4 (not 1e-8): with eps far below a gradient's float rounding, g / (|g| + eps) of a near-zero
# gradient is ±1 at random and no hand computation can match it
LR, WD, EPS, M, T, B = 1e-3, 1e-2, 1e-4, 0.999, 4, 2


def test_one_sdd_step_by_hand(tiny_base):
    pipe = load_base_pipeline(tiny_base)
    concepts = ["a triangle", "a red shape"]
    settings = resolve_settings("sdd", "paper", dict(lr=LR, weight_decay=WD, eps=EPS, warmup_steps=0, lr_schedule="constant",
                                                     batch_size=B, sampling_steps=T, grad_clip=0))
    prompts = encode_prompts(pipe, concepts)
    base = copy.deepcopy(pipe.unet).requires_grad_(False)
    before = {n: p.detach().clone() for n, p in pipe.unet.named_parameters()}
    m = build_method("sdd", pipe.unet, dict(pipe.scheduler.config), prompts, settings)
    optimizer, lr_scheduler = make_optimizer(list(m.trainable.values()), settings, 10)
    loss = train_step(m, optimizer, lr_scheduler, 1, torch.Generator().manual_seed(3), settings.grad_clip)

    # --- by hand: the draws in order (t index, c_p, z_T), DDIM with CFG 3 from the teacher (= base at step 0)
    g = torch.Generator().manual_seed(3)
    index = int(torch.randint(0, T, (1,), generator=g))
    k = int(torch.randint(0, len(concepts), (1,), generator=g))
    z = torch.randn(B, 4, 4, 4, generator=g)
    uncond = pipe.encode_prompt("", "cpu", 1, False)[0].expand(B, -1, -1)
    c_p = pipe.encode_prompt(concepts[k], "cpu", 1, False)[0].expand(B, -1, -1)
    c_s = pipe.encode_prompt("a triangle, a red shape", "cpu", 1, False)[0].expand(B, -1, -1)
    hand_loss, student = sdd_loss_by_hand(base, pipe.scheduler.config, z, index, T,
                                          {"encoder_hidden_states": uncond}, {"encoder_hidden_states": c_p},
                                          {"encoder_hidden_states": c_s})
    torch.testing.assert_close(torch.tensor(loss), hand_loss, rtol=1e-5, atol=1e-9)

    after = dict(pipe.unet.named_parameters())
    teacher = dict(m.teacher.named_parameters())
    changed = 0
    for name, p in student.named_parameters():
        if is_attn2(name):
            grad = p.grad
            # AdamW step 1: m̂ = g, v̂ = g², p ← p (1 − lr·wd) − lr · g / (|g| + eps)
            expected = before[name] * (1 - LR * WD) - LR * grad / (grad.abs() + EPS)
            torch.testing.assert_close(after[name].detach(), expected, rtol=0, atol=1e-7)
            torch.testing.assert_close(teacher[name].detach(), M * before[name] + (1 - M) * expected, rtol=0, atol=1e-7)
            changed += int(not torch.equal(after[name], before[name]))
        else:
            assert p.grad is None
            assert torch.equal(after[name], before[name]) and torch.equal(teacher[name], before[name]), name
    assert changed == sum(is_attn2(n) for n in before) > 0


def test_official_preset_swaps_concept_roles(tiny_base):
    pipe = load_base_pipeline(tiny_base)
    s = resolve_settings("sdd", "official", {})
    assert (s.zt_concept, s.loss_concept, s.lr_schedule, s.weight_decay) == ("joined", "cycle", "constant", 1e-4)
    p = resolve_settings("sdd", "paper", {})
    assert (p.lr, p.betas, p.weight_decay, p.warmup_steps, p.ema_decay, p.sampling_steps, p.guidance) == \
        (1e-5, (0.9, 0.999), 1e-2, 500, 0.999, 50, 3.0)
    del pipe


def test_esd_target_from_frozen_original(tiny_base):
    pipe = load_base_pipeline(tiny_base)
    settings = resolve_settings("esd-u", "esd", dict(sampling_steps=3, batch_size=1, lr=1e-2))
    m = build_method("esd-u", pipe.unet, dict(pipe.scheduler.config), encode_prompts(pipe, ["a triangle"]), settings)
    original = {n: p.detach().clone() for n, p in m.original.named_parameters()}
    optimizer, lr_scheduler = make_optimizer(list(m.trainable.values()), settings, 5)
    for step in (1, 2):
        train_step(m, optimizer, lr_scheduler, step, torch.Generator().manual_seed(step), 1.0)
    for name, p in m.original.named_parameters():
        assert torch.equal(p, original[name]), name  # the frozen original never moves
    moved = [n for n, p in pipe.unet.named_parameters() if not torch.equal(p, original[n])]
    assert moved and set(moved) <= set(m.trainable)  # ESD-u's default subset: noxattn (params.py)
    assert not any(is_attn2(n) or n.startswith(("time_embedding.", "conv_out.")) for n in moved)


@pytest.mark.parametrize("zt_model", ["trained", "frozen"])
def test_esd_samples_zt_from_the_model_zt_model_names(tiny_base, zt_model):
    """zt_model = trained samples z_t from the student as it is now; frozen from the original base, even after
    the student has moved."""
    from erasure.methods.base import draw
    from erasure.methods.zt_sampler import sample_zt

    pipe = load_base_pipeline(tiny_base)
    base = copy.deepcopy(pipe.unet)
    settings = resolve_settings("esd-u", "esd", dict(sampling_steps=3, batch_size=2, zt_model=zt_model))
    prompts = encode_prompts(pipe, ["a triangle"])
    m = build_method("esd-u", pipe.unet, dict(pipe.scheduler.config), prompts, settings)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in m.trainable.values():  # the student leaves the base, as training would make it
            p.add_(0.1 * torch.randn_like(p))

    def z_t_of(model):  # sample()'s draws, in its order, from `model`
        g = torch.Generator().manual_seed(3)
        index, c = draw(3, g), prompts.concepts[draw(1, g)]
        return sample_zt(model, m.scheduler, c, prompts.uncond, index=index, guidance=3.0, batch_size=2, generator=g)

    z_t, t, _ = m.sample(0, torch.Generator().manual_seed(3))
    (z_student, t_student), (z_base, _) = z_t_of(pipe.unet), z_t_of(base)
    assert t == t_student and not torch.allclose(z_student, z_base)
    expected, other = (z_student, z_base) if zt_model == "trained" else (z_base, z_student)
    assert torch.equal(z_t, expected) and not torch.allclose(z_t, other)


def test_sdd_retain_is_its_own_method(tiny_base):
    """The extension adds weight · ‖ε_θ(z_t, c_r, t) − ε_base(z_t, c_r, t)‖² against a frozen base copy."""
    pipe = load_base_pipeline(tiny_base)
    settings = resolve_settings("sdd+retain", "paper", dict(sampling_steps=3, batch_size=1, warmup_steps=0, lr=1e-2,
                                                            retain_weight=0.3, retain_prompts=["a shape on the beach"]))
    prompts = encode_prompts(pipe, ["a triangle"], settings.retain_prompts)
    m = build_method("sdd+retain", pipe.unet, dict(pipe.scheduler.config), prompts, settings)
    frozen = {n: p.detach().clone() for n, p in m.base.named_parameters()}
    optimizer, lr_scheduler = make_optimizer(list(m.trainable.values()), settings, 5)
    for step in (1, 2):
        train_step(m, optimizer, lr_scheduler, step, torch.Generator().manual_seed(step), 1.0)
    assert all(torch.equal(p, frozen[n]) for n, p in m.base.named_parameters())
    # at step 0 the student equals the base, so the retain term is exactly zero there
    fresh = build_method("sdd+retain", load_base_pipeline(tiny_base).unet, dict(pipe.scheduler.config), prompts, settings)
    plain = build_method("sdd", load_base_pipeline(tiny_base).unet, dict(pipe.scheduler.config), prompts,
                         resolve_settings("sdd", "paper", dict(sampling_steps=3, batch_size=1)))
    a = fresh.loss(0, torch.Generator().manual_seed(9))
    b = plain.loss(0, torch.Generator().manual_seed(9))
    torch.testing.assert_close(a, b)
