"""SalUn (Fan et al., "SalUn: Empowering Machine Unlearning via Gradient-based Weight Saliency in Both Image
Classification and Generation", ICLR 2024), its Stable Diffusion NSFW recipe.

Faithful to OPTML-Group/Unlearn-Saliency@a6e89fd17ff737c24c6aa16c9574469a234ffd91, SD/:
README.md ("NSFW-concept removal with Saliency-Unlearning": D_f = 800 SD v1.4 images of "a photo of a nude
person", D_r = 800 of "a photo of a person wearing clothes"; `generate_mask.py --nsfw True`, then
`nsfw_removal.py --train_method 'full' --mask_path 'mask/nude_0.5.pt'`), train-scripts/generate_mask.py
(`generate_nsfw_mask`), train-scripts/nsfw_removal.py (`nsfw_removal`), train-scripts/dataset.py (loaders in
order, no shuffle). With z_0 a VAE posterior sample × 0.18215 of an image, t ~ U{0..999}, ε ~ N(0, I),
z_t = √ᾱ_t z_0 + √(1−ᾱ_t) ε (SD's scaled-linear schedule) and ε_θ the UNet:

- saliency (generate_mask.py): one pass over D_f in batches of 8; g = Σ_batches ∇_θ L_mask with
      L_mask = −MSE(ε, (1 + w) ε_θ(z_t, c_f) − w ε_θ(z_t, ""))     (w = c_guidance = 7.5)
  and the mask m = 1 on the int(N · s) weights of the whole UNet with the largest |g| (ranked together,
  across tensors; s = 0.5, "threshold_list = [0.5]").
- unlearning (nsfw_removal.py): Adam (lr 1e-5, no decay) on every UNet weight, each gradient multiplied by
  m, batches of 8 from D_f and D_r in order, one epoch (100 steps):
      L = MSE(ε_θ(z_t^f, c_f), sg[ε_θ(z_t^f, c_r)]) + α · MSE(ε_θ(z_t^r, c_r), ε^r)     (α = 0.1)
  the pseudo target from the model being trained (detached), on the same z_t^f (its pseudo batch is the
  forget images again, with the same t and noise); the remain term is LDM's `shared_step` (its own t, ε).

Where we differ, and why:

- D_f and D_r are image sets the workflow draws from the base model (`settings.forget_images` /
  `retain_images`, prompt sets drawn by `settings.image_method`: rules/erase.smk takes their manifests, so a
  run reruns when they change and its provenance names them); the authors generate them once by hand.
- The mask is computed when the run starts (and again, identically, when it resumes: `mask_seed` seeds its
  t, ε and VAE samples), not saved to a separate file; each checkpoint's weights are the masked run's.
- Ties in |g| at the cut are broken by index (a stable sort); the authors' `torch.argsort` breaks them in
  whatever order the sort leaves. The count of kept weights is the same, int(N · s).
- Masked gradients: a tensor hook multiplies each gradient by m during the backward pass (the authors
  multiply `p.grad` after it); with Adam and no weight decay either way leaves masked weights unchanged.

Model families (erasure.worlds.families): the losses are written in the UNet's own output, with the noise
ε replaced by its counterpart in the family's parametrisation (`training_target`: ε, or for SD 2.x's
v-prediction v = √ᾱ_t ε − √(1−ᾱ_t) z_0, as diffusers' training scripts do). The guided prediction
(1 + w) ε_θ(c_f) − w ε_θ(∅) and the pseudo target are affine combinations whose weights sum to 1, so at a
fixed z_t they are the same combinations of v (families' module docstring); the v losses are the ε losses
divided by ᾱ_t per sample. Prompts are encoded as the family's pipeline encodes them (SDXL: both encoders,
pooled embedding and time ids; the mask loss's c_∅ is the family's CFG unconditional, SDXL's zeros), and z_0 is scaled by the VAE's own `scaling_factor` (SD 1.x / 2.x 0.18215 =
LDM's; SDXL 0.13025; the toy world's VAE 0.4037, where the constant 0.18215 used before issue 36 fed the toy
UNet latents at another scale than it samples: toy SalUn runs change, SD ones do not). The saliency ranking is over every UNet weight whatever the family.

UNet calls are all in `_eps` (the model-family adapter's one entry point for them).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from erasure.errors import ErasureError
from erasure.methods.base import FineTuningMethod
from erasure.methods.params import select_trainable
from erasure.worlds.families import family_of_components, predict, training_target


def _eps(unet, latents: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """ε_θ(z_t, c) [B, C, h, w] (v_θ for a v-predicting family); `cond` [1, L, D] or [B, L, D] (or a
    Conditioning) is broadcast to the batch."""
    if cond.shape[0] != latents.shape[0]:
        cond = cond.expand(latents.shape[0], *cond.shape[1:])
    return predict(unet, latents, t, cond)


def mask_loss(unet, noisy: torch.Tensor, t: torch.Tensor, target: torch.Tensor, c_forget: torch.Tensor,
              c_null: torch.Tensor, guidance: float) -> torch.Tensor:
    """generate_mask.py's loss: −MSE(ε, (1 + w) ε_θ(z_t, c_f) − w ε_θ(z_t, c_∅)) (scalar); `target` the noise
    in the UNet's parametrisation (ε, or v: erasure.worlds.families.training_target)."""
    preds = (1 + guidance) * _eps(unet, noisy, t, c_forget) - guidance * _eps(unet, noisy, t, c_null)
    return -F.mse_loss(preds, target)


