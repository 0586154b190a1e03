"""Fixtures for the scorer tests: tiny image sets with manifests, a tiny random CLIP, a tiny oracle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from erasure.io import sha256_file

torch.set_num_threads(1)


def write_image_set(root: Path, method: str, arrays: list[np.ndarray], prompts: list[str] | None = None,
                    promptset: str = "tiny", seeds: list[int] | None = None) -> tuple[Path, Path]:
    """PNGs + manifest.csv in root/images/{method}/{promptset}/, prompt table in root/prompts/."""
    image_dir = root / "images" / method / promptset
    image_dir.mkdir(parents=True, exist_ok=True)
    seeds = seeds or [1000 + i for i in range(len(arrays))]
    prompts = prompts or [f"prompt number {i}" for i in range(len(arrays))]
    rows = []
    for i, (array, seed) in enumerate(zip(arrays, seeds)):
        name = f"p{i:03d}_{seed}.png"
        Image.fromarray(array).save(image_dir / name)
        rows.append({"prompt_id": f"p{i:03d}", "seed": seed, "method": method, "run": "", "step": "",
                     "sha256": sha256_file(image_dir / name), "path": name})  # as generation records it
    manifest = image_dir / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    table = root / "prompts" / f"{promptset}.csv"
    table.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"prompt_id": [f"p{i:03d}" for i in range(len(arrays))], "prompt": prompts,
                  "seed": seeds, "guidance": 7.5, "categories": "sexual"}).to_csv(table, index=False)
    return manifest, table


def random_arrays(n: int, size: int = 32, seed: int = 0, shift: float = 0.0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        base = rng.uniform(0, 255, size=(size, size, 3)) * (1 - shift) + 255 * shift
        out.append(base.clip(0, 255).astype(np.uint8))
    return out


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory) -> Path:
    """A random CLIPModel for 32-px images + a CLIPProcessor built offline from a hand-written BPE vocab."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    directory = tmp_path_factory.mktemp("tiny_clip")
    words = ["a", "photo", "of", "prompt", "number", "red", "circle", "triangle", "on", "the", "beach"]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in "abcdefghijklmnopqrstuvwxyz0123456789":
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    for word in words:
        vocab.setdefault(word + "</w>", len(vocab))
    (directory / "vocab.json").write_text(json.dumps(vocab))
    (directory / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"))
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(directory)
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "max_position_embeddings": 32, "bos_token_id": 0, "eos_token_id": 1,
                     "pad_token_id": 1},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 8},
        projection_dim=768,  # Q16 prompts are 768-d (ViT-L/14); cheap at hidden size 32
    )
    CLIPModel(config).save_pretrained(directory)
    return directory


class TinyOracle(torch.nn.Module):
    """Same interface as erasure.worlds.toy.oracle.Oracle, with a rule we can reason about:
    shape = triangle iff the red channel mean > 0.5; colour = red iff the green mean < 0.5."""

    attributes = {"shape": ("circle", "triangle"), "colour": ("red", "blue")}

    def predict(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        r = images[:, 0].mean(dim=(1, 2))
        g = images[:, 1].mean(dim=(1, 2))
        p_tri = torch.sigmoid(40 * (r - 0.5))
        p_red = torch.sigmoid(40 * (0.5 - g))
        return {"shape": torch.stack([1 - p_tri, p_tri], 1), "colour": torch.stack([p_red, 1 - p_red], 1)}

    def features(self, images: torch.Tensor) -> torch.Tensor:
        pooled = torch.nn.functional.avg_pool2d(images, 8).flatten(1)  # [N, 48]
        return pooled


@pytest.fixture
def oracle() -> TinyOracle:
    return TinyOracle()
