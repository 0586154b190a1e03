"""Models the benchmarks run on: the toy base (shipped, or a micro base built on demand) and the Stable
Diffusion v1.4 architecture built from its configs with RANDOM weights (no download; speed and memory
depend on the architecture, not the weights).

`arch="sd14"` is SD v1.4 exactly (UNet 860M, VAE 84M, CLIP ViT-L/14 text tower 123M);
`arch="tiny"` keeps every block type of SD v1.4 at toy widths, so the GPU code paths can be tested on a CPU
in seconds (BENCH_REDUCED=1). Figures from `tiny` mean nothing and are labelled as such.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]

# The architectures and random builders live in the library (the SD-world stand-ins use them too).
from erasure.standins.architectures import (  # noqa: E402,F401 - re-exported for the benchmarks
    ARCHS, SD14_SCHEDULER, SD14_TEXT, SD14_UNET, SD14_VAE, TINY_TEXT, TINY_UNET, TINY_VAE, random_pipeline,
    random_unet, write_byte_tokenizer,
)


def micro_base_dir() -> Path:
    """A micro toy base (erasure.worlds.toy.build --recipe micro), built once into the temp dir."""
    root = Path(os.environ.get("BENCH_CACHE", Path(tempfile.gettempdir()) / "erasure-bench")) / "micro"
    if not (root / "pipeline" / "model_index.json").is_file():
        subprocess.run([sys.executable, "-m", "erasure.worlds.toy.build", "--out", str(root), "--recipe", "micro",
                        "--threads", str(max(1, torch.get_num_threads()))], check=True, cwd=REPO,
                       stdout=subprocess.DEVNULL)
    return root


def toy_base_dir(choice: str = "auto") -> tuple[Path, str]:
    """(base directory, label): `shipped`, `micro`, a path, or `auto` (shipped if present, else micro)."""
    from erasure.worlds.toy.assets import SHIPPED_BASE

    if choice in ("auto", "shipped"):
        if (SHIPPED_BASE / "pipeline" / "model_index.json").is_file():
            return SHIPPED_BASE, "toy:shipped"
        if choice == "shipped":
            raise SystemExit(f"{SHIPPED_BASE}: the shipped toy base is not there yet; use --base micro")
        return micro_base_dir(), "toy micro base (random-ish: 6 training steps; speed only)"
    if choice == "micro":
        return micro_base_dir(), "toy micro base (random-ish: 6 training steps; speed only)"
    return Path(choice), f"toy base at {choice}"


def toy_pipeline(base_dir: Path, device="cpu"):
    from erasure.models import load_base_pipeline

    return load_base_pipeline(str(base_dir / "pipeline"), device=device)


def toy_run_settings(run: str = "sdd-triangle") -> dict:
    """The toy config's own settings for an SDD run (config/config.yaml), so the toy benchmark is the toy run."""
    import yaml

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    spec = config["runs"][run]
    return {"preset": spec.get("preset", "paper"), "concepts": spec["concepts"], "settings": dict(spec.get("settings", {}))}
