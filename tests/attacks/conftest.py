"""A tiny random Stable Diffusion pipeline on the toy tokenizer (2-block UNet on 4x4 latents), built once per
session in memory: the attacks need a tokenizer, a text encoder, a UNet and a scheduler, not weights that
mean anything."""

from __future__ import annotations

import pytest
import torch
from tiny_pipeline import tiny_pipeline  # tests/tiny_pipeline.py (tests/ is on sys.path)

torch.set_num_threads(1)


def build_tiny_pipeline(tokenizer_dir):
    """tests/tiny_pipeline.py's pipeline, in eval mode and without progress bars."""
    pipe = tiny_pipeline(tokenizer_dir)
    for module in (pipe.text_encoder, pipe.unet, pipe.vae):
        module.eval()
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="session")
def tiny_pipe(tmp_path_factory):
    return build_tiny_pipeline(tmp_path_factory.mktemp("attack-tok"))


@pytest.fixture(scope="session")
def target_latents():
    """A fixed 'target image' latent [1, 4, 4, 4]."""
    return torch.randn((1, 4, 4, 4), generator=torch.Generator().manual_seed(123))
