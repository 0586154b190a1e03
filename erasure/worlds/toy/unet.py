"""The toy denoiser: diffusers' `UNet2DConditionModel` on 8x8x4 latents, trained as SD is (epsilon
prediction, scaled_linear betas 0.00085-0.012 over 1000 steps) with min-SNR weighting and EMA weights.

Blocks (64, 128) with cross-attention at both levels is the smallest size whose shape adherence kept
rising in the prototype; (32, 64) stalled near 55%.
"""

from __future__ import annotations

import copy
import math
import time

import torch
import torch.nn.functional as F

from erasure.worlds.toy.schedule import Progress, set_lr

SNR_GAMMA = 5.0
SCHEDULER_KWARGS = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    prediction_type="epsilon",
    clip_sample=False,
    steps_offset=1,
)


def make_unet(cross_attention_dim: int, block_out_channels=(64, 128)):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D",) * len(block_out_channels),
        up_block_types=("CrossAttnUpBlock2D",) * len(block_out_channels),
        block_out_channels=tuple(block_out_channels),
        layers_per_block=2,
        attention_head_dim=4,
        cross_attention_dim=cross_attention_dim,
        norm_num_groups=32,
    )


def make_train_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(**SCHEDULER_KWARGS)


def make_sample_scheduler():
    from diffusers import DDIMScheduler

    return DDIMScheduler(**SCHEDULER_KWARGS, set_alpha_to_one=False)


def diffusion_loss(unet, scheduler, latents, cond, generator: torch.Generator, *, snr_gamma: float = SNR_GAMMA):
    """Min-SNR-weighted epsilon loss: weight = min(SNR, gamma) / SNR, so that easy low-noise steps do not
    dominate the gradient (Hang et al. 2023)."""
    n = latents.shape[0]
    t = torch.randint(0, scheduler.config.num_train_timesteps, (n,), generator=generator)
    noise = torch.randn(latents.shape, generator=generator)
    noisy = scheduler.add_noise(latents, noise, t)
    pred = unet(noisy, t, encoder_hidden_states=cond).sample
    ac = scheduler.alphas_cumprod[t]
    snr = ac / (1 - ac)
    weight = torch.clamp(snr, max=snr_gamma) / snr
    per = F.mse_loss(pred, noise, reduction="none").mean(dim=(1, 2, 3))
    return (weight * per).mean()


class EMA:
    """Exponential moving average of parameters with the usual warm-up ((1 + s) / (10 + s))."""

    def __init__(self, model, decay: float = 0.999):
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay = decay
        self.steps = 0

    @torch.no_grad()
    def update(self, model) -> None:
        self.steps += 1
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))
        ema_p = list(self.model.parameters())
        torch._foreach_mul_(ema_p, d)
        torch._foreach_add_(ema_p, [p.detach() for p in model.parameters()], alpha=1 - d)


def lr_at(frac: float, *, lr: float, lr2: float, phase1: float, lr_min_frac: float = 0.1) -> float:
    """Warm-up, constant `lr` for the first `phase1` of training, then cosine from `lr2` to lr2*lr_min_frac
    (the prototype's best: 8e-4 for ~1.7k steps, then 4e-4 cosine for ~1.4k)."""
    if frac < phase1:
        return lr * min(1.0, (frac + 1e-3) / 0.03)
    f = (frac - phase1) / (1 - phase1)
    return lr2 * (lr_min_frac + (1 - lr_min_frac) * 0.5 * (1 + math.cos(math.pi * min(1.0, f))))


def train_unet(latent_mean, latent_std, scaling_factor: float, cond_index, cond_table, *, steps: int,
               batch: int = 64, lr: float = 8e-4, lr2: float = 4e-4, phase1: float = 0.55,
               ema_decay: float = 0.999, seed: int = 0, max_seconds: float | None = None, init=None, log=print):
    """Train on pre-encoded data: latents are resampled from the stored posterior each step and text
    embeddings are looked up, so a step runs only the UNet. `init` (a UNet) continues training a copy of
    it instead of starting from random weights."""
    torch.manual_seed(seed)
    unet = make_unet(cond_table.shape[-1]) if init is None else copy.deepcopy(init).train().requires_grad_(True)
    ema = EMA(unet, ema_decay)
    scheduler = make_train_scheduler()
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=1e-2)
    gen = torch.Generator().manual_seed(seed)
    unet.train()
    t0 = time.time()
    log_every = max(1, steps // 20)
    running = 0.0
    prog = Progress(steps, max_seconds)
    for step, frac in prog:
        set_lr(opt, lr_at(frac, lr=lr, lr2=lr2, phase1=phase1))
        idx = torch.randint(0, len(latent_mean), (batch,), generator=gen)
        eps = torch.randn(latent_mean[idx].shape, generator=gen)
        latents = (latent_mean[idx] + latent_std[idx] * eps) * scaling_factor
        loss = diffusion_loss(unet, scheduler, latents, cond_table[cond_index[idx]], gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        ema.update(unet)
        running += loss.item()
        if (step + 1) % log_every == 0:
            log(f"unet step {step + 1} loss {running / ((step % log_every) + 1):.4f} ({time.time() - t0:.0f}s)")
            running = 0.0
    unet.eval().requires_grad_(False)
    unet.steps_done = ema.model.steps_done = prog.done
    return unet, ema.model
