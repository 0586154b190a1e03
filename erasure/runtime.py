"""Process-wide runtime settings that every entry point applies first."""

from __future__ import annotations

import os

import torch


def set_threads(n: int) -> None:
    """Use exactly `n` CPU threads, so that parallel Snakemake jobs do not thrash two cores."""
    n = max(1, int(n))
    os.environ["OMP_NUM_THREADS"] = str(n)
    torch.set_num_threads(n)


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        from erasure.errors import ErasureError

        raise ErasureError(f"device: {name!r} but this machine has no usable CUDA GPU; set device: auto or cpu")
    return torch.device(name)
