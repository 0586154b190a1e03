"""Every weight file a metric needs: the settings key that names it (`metrics.<metric>.<key>`), the
environment variable that names it when the config does not, the default place, and its pin. Which metric
loads which is its entry's `weights` in erasure.metrics.catalog. The scorers resolve their files through
`locate`, and preflight (erasure.preflight) and the DAG inputs (erasure.sources) check the same weights, so a
new backbone cannot be added without a key, a fallback and a preflight line.

Order of precedence: settings key, then environment variable, then the default.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from erasure.hub import MODEL_FILES  # noqa: F401 - what from_pretrained reads: the DAG lists them as inputs
from erasure.io import built_root

CLIP_HUB_ID = "openai/clip-vit-large-patch14"  # CLIP ViT-L/14 (erasure.metrics.clipscore)
INCEPTION_FILE, CLEANFID_CACHE = "inception-2015-12-05.pt", Path("/tmp")  # clean-fid's name and cache folder
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"  # torchvision AlexNet_Weights.IMAGENET1K_V1 (erasure.metrics.lpips_metric)


# Q16's prompt embeddings (ml-research/Q16 data/ViT-L-14/prompts.p): here, torch-free, so that the DAG can check
# a local copy while planning (erasure.preflight.check_while_planning); erasure.metrics.q16 reads them.
Q16_PROMPTS_URL = "https://raw.githubusercontent.com/ml-research/Q16/main/data/ViT-L-14/prompts.p"
Q16_SHAPE = (2, 768)  # the learned prompts (class INAPPROPRIATE = 1) x CLIP ViT-L/14 width (erasure.metrics.q16)
Q16_PROMPTS_SHA256 = "9b6c411824c2f64e0f847aa3c9f2b15b8e3a6c75e0efd82f2f672670c97ccad5"
Q16_FIX = (f"download the pinned prompts.p ({Q16_PROMPTS_URL}) and point metrics.harm.q16_source at it, or remove "
           "metrics.harm.q16_source (the workflow then fetches it)")


@dataclass(frozen=True)
class Weight:
    name: str          # what it is, for messages
    key: str           # metrics.<metric>.<key>
    env: str           # environment fallback
    pin: str           # how the file is pinned, for messages
    provide: str       # the one command (or step) that provides it


CLIP_VIT_L14 = Weight("CLIP ViT-L/14", "clip", "ERASURE_CLIP", "hub revision / safetensors headers",
                      "hf download openai/clip-vit-large-patch14")
Q16_PROMPTS = Weight("Q16 prompts (ViT-L-14/prompts.p)", "q16_source", "ERASURE_Q16",
                     "sha256 9b6c4118...ccad5 (erasure.metrics.q16)",
                     "python -m erasure.metrics.q16 fetch Q16.safetensors  (or download prompts.p and set "
                     "metrics.harm.q16_source)")
INCEPTION = Weight("clean-fid Inception (inception-2015-12-05.pt)", "inception", "ERASURE_INCEPTION",
                   "sha256 in metrics.fid.inception_sha256",
                   "curl -LO https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/"
                   "inception-2015-12-05.pt  (into /tmp, or set metrics.fid.inception)")
ALEXNET = Weight("torchvision AlexNet (alexnet-owt-7be5be79.pth, LPIPS trunk)", "alexnet", "ERASURE_ALEXNET",
                 "sha256 prefix 7be5be79 (torchvision's)",
                 "curl -LO https://download.pytorch.org/models/alexnet-owt-7be5be79.pth  (into "
                 "$TORCH_HOME/hub/checkpoints, or set metrics.lpips.alexnet)")
NUDENET = Weight("NudeNet 3.4.2 detector (320n.onnx, in the nudenet wheel)", "model", "ERASURE_NUDENET",
                 "nudenet==3.4.2 wheel", "pip install nudenet==3.4.2")


def locate(weight: Weight, settings: dict, default=None):
    """settings[weight.key], else $weight.env, else `default` (None: the scorer's own default place)."""
    return settings.get(weight.key) or os.environ.get(weight.env) or default


def inception_file(setting: str | None = None, built: Sequence[Path] = ()) -> Path | None:
    """The Inception file the FID scorer loads (erasure.metrics.fid.find_inception) and the DAG lists as an
    input (erasure.sources): `settings.inception` (file or folder), else $ERASURE_INCEPTION, else clean-fid's
    /tmp cache; inside a folder of `built` (a rule's output), that folder; None when not found."""
    if root := built_root(setting or os.environ.get(INCEPTION.env), built):
        return root
    for candidate in [Path(p).expanduser() for p in (setting, os.environ.get(INCEPTION.env)) if p] + [CLEANFID_CACHE]:
        file = candidate / INCEPTION_FILE if candidate.is_dir() else candidate
        if file.is_file():
            return file
    return None
