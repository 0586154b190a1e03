"""The toy VAE: diffusers' `AutoencoderKL`, 32x32x3 <-> 8x8x4 (x4 down, SD's 4 latent channels)."""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from erasure.worlds.toy.schedule import Progress, set_lr, warmup_cosine

KL_WEIGHT = 1e-5


def make_vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(32, 64, 64),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=32,
    )


def to_model_space(images_uint8: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float [N, 3, H, W] in [-1, 1] (the pipeline's VAE convention)."""
    return torch.from_numpy(images_uint8).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def train_vae(images_uint8: np.ndarray, *, steps: int, batch: int = 64, lr: float = 2e-3, seed: int = 0,
              perceptual=None, perceptual_weight: float = 0.0, max_seconds: float | None = None, log=print):
    """L1 + MSE reconstruction, a tiny KL term and, with `perceptual` (a frozen network mapping images in
    [0, 1] to a list of feature maps), a feature-matching term: SD's autoencoder is trained with a
    perceptual (LPIPS) loss for the same reason -- pixel losses alone blur the small shapes the toy world is
    about (pixel-only training left crosses and striped squares unreadable after reconstruction)."""
    torch.manual_seed(seed)
    vae = make_vae()
    x_all = to_model_space(images_uint8)
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    vae.train()
    t0 = time.time()
    prog = Progress(steps, max_seconds)
    for step, frac in prog:
        set_lr(opt, lr * warmup_cosine(frac))
        x = x_all[torch.randint(0, len(x_all), (batch,), generator=gen)]
        post = vae.encode(x).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=gen)
        rec = vae.decode(z).sample
        kl = post.kl().mean() / z[0].numel()
        loss = F.l1_loss(rec, x) + F.mse_loss(rec, x) + KL_WEIGHT * kl
        if perceptual is not None and perceptual_weight > 0:
            got, want = perceptual((rec.clamp(-1, 1) + 1) / 2), perceptual((x + 1) / 2)
            loss = loss + perceptual_weight * sum(F.mse_loss(g, w) for g, w in zip(got, want)) / len(got)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0:
            log(f"vae step {step} loss {loss.item():.4f} kl {kl.item():.2f} ({time.time() - t0:.0f}s)")
    vae.eval().requires_grad_(False)
    vae.steps_done = prog.done
    mean, std = encode_moments(vae, images_uint8[: min(len(images_uint8), 4096)])
    sample = mean + std * torch.randn(mean.shape, generator=gen)
    vae.register_to_config(scaling_factor=float(1.0 / sample.std()))
    return vae


@torch.no_grad()
def encode_moments(vae, images_uint8: np.ndarray, batch: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Unscaled posterior mean and std of every image, so training can resample latents cheaply."""
    means, stds = [], []
    for start in range(0, len(images_uint8), batch):
        post = vae.encode(to_model_space(images_uint8[start : start + batch])).latent_dist
        means.append(post.mean)
        stds.append(post.std)
    return torch.cat(means), torch.cat(stds)


@torch.no_grad()
def reconstruct(vae, images_uint8: np.ndarray, batch: int = 512) -> np.ndarray:
    """Encode (posterior mean) and decode -> uint8 images, for oracle fine-tuning and checks."""
    out = []
    for start in range(0, len(images_uint8), batch):
        x = to_model_space(images_uint8[start : start + batch])
        rec = vae.decode(vae.encode(x).latent_dist.mean).sample
        out.append(((rec.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy())
    return np.concatenate(out)
