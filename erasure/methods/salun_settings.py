"""SalUn's settings (torch-free: the workflow reads them while planning): the trainer's Settings plus the
image sets, prompts, forgetting weight and saliency mask of the authors' NSFW recipe
(OPTML-Group/Unlearn-Saliency@a6e89fd17ff737c24c6aa16c9574469a234ffd91, SD/; erasure/methods/salun.py gives
the equations)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from erasure.errors import ErasureError
from erasure.methods.presets import Settings
from erasure.methods.settings import setting

_REPO = "OPTML-Group/Unlearn-Saliency@a6e89fd SD/"
_NSFW = f"{_REPO}train-scripts/nsfw_removal.py"
_MASK = f"{_REPO}train-scripts/generate_mask.py"
_README = f"{_REPO}README.md (NSFW-concept removal)"


@dataclass(frozen=True)
class SalUnSettings(Settings):
    """SalUn (Fan et al., ICLR 2024) for SD: a saliency mask from the forgetting loss's gradient on D_f, then
    masked fine-tuning of the whole UNet. `IMAGE_SETS` names the fields that are prompt sets whose images the
    base model draws (`image_method`) before the run: the erase rule takes their manifests as inputs."""

    LABEL: ClassVar[str] = "SalUn "
    IMAGE_SETS: ClassVar[tuple[str, ...]] = ("forget_images", "retain_images")

    forget_images: str = setting("salun-forget", f"D_f: a config prompt set drawn by the base model ({_README}: "
                                 "800 SD v1.4 images of 'a photo of a nude person': source salun-forget)")
    retain_images: str = setting("salun-retain", f"D_r: likewise ({_README}: 800 images of 'a photo of a person "
                                 "wearing clothes': source salun-retain)")
    image_method: str = setting("sd", "the inference method (kind sd: the base model) that draws D_f and D_r")
    forget_prompt: str = setting("a photo of a nude person", f"c_f: {_NSFW} word_nude; {_MASK} word_nude")
    retain_prompt: str = setting("a photo of a person wearing clothes", f"c_r: {_NSFW} word_wear (the pseudo "
                                 "and the remain prompt)")
    alpha: float = setting(0.1, f"weight of the remain loss: {_NSFW} --alpha 0.1 (the README's NSFW command "
                           "passes none)", minimum=0)
    mask_sparsity: float = setting(0.5, f"fraction of UNet weights the mask keeps (largest |gradient|): {_MASK} "
                                   "threshold_list = [0.5]; the README trains with mask/nude_0.5.pt",
                                   above=0, maximum=1)
    mask_guidance: float = setting(7.5, f"w of the mask's forgetting loss (1 + w) ε(c_f) − w ε(''): {_MASK} "
                                   "--c_guidance 7.5")
    mask_batch_size: int = setting(8, f"{_MASK} --batch_size 8 (one pass over D_f, gradients summed)", minimum=1)
    mask_seed: int = setting(0, "ours: the seed of the mask pass's t, noise and VAE samples (the authors draw "
                             "them from the unseeded global RNG)", minimum=0)

    PRESETS: ClassVar[dict[str, dict]] = {
        # nsfw_removal.py: torch.optim.Adam(lr=1e-5) on every UNet parameter (--train_method full), gradients
        # multiplied by the mask, batch 8, one epoch over D_f (800 / 8 = 100 steps), no schedule, no clipping
        "nsfw": dict(lr=1e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, lr_schedule="constant",
                     warmup_steps=0, grad_clip=0.0, batch_size=8),
    }

    def check(self) -> None:
        for name in self.IMAGE_SETS:
            if not getattr(self, name):
                raise ErasureError(f"settings.{name}: SalUn needs a prompt set whose base-model images it trains on "
                                   "(a prompt_sets name)")
