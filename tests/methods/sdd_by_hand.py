"""SDD's loss recomputed by hand, independently of erasure.methods (Kim et al. 2023, Sec. 3; the authors'
train-scripts/train-sdd.py): z_t by our own DDIM loop with CFG 3 from the frozen teacher, then the student's
squared distance between its concept and unconditional predictions. Shared by the SD 1.x test
(tests/methods/test_sdd.py) and the SD 2.1 / SDXL ones (tests/methods/test_families_sdd.py)."""

from __future__ import annotations

import copy

import torch

from erasure.methods.params import is_attn2


def sdd_loss_by_hand(base, scheduler_config, z: torch.Tensor, index: int, steps: int, uncond: dict, c_p: dict,
                     c_s: dict, *, v_prediction: bool = False) -> tuple[torch.Tensor, torch.nn.Module]:
    """(loss, student): z_T `z` (B, 4, h, w) denoised by DDIM for `steps - index` of `steps` steps with CFG 3 from
    `base` conditioned on `c_p` (UNet keyword arguments; `uncond` the unconditional ones), then the loss
    mean((s(z_t, t, c_s) − sg(s(z_t, t, ∅)))²) of a copy of `base` whose attn2 parameters require grad, after
    `loss.backward()`. With `v_prediction` the model output is v: x0 = √ᾱ z − √(1−ᾱ) v, ε = √ᾱ v + √(1−ᾱ) z."""
    from diffusers import DDIMScheduler

    ddim = DDIMScheduler.from_config(scheduler_config)
    ddim.set_timesteps(steps)
    ac = ddim.alphas_cumprod
    with torch.no_grad():
        for tau in [int(x) for x in ddim.timesteps][: steps - index]:
            o0, op = base(z, tau, **uncond).sample, base(z, tau, **c_p).sample
            o = o0 + 3.0 * (op - o0)  # CFG on the model output (ε or v)
            prev = tau - 1000 // steps
            a, a_prev = ac[tau], (ac[prev] if prev >= 0 else ac[0])
            if v_prediction:
                x0, e = a.sqrt() * z - (1 - a).sqrt() * o, a.sqrt() * o + (1 - a).sqrt() * z
            else:
                x0, e = (z - (1 - a).sqrt() * o) / a.sqrt(), o
            z = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * e
            t = max(prev, 0)
    student = copy.deepcopy(base)
    for name, p in student.named_parameters():
        p.requires_grad_(is_attn2(name))
    o_uncond = student(z, t, **uncond).sample.detach()
    o_concept = student(z, t, **c_s).sample
    loss = ((o_concept - o_uncond) ** 2).mean()
    loss.backward()
    return loss.detach(), student
