"""A tiny random Stable Diffusion pipeline (toy tokenizer, 2-block UNet on 4x4 latents), saved once per
session, so method tests run in seconds on one thread."""

from __future__ import annotations

import pytest
import torch
from tiny_pipeline import tiny_pipeline  # tests/tiny_pipeline.py (tests/ is on sys.path)

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> str:
    """A saved tiny pipeline directory (a valid `base_model` value)."""
    root = tmp_path_factory.mktemp("tiny-base")
    pipe = tiny_pipeline(root / "tok")
    pipe.save_pretrained(root / "pipeline")
    return str(root / "pipeline")


@pytest.fixture(scope="session")
def sd14_unet():
    """SD v1.4's UNet2DConditionModel (CompVis/stable-diffusion-v1-4 unet/config.json) on the meta device:
    the real module tree and parameter shapes, no 860M allocation. Shared by the session: no test may rely
    on the `requires_grad` flags another test's selection left."""
    from accelerate import init_empty_weights
    from diffusers import UNet2DConditionModel

    with init_empty_weights():
        return UNet2DConditionModel(
            sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, cross_attention_dim=768, attention_head_dim=8,
        )


@pytest.fixture(scope="session")
def toy_unet():
    """The toy world's UNet, built from its shipped config.json on the meta device."""
    import json
    from importlib.resources import files

    from accelerate import init_empty_weights
    from diffusers import UNet2DConditionModel

    config = json.loads(files("erasure.worlds.toy").joinpath("assets/base/pipeline/unet/config.json").read_text())
    with init_empty_weights():
        return UNet2DConditionModel.from_config(config)


FAMILY_LATENT = 8  # latent side of the SD 2.1 / SDXL stand-ins of `family_base`


@pytest.fixture(scope="module", params=["sd21", "sdxl"])
def family_base(request, tmp_path_factory) -> tuple[str, str]:
    """(family, pipeline folder): the tiny SD 2.1 or SDXL stand-in (erasure.standins), saved once per module."""
    from erasure.standins.architectures import family_pipeline

    root = tmp_path_factory.mktemp(request.param)
    pipe = family_pipeline(request.param, tiny=True, latent=FAMILY_LATENT, seed=0, tokenizer_dir=root / "tok")
    pipe.save_pretrained(root / "pipeline")
    return request.param, str(root / "pipeline")
