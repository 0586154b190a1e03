"""SDD: Safe self-Distillation Diffusion (Kim et al. 2023, Algorithm 1).

Each iteration: z_T ~ N(0, I); t ~ U({0, …, T−1}); c_p one of the concepts (uniform); z_t by DDIM from the
EMA TEACHER with CFG s_g on c_p (no grad); then on the STUDENT

    loss = ‖ε_θ(z_t, c_s, t) − sg(ε_θ(z_t, ∅, t))‖²   (mean over elements)

with c_s the joined concepts "a, b, c"; after the optimiser step θ* ← m θ* + (1 − m) θ.

v-prediction (SD 2.x): ε_θ above is the UNet's own output, v_θ for a v-predicting family, so the loss is
‖v_θ(z_t, c_s, t) − sg(v_θ(z_t, ∅, t))‖². At the fixed z_t both predictions share, ε = α_t v + σ_t z_t
(α_t = √ᾱ_t, σ_t = √(1 − ᾱ_t); erasure.worlds.families), so ε_θ(c_s) − ε_θ(∅) = α_t (v_θ(c_s) − v_θ(∅)):
"match the unconditional prediction" is the same condition in either parametrisation (zero exactly when the
ε-loss is zero) and the v-loss is the ε-loss / ᾱ_t, i.e. the ε objective reweighted per timestep by 1/ᾱ_t (as
diffusers' v-prediction training scripts weight their v targets). z_t's DDIM sampler reads the prediction type
from the scheduler config.
The `official` preset swaps the concept roles (z_t from the joined concepts, the loss on concept
step mod K), as the released code does.

`sdd+retain` (an extension, NOT the paper's method) adds weight · ‖ε_θ(z_t, c_r, t) − ε_θ₀(z_t, c_r, t)‖²
on a retain prompt c_r drawn per step, against the frozen base θ₀, on the same z_t.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from erasure.methods import specs
from erasure.methods.base import FineTuningMethod, Prompts, draw
from erasure.methods.ema import copy_sharing_frozen, ema_update, teacher_params
from erasure.methods.params import select_trainable
from erasure.methods.presets import Settings
from erasure.methods.zt_sampler import ddim_scheduler, sample_zt
from erasure.worlds.families import predict


class SDD(FineTuningMethod):
    def __init__(self, unet, scheduler_config: dict, prompts: Prompts, settings: Settings, *, method: str = "sdd"):
        super().__init__(unet, select_trainable(unet, method, settings.trainable), method)
        self.teacher = copy_sharing_frozen(unet, self.trainable)
        self.teacher_trainable = teacher_params(self.teacher, self.trainable)
        self.base = copy_sharing_frozen(unet, self.trainable) if specs.get(method).retain else None
        self.scheduler = ddim_scheduler(scheduler_config, settings.sampling_steps)
        self.prompts = prompts
        self.settings = settings

    def sample(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, int]:
        """z_t from the EMA teacher, and its timestep t."""
        s, p = self.settings, self.prompts
        index = draw(s.sampling_steps, generator)
        c_p = p.joined if s.zt_concept == "joined" else p.concepts[draw(len(p.concepts), generator)]
        return sample_zt(self.teacher, self.scheduler, c_p, p.uncond, index=index, guidance=s.guidance,
                         batch_size=s.batch_size, generator=generator)

    def loss(self, step: int, generator: torch.Generator) -> torch.Tensor:
        z_t, t = self.sample(step, generator)
        return self.loss_at(z_t, t, step, generator)

    def loss_at(self, z_t: torch.Tensor, t: int, step: int, generator: torch.Generator) -> torch.Tensor:
        s, p = self.settings, self.prompts
        n = z_t.shape[0]
        c_s = p.joined if s.loss_concept == "joined" else p.concepts[step % len(p.concepts)]
        with torch.no_grad():
            eps_uncond = predict(self.student, z_t, t, p.uncond.expand(n, -1, -1))
        eps_concept = predict(self.student, z_t, t, c_s.expand(n, -1, -1))
        loss = F.mse_loss(eps_concept, eps_uncond)
        if self.base is not None:
            c_r = p.retain[draw(len(p.retain), generator)].expand(n, -1, -1)
            with torch.no_grad():
                eps_base = predict(self.base, z_t, t, c_r)
            eps_retain = predict(self.student, z_t, t, c_r)
            loss = loss + s.retain_weight * F.mse_loss(eps_retain, eps_base)
        return loss

    def after_step(self) -> None:
        ema_update(self.teacher_trainable, self.trainable, self.settings.ema_decay)

    def state(self) -> dict[str, dict[str, torch.Tensor]]:
        return {
            "student": {n: p.detach() for n, p in self.trainable.items()},
            "teacher": {n: p.detach() for n, p in self.teacher_trainable.items()},
        }
