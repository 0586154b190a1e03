"""Per-image initial latents, and the generation scheduler built by name (erasure.generate.settings names them).

Each image's initial latents come from its own CPU generator seeded with `latent_seed(prompt_id, seed)`,
drawn before the batch is assembled and passed to the pipeline as `latents=`. So the image a method draws
for (prompt_id, seed) does not depend on which shard or which batch position it lands in, and images of
different methods pair up (LPIPS, paired distances compare the same initial noise).
"""

from __future__ import annotations

import hashlib
import torch

from erasure.generate.settings import SCHEDULERS, resolve_sampling  # noqa: F401 - re-exported


LATENT_SCHEME = "sha256(prompt_id:seed)[:8]/v1"  # part of the shard fingerprint



def make_scheduler(name: str, base_scheduler):
    """Scheduler `name` built from the base pipeline's scheduler config (betas, offsets)."""
    import diffusers

    cls = getattr(diffusers, SCHEDULERS[name])
    return cls.from_config(base_scheduler.config)


def latent_seed(prompt_id: str, seed: int) -> int:
    """The generator seed of image (prompt_id, seed): independent across prompts that share a seed."""
    digest = hashlib.sha256(f"{prompt_id}:{int(seed)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def initial_latents(prompt_id: str, seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    """float32 [1, *shape] standard normal noise from this image's own CPU generator."""
    generator = torch.Generator(device="cpu").manual_seed(latent_seed(prompt_id, seed))
    return torch.randn((1, *shape), generator=generator, dtype=torch.float32)
