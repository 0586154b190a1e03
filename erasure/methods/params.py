"""Which UNet parameters a method trains: the one place that maps a method to its parameter subsets.

Every subset is a rule over diffusers' `UNet2DConditionModel` (a parameter's full name and the module that
holds it). Only the selected parameters get `requires_grad`, so no gradient is computed for the rest (the
official SDD code computes them for the whole UNet and throws them away).

Subsets, and whose code each follows (quoted; read 2026-11):

- `attn2` — SDD and ESD-x: the cross-attention projections (`attn2`: to_q, to_k, to_v, to_out), the only
  layers that see the text. SDD paper § 3.1 ("We only fine-tune the cross-attention layers"). On SD v1.4's
  UNet (and the toy UNet) this is exactly the set ESD-x trains in every one of the authors' scripts below:
  `'attn2' in name` over parameters (train-esd.py and train_esd.py method `xattn`), and esd_sd.py's
  `'esd-x'` (Linear/Conv2d modules with `'attn2' in name`) — attn2 holds nothing else.

ESD-u ("unconditional layers": everything but cross-attention) exists in three versions of record:

- `noxattn` (ESD-u's default) — nannullna/safe-diffusion, `train_esd.py`, `gather_parameters`, method
  `noxattn`, over diffusers names::

      if name.startswith("conv_out.") or ("time_embed" in name): continue   # skip
      elif "attn2" in name: continue                                         # skip
      # else train it

  i.e. everything except attn2, `time_embedding.*` (the substring "time_embed") and `conv_out.*`; the
  output GroupNorm `conv_norm_out` IS trained. This is the selection behind the ESD-u-3 numbers the SDD
  paper compares against: the paper's experiments are "implemented with PyTorch v1.13 and HuggingFace's
  Diffusers library" (§ 4, Reproducibility), and the paper's own repository ships this diffusers ESD
  trainer, with `--concept_scale` (default 3.0) documented as "s_s in the paper" — the 3 of "ESD-u-3".
  (Its `run_esd_nudity.sh` runs the default method, xattn; no command line for the ESD-u run is
  recorded, so this is the best evidence, not a certainty.) It is the SDD authors' port of the ESD
  authors' LDM script below.
- `noxattn-ldm` — rohitgandikota/erasing, `train-scripts/train-esd.py` (the 2023 CompVis/LDM code of the
  ESD paper), `train_esd`, method `noxattn`, over the LDM UNet's names::

      if name.startswith('out.') or 'attn2' in name or 'time_embed' in name: pass   # skip
      else: parameters.append(param)

  Mapped to diffusers names with diffusers' own LDM conversion table
  (`diffusers.loaders.single_file_utils.DIFFUSERS_TO_LDM_MAPPING["unet"]["layers"]`): LDM `time_embed.0/.2`
  = `time_embedding.linear_1/_2`, LDM `out.0` (GroupNorm) = `conv_norm_out`, LDM `out.2` = `conv_out`;
  `attn2` keeps its name inside the transformer blocks, and no other LDM name starts with `out.` or contains
  `time_embed` (the ResBlocks' `emb_layers` are diffusers' `time_emb_proj`, trained by both). So it is
  `noxattn` minus `conv_norm_out` (2 × block_out_channels[0] parameters: 640 on SD v1.4). Applying the LDM
  rule verbatim to diffusers names would be wrong: `out.` matches nothing there.
- `esd-sd` — rohitgandikota/erasing, `esd_sd.py` (the authors' current diffusers code),
  `get_esd_trainable_parameters`, `train_method == 'esd-u'`::

      for name, module in esd_unet.named_modules():
          if module.__class__.__name__ in ["Linear", "Conv2d", "LoRACompatibleLinear", "LoRACompatibleConv"]:
              if train_method == 'esd-u' and ('attn2' not in name): <all of module's parameters>

  i.e. the Linear and Conv2d layers outside attn2 — no normalisation layer (GroupNorm, LayerNorm) is
  trained, while time_embedding and conv_out are. (The same rule is `noxattn` in the authors' interim
  `esd_diffusers.py` / `utils.FineTunedModel`.) Here a module counts if it is an `nn.Linear` / `nn.Conv2d`
  (the LoRACompatible* classes of older diffusers are subclasses of these).

`full` — SalUn: every UNet parameter (OPTML-Group/Unlearn-Saliency@a6e89fd SD/train-scripts/nsfw_removal.py,
`--train_method full`: `parameters.append(param)` for every `model.diffusion_model` parameter, the README's
NSFW command); its saliency mask then zeroes the gradients of the half with the smallest saliency
(erasure/methods/salun.py), so the weights that change are fewer than the ones selected.

`attn2-kv` — UCE and RECE: the cross-attention key and value weights (attn2 to_k / to_v), the ones their
closed-form edits solve for (erasure/methods/uce.py).

Which method may train which subsets is its spec's `subsets` (erasure.methods.specs). A run picks one with
`settings.trainable`; empty means the method's default (the first of its spec's subsets).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from erasure.errors import ErasureError
from erasure.methods import specs

if TYPE_CHECKING:
    import torch

ATTN2 = re.compile(r"(^|\.)attn2\.(to_q|to_k|to_v|to_out)\.")

ATTN2_KV = re.compile(r"(^|\.)attn2\.(to_k|to_v)\.weight$")


def is_attn2(name: str) -> bool:
    return ATTN2.search(name) is not None


def _noxattn(name: str, module) -> bool:
    return not (name.startswith("conv_out.") or "time_embed" in name or "attn2" in name)


def _noxattn_ldm(name: str, module) -> bool:
    return _noxattn(name, module) and not name.startswith("conv_norm_out.")


def _linear_or_conv_outside_attn2(name: str, module) -> bool:
    import torch

    # the authors test 'attn2' in the MODULE's name; for a Linear/Conv2d's own parameters the two agree
    return isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)) and "attn2" not in name


# subset -> does it train the parameter `name` (full name) held directly by `module`?
RULES: dict[str, Callable[[str, "torch.nn.Module"], bool]] = {
    "attn2": lambda name, module: is_attn2(name),
    "noxattn": _noxattn,
    "noxattn-ldm": _noxattn_ldm,
    "esd-sd": _linear_or_conv_outside_attn2,
    "attn2-kv": lambda name, module: ATTN2_KV.search(name) is not None,
    "full": lambda name, module: True,
}


def subsets(method: str) -> tuple[str, ...]:
    """The parameter subsets `method` may train, its default first (its spec's `subsets`)."""
    spec = specs.get(method, specs.FINE_TUNING, specs.CLOSED_FORM)
    if not spec.subsets:
        raise ErasureError(f"method {method!r}: trains no parameters")
    return spec.subsets


def default_subset(method: str) -> str:
    return subsets(method)[0]


def check_subset(method: str, subset: str | None) -> str:
    """`subset`, or the method's default when empty; an ErasureError naming `settings.trainable` if the
    method does not train that subset (or `method` if it is unknown)."""
    if not specs.get(method, specs.FINE_TUNING, specs.CLOSED_FORM).subsets:
        # a method that trains no UNet subset (another component, or modules it adds: its class says which)
        if subset:
            raise ErasureError(f"settings.trainable: {subset!r}: method {method!r} trains no UNet parameter subset")
        return ""
    known = subsets(method)
    if not subset:
        return known[0]
    if subset not in known:
        raise ErasureError(f"settings.trainable: {subset!r} is not a parameter subset of method {method!r} "
                           f"(known: {', '.join(known)})")
    return subset


def _parameters_with_modules(unet) -> Iterator[tuple[str, object, object]]:
    """(full name, parameter, the module holding it directly), in `named_parameters()` order."""
    owner = {}
    for module_name, module in unet.named_modules():
        for local, param in module.named_parameters(recurse=False):
            owner[f"{module_name}.{local}" if module_name else local] = module
    for name, param in unet.named_parameters():
        yield name, param, owner[name]


def trainable_names(unet, method: str, subset: str | None = None) -> list[str]:
    """Names of the parameters `method` trains (its `subset`, default the method's own), in
    `named_parameters()` order. Raises ErasureError for an unknown method or subset, or an empty selection."""
    subset = check_subset(method, subset)
    rule = RULES[subset]
    names = [name for name, _, module in _parameters_with_modules(unet) if rule(name, module)]
    if not names:
        raise ErasureError(f"method {method!r}: the UNet has no parameters in subset {subset!r} (no attn2 layers?)")
    return names


def select_trainable(unet, method: str, subset: str | None = None) -> dict[str, "torch.nn.Parameter"]:
    """Set `requires_grad` on exactly the parameters `method` trains; return them by name."""
    keep = set(trainable_names(unet, method, subset))
    selected = {}
    for name, param in unet.named_parameters():
        param.requires_grad_(name in keep)
        if name in keep:
            selected[name] = param
    return selected


def count(params) -> int:
    return sum(p.numel() for p in params)
