"""Settings of a run: a preset, then the run's `settings:` overriding preset values by name.

- `paper`: Appendix B.1 — AdamW lr 1e-5, betas (0.9, 0.999), weight decay 1e-2, cosine schedule with 500
  warm-up steps, EMA m = 0.999 updated every step, z_t by DDIM 50 steps with CFG s_g = 3 on one concept
  c_p drawn uniformly per step, loss on the joined concepts c_s (Algorithm 1).
- `official`: the released code's defaults — constant lr, weight decay 1e-4, and the concept roles
  swapped: z_t sampled with the joined concepts, the loss on one concept per step, cycling.
- `esd`: ESD (Gandikota et al. 2023) as the paper runs it — lr 1e-5, negative guidance η = 3
  ("ESD-x-3", "ESD-u-3"), constant lr, Adam (AdamW without decay), 1000 iterations in the paper's runs.

Gradient clipping (max norm 1.0, diffusers' training-script default) is not in the paper; the issue asks
for it and at lr 1e-5 it rarely binds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from erasure.errors import ErasureError


@dataclass(frozen=True)
class Settings:
    lr: float = 1e-5
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 1e-2
    eps: float = 1e-8
    lr_schedule: str = "cosine"          # any name diffusers.optimization.get_scheduler knows
    warmup_steps: int = 500
    grad_clip: float = 1.0               # max gradient norm; 0 = off
    batch_size: int = 1                  # z_T samples per iteration (one t and one c_p for all of them)
    sampling_steps: int = 50             # DDIM steps T of the z_t sampler
    guidance: float = 3.0                # s_g: CFG scale when sampling z_t
    ema_decay: float = 0.999             # SDD: m
    zt_concept: str = "random"           # SDD: c_p for z_t: "random" one concept per step | "joined"
    loss_concept: str = "joined"         # SDD: c_s in the loss: "joined" | "cycle" one concept per step
    negative_guidance: float = 3.0       # ESD: η
    retain_weight: float = 0.0           # sdd+retain: weight of the preservation term
    retain_prompts: tuple[str, ...] = field(default_factory=tuple)  # sdd+retain: prompts kept as the base

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


PRESETS: dict[str, dict] = {
    "paper": dict(lr=1e-5, betas=(0.9, 0.999), weight_decay=1e-2, lr_schedule="cosine", warmup_steps=500,
                  ema_decay=0.999, sampling_steps=50, guidance=3.0, zt_concept="random", loss_concept="joined"),
    "official": dict(lr=1e-5, betas=(0.9, 0.999), weight_decay=1e-4, lr_schedule="constant", warmup_steps=0,
                     ema_decay=0.999, sampling_steps=50, guidance=3.0, zt_concept="joined", loss_concept="cycle"),
    "esd": dict(lr=1e-5, betas=(0.9, 0.999), weight_decay=0.0, lr_schedule="constant", warmup_steps=0,
                sampling_steps=50, guidance=3.0, negative_guidance=3.0),
}

DEFAULT_PRESET = {"sdd": "paper", "sdd+retain": "paper", "esd-x": "esd", "esd-u": "esd"}

_CHOICES = {"zt_concept": ("random", "joined"), "loss_concept": ("joined", "cycle")}


def resolve_settings(method: str, preset: str | None, overrides: Mapping | None = None) -> Settings:
    """The preset's values, then `overrides` by name; an unknown name or preset is an ErasureError."""
    preset = preset or DEFAULT_PRESET.get(method)
    if preset not in PRESETS:
        raise ErasureError(f"preset {preset!r}: unknown (known: {', '.join(PRESETS)})")
    known = {f.name: f for f in dataclasses.fields(Settings)}
    values = dict(PRESETS[preset])
    for name, value in (overrides or {}).items():
        if name not in known:
            raise ErasureError(f"settings.{name}: unknown setting (known: {', '.join(known)})")
        values[name] = value
    for name in ("betas", "retain_prompts"):
        if name in values:
            values[name] = tuple(values[name])
    for name, choices in _CHOICES.items():
        if name in values and values[name] not in choices:
            raise ErasureError(f"settings.{name}: {values[name]!r} is not one of {', '.join(choices)}")
    settings = Settings(**values)
    if method == "sdd+retain" and (settings.retain_weight <= 0 or not settings.retain_prompts):
        raise ErasureError("settings: method sdd+retain needs retain_weight > 0 and retain_prompts")
    if method != "sdd+retain" and settings.retain_weight:
        raise ErasureError(f"settings.retain_weight: only method sdd+retain has a preservation term, not {method!r}")
    return settings


def fingerprint(data: Mapping) -> str:
    """A short hash of everything that determines a run's parameters (JSON, sorted keys)."""
    text = json.dumps(data, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
