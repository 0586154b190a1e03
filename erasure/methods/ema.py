"""The EMA teacher of SDD: θ* ← m θ* + (1 − m) θ after every optimiser step (Appendix B: m = 0.999).

The teacher is a copy of the student that shares every frozen parameter with it (frozen parameters are
identical in both, and sharing them halves the memory of an SD v1.4 run); only the trained parameters
have their own teacher copies, and only those are averaged.
"""

from __future__ import annotations

import copy

import torch


def copy_sharing_frozen(model: torch.nn.Module, trainable: dict[str, torch.nn.Parameter]) -> torch.nn.Module:
    """A deep copy of `model` whose non-trainable parameters are the very same tensors as `model`'s."""
    trainable_ids = {id(p) for p in trainable.values()}
    memo = {id(p): p for p in model.parameters() if id(p) not in trainable_ids}
    clone = copy.deepcopy(model, memo)
    clone.requires_grad_(False)
    return clone


def teacher_params(teacher: torch.nn.Module, names) -> dict[str, torch.nn.Parameter]:
    by_name = dict(teacher.named_parameters())
    return {name: by_name[name] for name in names}


@torch.no_grad()
def ema_update(teacher: dict[str, torch.Tensor], student: dict[str, torch.Tensor], decay: float) -> None:
    """θ* ← decay · θ* + (1 − decay) · θ, in place, for the parameters named in `teacher`."""
    names = list(teacher)
    t = [teacher[n] for n in names]
    s = [student[n].detach() for n in names]
    torch._foreach_mul_(t, decay)
    torch._foreach_add_(t, s, alpha=1.0 - decay)
