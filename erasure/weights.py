"""Every weight file a metric needs, each as one `Weight` entry that owns all the code knows of it: the
settings key that names it (`metrics.<metric>.<key>`), the environment variable that names it when the config
does not, its pin, the command that provides it, its resolver (`files`: the files the scorer reads from
outside results/, which the DAG lists as inputs, erasure.external_inputs; the scorer loads the same file, e.g.
erasure.metrics.fid.find_inception -> `inception_file`) and its preflight check (`check`, a
"module:function" that erasure.preflight calls, named not imported: preflight sits layers above). Which
metric loads which is its entry's `weights` in erasure.metrics.catalog; `WEIGHTS` is every entry, in the
order preflight prints them. A new weight file is a new entry here (with its resolver and check), nothing
in sources or preflight.

Order of precedence: settings key, then environment variable, then the default.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from erasure.hub import MODEL_FILES, model_files  # noqa: F401 - what from_pretrained reads: the DAG lists them as inputs
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


def locate(weight: "Weight", settings: dict, default=None):
    """settings[weight.key], else $weight.env, else `default` (None: the scorer's own default place)."""
    return settings.get(weight.key) or os.environ.get(weight.env) or default


def _named(value: str | None, built: Sequence[Path], file_name: str | None = None) -> Path | None:
    """A configured file (or, with `file_name`, a folder holding it); inside a folder of `built`, that folder."""
    if root := built_root(value, built):
        return root
    path = Path(value).expanduser()
    if file_name and path.is_dir():
        path = path / file_name
    return path if path.is_file() else None


def inception_file(setting: str | None = None, built: Sequence[Path] = ()) -> Path | None:
    """The Inception file the FID scorer loads (erasure.metrics.fid.find_inception) and the DAG lists as an
    input (erasure.external_inputs): `settings.inception` (file or folder), else $ERASURE_INCEPTION, else clean-fid's
    /tmp cache; inside a folder of `built` (a rule's output), that folder; None when not found."""
    if root := built_root(setting or os.environ.get(INCEPTION.env), built):
        return root
    for candidate in [Path(p).expanduser() for p in (setting, os.environ.get(INCEPTION.env)) if p] + [CLEANFID_CACHE]:
        file = candidate / INCEPTION_FILE if candidate.is_dir() else candidate
        if file.is_file():
            return file
    return None


def torch_hub_dir() -> Path:
    """torch.hub.get_dir()'s answer without importing torch: $TORCH_HOME/hub, else $XDG_CACHE_HOME/torch/hub,
    else ~/.cache/torch/hub."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch")
    return Path(torch_home).expanduser() / "hub"


def alexnet_file(setting: str | None = None, built: Sequence[Path] = (), hub_dir: str | os.PathLike | None = None
                 ) -> Path | None:
    """LPIPS' AlexNet trunk (erasure.metrics.lpips_metric loads it, the DAG lists it): `setting`
    (metrics.lpips.alexnet: a file, or a folder holding ALEXNET_FILE), else $ERASURE_ALEXNET (the same), else
    torch's hub cache (`hub_dir`, default `torch_hub_dir()`)/checkpoints/ALEXNET_FILE; inside a folder of
    `built`, that folder; None when not found."""
    value = setting or os.environ.get(ALEXNET.env)
    if value:
        return _named(value, built, ALEXNET_FILE)
    file = Path(hub_dir or torch_hub_dir()).expanduser() / "checkpoints" / ALEXNET_FILE
    return file if file.is_file() else None


def nudenet_file(setting: str | None = None, built: Sequence[Path] = ()) -> Path | None:
    """NudeNet's detector (erasure.metrics.nudenet loads it, the DAG lists it): `setting` (metrics.nude.model,
    an .onnx), else $ERASURE_NUDENET, else the 320n.onnx inside the nudenet wheel (found without importing
    nudenet / onnxruntime); inside a folder of `built`, that folder; None when not found."""
    value = setting or os.environ.get(NUDENET.env)
    if value:
        return _named(value, built)
    spec = importlib.util.find_spec("nudenet")
    if spec is None or not spec.origin:
        return None
    file = Path(spec.origin).parent / "320n.onnx"
    return file if file.is_file() else None


# --- each weight's DAG files: (metric settings, DAG-built folders, whether the world's scorers read the base's
# own backbones) -> the files its scorer reads from outside results/ (erasure.external_inputs.metric_files)

def _single(file: Path | None) -> list[Path]:
    return [file] if file else []


def _clip_files(settings: Mapping, built: Sequence[Path], own_backbones: bool) -> list[Path]:
    # a world whose scorers read the base's own CLIP (an input of its own) has no default to look up
    return model_files(locate(CLIP_VIT_L14, settings) or (None if own_backbones else CLIP_HUB_ID), built)


@dataclass(frozen=True)
class Weight:
    name: str          # what it is, for messages
    key: str           # metrics.<metric>.<key>
    env: str           # environment fallback
    pin: str           # how the file is pinned, for messages
    provide: str       # the one command (or step) that provides it
    # (settings, built, own_backbones) -> the files the DAG lists as the scorer's inputs (erasure.external_inputs)
    files: Callable[[Mapping, Sequence[Path], bool], list[Path]] = field(compare=False, repr=False,
                                                                         default=lambda s, built, own: [])
    check: str = ""    # "module:function": its preflight check, (Context, [(metric, settings)]) -> [Item]


CLIP_VIT_L14 = Weight("CLIP ViT-L/14", "clip", "ERASURE_CLIP", "hub revision / safetensors headers",
                      "hf download openai/clip-vit-large-patch14", files=_clip_files,
                      check="erasure.preflight:check_clip")
Q16_PROMPTS = Weight("Q16 prompts (ViT-L-14/prompts.p)", "q16_source", "ERASURE_Q16",
                     "sha256 9b6c4118...ccad5 (erasure.metrics.q16)",
                     "python -m erasure.metrics.q16 fetch Q16.safetensors  (or download prompts.p and set "
                     "metrics.harm.q16_source)",
                     files=lambda s, built, own: [],  # a DAG input already: the q16_prompts rule's output
                     check="erasure.preflight:check_q16")
INCEPTION = Weight("clean-fid Inception (inception-2015-12-05.pt)", "inception", "ERASURE_INCEPTION",
                   "sha256 in metrics.fid.inception_sha256",
                   "curl -LO https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/"
                   "inception-2015-12-05.pt  (into /tmp, or set metrics.fid.inception)",
                   files=lambda s, built, own: _single(inception_file(locate(INCEPTION, s), built)),
                   check="erasure.preflight:check_inception")
ALEXNET = Weight("torchvision AlexNet (alexnet-owt-7be5be79.pth, LPIPS trunk)", "alexnet", "ERASURE_ALEXNET",
                 "sha256 prefix 7be5be79 (torchvision's)",
                 "curl -LO https://download.pytorch.org/models/alexnet-owt-7be5be79.pth  (into "
                 "$TORCH_HOME/hub/checkpoints, or set metrics.lpips.alexnet)",
                 files=lambda s, built, own: _single(alexnet_file(locate(ALEXNET, s), built)),
                 check="erasure.preflight:check_alexnet")
NUDENET = Weight("NudeNet 3.4.2 detector (320n.onnx, in the nudenet wheel)", "model", "ERASURE_NUDENET",
                 "nudenet==3.4.2 wheel", "pip install nudenet==3.4.2",
                 files=lambda s, built, own: _single(nudenet_file(locate(NUDENET, s), built)),
                 check="erasure.preflight:check_nudenet")
WEIGHTS = (NUDENET, Q16_PROMPTS, CLIP_VIT_L14, INCEPTION, ALEXNET)  # every entry, in preflight's order