def unlearn_loss(unet, forget_noisy: torch.Tensor, forget_t: torch.Tensor, retain_noisy: torch.Tensor,
                 retain_t: torch.Tensor, retain_target: torch.Tensor, c_forget: torch.Tensor,
                 c_retain: torch.Tensor, alpha: float) -> torch.Tensor:
    """nsfw_removal.py's loss: MSE(ε_θ(z_t^f, c_f), sg[ε_θ(z_t^f, c_r)]) + α MSE(ε_θ(z_t^r, c_r), ε^r);
    `retain_target` ε^r in the UNet's parametrisation (erasure.worlds.families.training_target)."""
    forget_out = _eps(unet, forget_noisy, forget_t, c_forget)
    pseudo_out = _eps(unet, forget_noisy, forget_t, c_retain).detach()
    remain_loss = F.mse_loss(_eps(unet, retain_noisy, retain_t, c_retain), retain_target)
    return F.mse_loss(forget_out, pseudo_out) + alpha * remain_loss


def saliency_mask(gradients: Mapping[str, torch.Tensor], sparsity: float) -> dict[str, torch.Tensor]:
    """{name: float mask} with 1 on the int(N · sparsity) entries of largest |g| over all tensors together
    (generate_mask.py: ranks of −|g|, `tensor_ranks < threshold_index`), 0 elsewhere; ties by index."""
    flat = torch.cat([g.detach().abs().flatten().float() for g in gradients.values()])
    keep = int(flat.numel() * sparsity)
    chosen = torch.zeros(flat.numel(), dtype=torch.bool)
    chosen[torch.sort(flat, descending=True, stable=True).indices[:keep]] = True
    masks, start = {}, 0
    for name, g in gradients.items():
        masks[name] = chosen[start:start + g.numel()].reshape(g.shape).float()
        start += g.numel()
    return masks


