"""Preflight (erasure.preflight): one line per item the DAG reads from outside itself, each missing one
with the command that provides it, in seconds and without a GPU; GPU jobs wait for it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _preflight(configfile: str, cwd: Path, env: dict) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "erasure.preflight", "--configfile", str(REPO / configfile)],
                         cwd=cwd, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(REPO), **env})
    return out, time.monotonic() - start


def test_paper_preflight_names_every_missing_item_and_its_command(tmp_path):
    """On a machine with nothing downloaded: every item is one line; each missing one says how to get it."""
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "TORCH_HOME": str(tmp_path / "torch"),
           "CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"}
    for name in ("ERASURE_ALEXNET", "ERASURE_INCEPTION", "ERASURE_CLIP", "ERASURE_Q16", "ERASURE_NUDENET"):
        env[name] = ""
    out, seconds = _preflight("config/paper.yaml", tmp_path, env)
    lines = out.stdout.splitlines()
    assert out.returncode == 1, out.stderr[-2000:]
    missing = {line.removeprefix("MISSING").split(": ", 1)[0].strip(): line for line in lines
               if line.startswith("MISSING")}
    assert {"base model", "CLIP (harm, clip)", "Q16 prompts (harm)", "Inception (fid)", "AlexNet (lpips)",
            "FID reference (fid)", "prompt set coco30k", "prompt set i2p", "prompt set artists",
            "prompt set artists-niche"} <= set(missing), out.stdout
    assert [line for line in lines if "GPU (cluster.gpus)" in line]  # ok only where torch or SLURM offers one
    assert all(" -> " in line and line.split(" -> ", 1)[1].strip() for line in missing.values())
    assert "hf download CompVis/stable-diffusion-v1-4" in missing["base model"]
    assert "alexnet-owt-7be5be79.pth" in missing["AlexNet (lpips)"]
    assert "results/sd/prompts/sources/coco30k.csv" in missing["prompt set coco30k"]
    assert any(line.startswith("ok       prompt set country-body") for line in lines)  # shipped, 50 rows
    assert any(line.startswith("ok       NudeNet") for line in lines)
    assert lines[-1].startswith("preflight: ") and seconds < 60


def test_the_gate_comes_before_every_weight_loading_job_of_the_sd_world(tmp_path):
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                          "--configfile", str(REPO / "config/paper.yaml")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    blocks = out.stdout.split("\nrule ")[1:]
    gated = {"erase", "generate_shard", "generate_set", "score_nude", "score_clip", "score_lpips", "score_fid", "score_harm"}
    seen = set()
    for block in blocks:
        rule = block.split(":", 1)[0]
        if rule in gated:
            seen.add(rule)
            assert "results/sd/preflight.txt" in block.split("output:", 1)[0], block[:500]
    assert seen == gated
