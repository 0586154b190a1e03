"""CLIP score: one implementation for every world (openai/clip-vit-large-patch14, or a CLIP shipped in a world's base).

Conventions (written into every row's `convention` column):
- `cosine` (default): raw cosine between the image and text embeddings. This is the scale of the SDD
  paper's CLIP column (~0.27 for SD on COCO).
- `hessel`: Hessel et al. (2021) CLIP-S = 2.5 * max(cosine, 0) (papers often print it x100).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import torch

from erasure.metrics.backbones import resolve_source
from erasure.weights import CLIP_HUB_ID  # one definition, shared with the DAG inputs

CONVENTIONS = ("cosine", "hessel")
HESSEL_W = 2.5


def _embedding(output) -> torch.Tensor:
    # transformers 5 returns a model output whose pooler_output is the projected embedding; 4.x a tensor.
    return output if isinstance(output, torch.Tensor) else output.pooler_output


class ClipEmbedder:
    """CLIPModel + CLIPProcessor from a hub id, a local save_pretrained directory, or the HF cache."""

    def __init__(self, source: str | os.PathLike = CLIP_HUB_ID, *, key: str = "settings.clip", device="cpu"):
        from transformers import CLIPModel, CLIPProcessor

        from erasure.loads import from_pretrained_checked

        self.source = str(source)
        directory = resolve_source(
            source, what="CLIP model", key=key, required=("config.json",)
        )
        fix = f"copy the model again, or point {key} at a whole save_pretrained directory"
        self.model = from_pretrained_checked(CLIPModel.from_pretrained, directory, what="CLIP model", fix=fix)
        self.model = self.model.to(device).eval()
        self.processor = CLIPProcessor.from_pretrained(directory)
        self.device = torch.device(device)
        self.max_text_len = int(self.model.config.text_config.max_position_embeddings)

    @property
    def image_size(self) -> int:
        return int(self.model.config.vision_config.image_size)

    @property
    def is_toy(self) -> bool:
        # The real ViT-L/14 sees 224 px; anything else is a stand-in whose numbers must never be read as CLIP's.
        return self.image_size != 224

    @torch.no_grad()
    def image_embeds(self, images: list[np.ndarray]) -> torch.Tensor:
        """Unit-norm image embeddings [N, D] for RGB uint8 arrays (processor resizes and crops)."""
        pixels = self.processor(images=list(images), return_tensors="pt")["pixel_values"].to(self.device)
        return torch.nn.functional.normalize(_embedding(self.model.get_image_features(pixel_values=pixels)).float(), dim=-1)

    @torch.no_grad()
    def text_embeds(self, texts: list[str]) -> torch.Tensor:
        tokens = self.processor(
            text=list(texts), return_tensors="pt", padding=True, truncation=True, max_length=self.max_text_len
        )
        tokens = {k: v.to(self.device) for k, v in tokens.items() if k in ("input_ids", "attention_mask")}
        return torch.nn.functional.normalize(_embedding(self.model.get_text_features(**tokens)).float(), dim=-1)


def apply_convention(cosine: np.ndarray, convention: str) -> np.ndarray:
    if convention == "cosine":
        return cosine
    if convention == "hessel":
        return HESSEL_W * np.clip(cosine, 0.0, None)
    from erasure.errors import ErasureError

    raise ErasureError(f"settings.convention: unknown CLIP-score convention '{convention}'; use one of {CONVENTIONS}")


def score_clip(
    images, *, source: str = CLIP_HUB_ID, convention: str = "cosine", batch_size: int = 16,
    scores_apart: bool = False, embedder: ClipEmbedder | None = None, device="cpu",
) -> pd.DataFrame:
    """`scores_apart`: the scoring world's numbers are its own (erasure.worlds: World.scores_apart, which the
    caller, erasure.scoring, looks up: metrics sit below the worlds)."""
    apply_convention(np.zeros(1), convention)
    embedder = embedder or ClipEmbedder(source, device=device)
    # a small CLIP, or a world whose numbers are its own: never labelled "clip"
    apart = embedder.is_toy or scores_apart
    rows = []
    for batch, arrays in images.iter_uint8(batch_size):
        cos = (embedder.image_embeds(arrays) * embedder.text_embeds(list(batch["prompt"]))).sum(-1).cpu().numpy()
        for (_, row), c, v in zip(batch.iterrows(), cos, apply_convention(cos, convention)):
            rows.append(
                {
                    "prompt_id": row["prompt_id"],
                    "seed": int(row["seed"]),
                    "path": row.get("path", row["file"]),
                    "value": float(v),
                    "cosine": float(c),
                    "convention": convention,
                    "backbone": embedder.source,
                    "label": "toy-clip" if apart else "clip",
                }
            )
    return pd.DataFrame(rows)