class ImageLatents:
    """The VAE posteriors of an image set, in manifest order: `mean`, `std` [N, C, h, w] (float32, CPU).
    `sample(index, generator)` draws z_0 = (mean + std ε) × the VAE's scaling_factor (SD's 0.18215 = LDM's
    scale_factor, configs/stable-diffusion/v1-inference.yaml), as LDM's get_input does per batch."""

    def __init__(self, vae, manifest: str, batch_size: int = 8):
        from erasure.metrics.images import ImageSet

        images = ImageSet.from_manifest(manifest)
        means, stds = [], []
        with torch.no_grad():
            for _, arrays in images.iter_uint8(batch_size):
                x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 127.5 - 1.0  # [-1, 1]
                dist = vae.encode(x.to(vae.device, vae.dtype)).latent_dist
                means.append(dist.mean.float().cpu())
                stds.append(dist.std.float().cpu())
        self.mean, self.std = torch.cat(means), torch.cat(stds)
        self.scale = float(vae.config.scaling_factor)

    def __len__(self) -> int:
        return self.mean.shape[0]

    def sample(self, index: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(self.mean[index].shape, generator=generator)
        return (self.mean[index] + self.std[index] * noise) * self.scale


class SalUn(FineTuningMethod):
    """SalUn on the UNet: every weight trainable, its gradient masked by the saliency mask computed from the
    base model at construction. `components` must carry `image_sets` ({prompt set: manifest path}, the
    trainer's `image_sets`) with the settings' forget and retain sets."""

    def __init__(self, unet, scheduler_config, prompts, settings, *, method, components):
        from diffusers import DDPMScheduler

        sets = components.get("image_sets") or {}
        missing = [name for name in (settings.forget_images, settings.retain_images) if name not in sets]
        if missing:
            raise ErasureError(f"settings.forget_images / retain_images: no images given for {', '.join(missing)} "
                               "(the erase rule passes the base model's image sets; run it through snakemake)")
        self.settings = settings
        self.scheduler = DDPMScheduler.from_config(scheduler_config)
        training_target(self.scheduler, torch.zeros(1), torch.zeros(1), 0)  # ε or v; another: one line, now
        vae, device = components["vae"], unet.device
        self.forget = ImageLatents(vae, sets[settings.forget_images])
        self.retain = ImageLatents(vae, sets[settings.retain_images])
        # c_f, c_r as the family's pipeline conditions on them (what `prompts` holds for the concepts)
        family = family_of_components({**components, "unet": unet})
        pipe = family.assemble({**components, "unet": unet, "scheduler": self.scheduler})
        self.c_forget = family.encode(pipe, settings.forget_prompt).to(device)
        self.c_retain = family.encode(pipe, settings.retain_prompt).to(device)
        del pipe
        self.c_null = prompts.uncond.to(device)
        trainable = select_trainable(unet, method, settings.trainable)  # `full`: every UNet weight
        super().__init__(unet, trainable, method)
        self.mask = self.compute_mask()
        for name, param in trainable.items():
            param.register_hook(lambda grad, m=self.mask[name].to(device).bool(): grad * m)

    def kept(self) -> int:
        """How many UNet weights the mask lets change."""
        return int(sum(m.sum().item() for m in self.mask.values()))

    def describe(self) -> str:
        total = sum(m.numel() for m in self.mask.values())
        return (f"saliency mask keeps {self.kept():,} of {total:,} UNet weights (sparsity "
                f"{self.settings.mask_sparsity:g}, from {len(self.forget)} forget images)")

    def _noisy(self, latents: torch.Tensor, generator: torch.Generator):
        n = latents.shape[0]
        t = torch.randint(0, self.scheduler.config.num_train_timesteps, (n,), generator=generator)
        noise = torch.randn(latents.shape, generator=generator)
        device = self.student.device
        target = training_target(self.scheduler, latents, noise, t)  # ε, or v for a v-predicting family
        return self.scheduler.add_noise(latents, noise, t).to(device), t.to(device), target.to(device)

    def compute_mask(self) -> dict[str, torch.Tensor]:
        """One pass of the mask loss over D_f (batches of mask_batch_size, in order), |Σ g|, top fraction."""
        generator = torch.Generator().manual_seed(self.settings.mask_seed)
        size = self.settings.mask_batch_size
        self.student.zero_grad(set_to_none=True)
        for start in range(0, len(self.forget), size):
            index = torch.arange(start, min(start + size, len(self.forget)))
            noisy, t, target = self._noisy(self.forget.sample(index, generator), generator)
            mask_loss(self.student, noisy, t, target, self.c_forget, self.c_null, self.settings.mask_guidance).backward()
        gradients = {n: (p.grad if p.grad is not None else torch.zeros_like(p)).detach().cpu()
                     for n, p in self.trainable.items()}
        self.student.zero_grad(set_to_none=True)
        return saliency_mask(gradients, self.settings.mask_sparsity)

    def loss(self, step: int, generator: torch.Generator) -> torch.Tensor:
        size = self.settings.batch_size

        def batch(images: ImageLatents) -> torch.Tensor:  # the loaders' order: batch k of the epoch, cycling
            per_epoch = -(-len(images) // size)
            start = (step % per_epoch) * size
            return torch.arange(start, min(start + size, len(images)))

        forget_noisy, forget_t, _ = self._noisy(self.forget.sample(batch(self.forget), generator), generator)
        retain_noisy, retain_t, retain_target = self._noisy(self.retain.sample(batch(self.retain), generator), generator)
        return unlearn_loss(self.student, forget_noisy, forget_t, retain_noisy, retain_t, retain_target,
                            self.c_forget, self.c_retain, self.settings.alpha)
