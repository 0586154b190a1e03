"""Sampling settings from the config (no torch import: rules/generate.smk reads this while planning)."""

from __future__ import annotations

from collections.abc import Mapping

from erasure.errors import ErasureError

# Deterministic given the initial latents (no per-step noise), so latents= alone fixes the image.
SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "pndm": "PNDMScheduler",
    "euler": "EulerDiscreteScheduler",
    "lms": "LMSDiscreteScheduler",
    "dpm": "DPMSolverMultistepScheduler",  # diffusers' defaults: DPM-Solver++ (2M), order 2
    "unipc": "UniPCMultistepScheduler",  # UniPC (bh2), diffusers' defaults
}
SAMPLING_KEYS = ("scheduler", "steps", "guidance")


def resolve_sampling(generation: Mapping, promptset_spec: Mapping) -> dict:
    """generation.sampling, overridden key by key by the prompt set's own `sampling`."""
    sampling = {**generation.get("sampling", {}), **promptset_spec.get("sampling", {})}
    missing = [k for k in SAMPLING_KEYS if k not in sampling]
    if missing:
        raise ErasureError(f"generation.sampling: missing {missing[0]!r} (needs {', '.join(SAMPLING_KEYS)})")
    if sampling["scheduler"] not in SCHEDULERS:
        raise ErasureError(f"generation.sampling.scheduler: unknown {sampling['scheduler']!r} (known: {', '.join(SCHEDULERS)})")
    return {"scheduler": str(sampling["scheduler"]), "steps": int(sampling["steps"]), "guidance": float(sampling["guidance"])}
