"""z_t and its timestep agree: with a denoiser that predicts the true noise of a fixed (x0, ε), every DDIM
latent is exactly sqrt(ᾱ_t) x0 + sqrt(1 − ᾱ_t) ε, so the returned t can be checked against the latent."""

from types import SimpleNamespace

import pytest
import torch

from erasure.methods.zt_sampler import ddim_scheduler, sample_zt
from erasure.worlds.toy.unet import SCHEDULER_KWARGS


class ExactDenoiser(torch.nn.Module):
    """Predicts the noise of z = sqrt(ᾱ_t) x0 + sqrt(1 − ᾱ_t) ε for a fixed x0; counts calls and batch sizes."""

    def __init__(self, x0, alphas_cumprod):
        super().__init__()
        self.x0, self.ac = x0, alphas_cumprod
        self.config = SimpleNamespace(in_channels=x0.shape[1], sample_size=x0.shape[2])
        self.batches = []

    def forward(self, z, t, encoder_hidden_states):
        self.batches.append(z.shape[0])
        a = self.ac[int(t)]
        return SimpleNamespace(sample=(z - a.sqrt() * self.x0) / (1 - a).sqrt())


@pytest.mark.parametrize("steps", [10, 50])
@pytest.mark.parametrize("edge", ["first", "last"])
def test_zt_matches_t_at_grid_edges(steps, edge):
    sched = ddim_scheduler(dict(SCHEDULER_KWARGS), steps)
    x0 = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(1))
    model = ExactDenoiser(x0, sched.alphas_cumprod)
    cond = uncond = torch.zeros(1, 3, 8)
    index = 0 if edge == "last" else steps - 1  # Algorithm 1's t: 0 = all T steps, T-1 = one step
    z, t = sample_zt(model, sched, cond, uncond, index=index, guidance=3.0, batch_size=1,
                     generator=torch.Generator().manual_seed(7))
    z_T = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(7))  # the z_T the sampler drew
    # DDIM treats z_T as the latent at the first grid timestep; the exact denoiser's noise for it is then
    # carried through every step, so each later latent is sqrt(ᾱ) x0 + sqrt(1 − ᾱ) eps for this eps
    a_T = sched.alphas_cumprod[int(sched.timesteps[0])]
    eps = (z_T - a_T.sqrt() * x0) / (1 - a_T).sqrt()
    a = sched.alphas_cumprod[t]
    torch.testing.assert_close(z, a.sqrt() * x0 + (1 - a).sqrt() * eps, rtol=1e-4, atol=1e-5)
    assert len(model.batches) == steps - index and set(model.batches) == {2}  # cond + uncond in one forward
    if edge == "last":
        assert t == 0  # z_0, NOT paired with t ≈ 990 as the official code does
    else:
        assert t == int(sched.timesteps[1])
    # and every other timestep disagrees with the latent (the check has teeth)
    wrong = int(sched.timesteps[0]) if edge == "last" else int(sched.timesteps[2])
    b = sched.alphas_cumprod[wrong]
    assert not torch.allclose(z, b.sqrt() * x0 + (1 - b).sqrt() * eps, rtol=1e-4, atol=1e-5)


def test_cfg_combines_cond_and_uncond():
    sched = ddim_scheduler(dict(SCHEDULER_KWARGS), 4)

    class Linear(torch.nn.Module):
        config = SimpleNamespace(in_channels=1, sample_size=2)

        def forward(self, z, t, encoder_hidden_states):
            return SimpleNamespace(sample=z * 0 + encoder_hidden_states.mean(dim=(1, 2)).view(-1, 1, 1, 1))

    cond, uncond = torch.full((1, 2, 2), 1.0), torch.full((1, 2, 2), 0.5)
    z, t = sample_zt(Linear(), sched, cond, uncond, index=3, guidance=3.0, batch_size=2,
                     generator=torch.Generator().manual_seed(0))
    z_t = torch.randn(2, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    expected = sched.step(torch.full_like(z_t, 0.5 + 3.0 * 0.5), int(sched.timesteps[0]), z_t).prev_sample
    torch.testing.assert_close(z, expected)
    assert t == int(sched.timesteps[1])


def test_ddim_from_sd14_pndm_config_neither_clips_nor_ends_at_alpha_one():
    from diffusers import PNDMScheduler

    pndm = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
                         set_alpha_to_one=False, skip_prk_steps=True, steps_offset=1)  # SD v1.4 scheduler config
    sched = ddim_scheduler(dict(pndm.config), 50)
    assert sched.config.clip_sample is False and sched.config.set_alpha_to_one is False
    assert [int(t) for t in sched.timesteps[:2]] == [981, 961] and int(sched.timesteps[-1]) == 1
