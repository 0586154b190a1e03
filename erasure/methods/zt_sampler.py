"""z_t by DDIM from z_T ~ N(0, I), with classifier-free guidance, and the exact timestep z_t belongs to.

Algorithm 1 draws t ~ U({0, …, T−1}) and runs the sampler for τ = T … t+1, i.e. T − t DDIM steps, so that
z_t is the latent *after* those steps. The timestep that latent belongs to is the `prev_timestep` of the
last DDIM step (DDIMScheduler.step: prev = τ − num_train_timesteps // T), which on the usual "leading"
grid is the next grid timestep, and after the last step (t = 0) is timestep 0: the sampler's scheduler
always has `set_alpha_to_one=False`, so the final step lands exactly on alphas_cumprod[0] (with True it
would land on ᾱ = 1, the clean latent, which no training timestep describes).

The official code instead pairs the latent it breaks out with the *loop's* timestep, one step off, and
with stop index 0 runs every step and pairs z_0 with t ≈ 990. Here z_t and t always agree.
"""

from __future__ import annotations

import torch

from erasure.worlds.families import ModelFamily, concat, predict


def ddim_scheduler(scheduler_config: dict, steps: int):
    """A fresh diffusers DDIMScheduler from a pipeline's scheduler config, set to `steps` steps, whose final
    step lands on timestep 0 (set_alpha_to_one=False) and which never clips x̂0: SD v1.4 ships a PNDM config
    without `clip_sample`, and DDIM's default (True) would clip LATENTS to [-1, 1]."""
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler.from_config(scheduler_config, set_alpha_to_one=False, clip_sample=False)
    scheduler.set_timesteps(steps)
    return scheduler


def landing_timestep(scheduler, timestep: int) -> int:
    """The timestep of the latent that one DDIM step from `timestep` produces."""
    prev = int(timestep) - scheduler.config.num_train_timesteps // scheduler.num_inference_steps
    # prev < 0: DDIM uses final_alpha_cumprod, = alphas_cumprod[0] as ddim_scheduler sets it: timestep 0
    if prev < 0 and float(scheduler.final_alpha_cumprod) != float(scheduler.alphas_cumprod[0]):
        raise ValueError("the z_t sampler needs a DDIMScheduler with set_alpha_to_one=False (see ddim_scheduler)")
    return max(prev, 0)


@torch.no_grad()
def sample_zt(
    unet,
    scheduler,
    cond: torch.Tensor,
    uncond: torch.Tensor,
    *,
    index: int,
    guidance: float,
    batch_size: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, int]:
    """(z_t, t): run T − `index` DDIM steps from z_T ~ N(0, I) with CFG `guidance` on `cond`.

    `index` is Algorithm 1's t ∈ {0, …, T−1} (T = scheduler.num_inference_steps). `cond` and `uncond` are
    conditionings of batch 1 (text embeddings [1, L, D], or erasure.worlds.families.Conditioning; broadcast
    over the batch); the conditional and unconditional predictions come from one batched forward. The UNet's
    output is ε or v as the scheduler's prediction_type says: CFG combines either alike (weights 1 − s, s sum
    to 1, erasure.worlds.families) and `scheduler.step` reads the type from its config. z_T is drawn on the
    CPU from `generator`, so runs are reproducible on any device.
    """
    n_steps = scheduler.num_inference_steps
    if not 0 <= index < n_steps:
        raise ValueError(f"index {index} outside 0..{n_steps - 1}")
    shape = (batch_size, *ModelFamily.latent_shape(unet))
    device, dtype = cond.device, cond.dtype
    z = torch.randn(shape, generator=generator, dtype=torch.float32).to(device=device, dtype=dtype)
    z = z * scheduler.init_noise_sigma
    context = concat([uncond.expand(batch_size, -1, -1), cond.expand(batch_size, -1, -1)])
    t = int(scheduler.timesteps[0])
    for tau in scheduler.timesteps[: n_steps - index]:
        tau = int(tau)
        pred_uncond, pred_cond = predict(unet, torch.cat([z, z]), tau, context).chunk(2)
        pred = pred_uncond + guidance * (pred_cond - pred_uncond)
        z = scheduler.step(pred, tau, z).prev_sample
        t = landing_timestep(scheduler, tau)
    return z, t
