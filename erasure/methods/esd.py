"""ESD (Gandikota et al. 2023) as the SDD paper compares against it: ESD-x trains attn2, ESD-u everything
except attn2.

Each iteration: t ~ U({0, …, T−1}); c one of the concepts; z_t by DDIM from the model BEING TRAINED with
CFG s_g on c (no grad); target from the FROZEN original θ*:

    ε̃ = ε_θ*(z_t, ∅, t) − η (ε_θ*(z_t, c, t) − ε_θ*(z_t, ∅, t));   loss = ‖ε_θ(z_t, c, t) − ε̃‖²

η = 3 by default ("ESD-x-3", "ESD-u-3").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from erasure.methods.base import FineTuningMethod, Prompts, draw
from erasure.methods.ema import copy_sharing_frozen
from erasure.methods.params import select_trainable
from erasure.methods.presets import Settings
from erasure.methods.sampling import ddim_scheduler, sample_zt


class ESD(FineTuningMethod):
    deliverable = "student"

    def __init__(self, unet, scheduler_config: dict, prompts: Prompts, settings: Settings, *, method: str):
        super().__init__(unet, select_trainable(unet, method))
        self.original = copy_sharing_frozen(unet, self.trainable)
        self.scheduler = ddim_scheduler(scheduler_config, settings.sampling_steps)
        self.prompts = prompts
        self.settings = settings

    def sample(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, int, torch.Tensor]:
        """z_t from the model being trained, its timestep t, and the concept embedding c it was drawn for."""
        s, p = self.settings, self.prompts
        index = draw(s.sampling_steps, generator)
        c = p.concepts[draw(len(p.concepts), generator)]
        z_t, t = sample_zt(self.student, self.scheduler, c, p.uncond, index=index, guidance=s.guidance,
                           batch_size=s.batch_size, generator=generator)
        return z_t, t, c

    def loss(self, step: int, generator: torch.Generator) -> torch.Tensor:
        return self.loss_at(*self.sample(step, generator), step, generator)

    def loss_at(self, z_t: torch.Tensor, t: int, c: torch.Tensor, step: int, generator: torch.Generator) -> torch.Tensor:
        s, p = self.settings, self.prompts
        n = z_t.shape[0]
        with torch.no_grad():
            context = torch.cat([p.uncond.expand(n, -1, -1), c.expand(n, -1, -1)])
            eps_uncond, eps_concept = self.original(torch.cat([z_t, z_t]), t, encoder_hidden_states=context).sample.chunk(2)
            target = eps_uncond - s.negative_guidance * (eps_concept - eps_uncond)
        pred = self.student(z_t, t, encoder_hidden_states=c.expand(n, -1, -1)).sample
        return F.mse_loss(pred, target)
