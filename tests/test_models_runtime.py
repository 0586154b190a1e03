"""Loading the base model and picking the device: user mistakes end in one line naming what to fix."""

import pytest
import torch

from erasure.errors import ErasureError
from erasure.models import load_base_pipeline
from erasure.runtime import pick_device


def test_a_directory_that_is_not_a_pipeline_is_one_line(tmp_path):
    broken = tmp_path / "sd-v1-4"
    (broken / "unet").mkdir(parents=True)
    (broken / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]}')
    with pytest.raises(ErasureError) as err:
        load_base_pipeline(str(broken), device="cpu")
    msg = str(err.value)
    assert "\n" not in msg and str(broken) in msg and "local diffusers directory" in msg


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_cuda_without_a_gpu_is_one_line():
    with pytest.raises(ErasureError, match="device: 'cuda' but this machine has no usable CUDA GPU"):
        pick_device("cuda")
    assert pick_device("auto") == torch.device("cpu")
