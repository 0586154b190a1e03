"""Which UNet parameters a method trains.

SDD and ESD-x train the cross-attention layers (`attn2`: to_q, to_k, to_v, to_out — the only layers that
see the text); ESD-u trains everything else ("unconditional" layers). Only the selected parameters get
`requires_grad`, so no gradient is computed for the rest (the official SDD code computes them for the
whole UNet and throws them away).
"""

from __future__ import annotations

import re

import torch

from erasure.errors import ErasureError

ATTN2 = re.compile(r"(^|\.)attn2\.(to_q|to_k|to_v|to_out)\.")

# method -> does it train attn2 (True) or everything but attn2 (False)
_TRAINS_ATTN2 = {"sdd": True, "sdd+retain": True, "esd-x": True, "esd-u": False}


def is_attn2(name: str) -> bool:
    return ATTN2.search(name) is not None


def trainable_names(unet: torch.nn.Module, method: str) -> list[str]:
    """Names of the parameters `method` trains, in `named_parameters()` order."""
    if method not in _TRAINS_ATTN2:
        raise ErasureError(f"method {method!r}: unknown (known: {', '.join(_TRAINS_ATTN2)})")
    want_attn2 = _TRAINS_ATTN2[method]
    names = [name for name, _ in unet.named_parameters() if is_attn2(name) == want_attn2]
    if not names:
        raise ErasureError(f"method {method!r}: the UNet has no parameters to train (no attn2 layers?)")
    return names


def select_trainable(unet: torch.nn.Module, method: str) -> dict[str, torch.nn.Parameter]:
    """Set `requires_grad` on exactly the parameters `method` trains; return them by name."""
    keep = set(trainable_names(unet, method))
    selected = {}
    for name, param in unet.named_parameters():
        param.requires_grad_(name in keep)
        if name in keep:
            selected[name] = param
    return selected


def count(params) -> int:
    return sum(p.numel() for p in params)
