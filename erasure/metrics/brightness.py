"""SCRATCH (issue 18's closing note: which files a new metric touches): mean pixel brightness per image."""

from __future__ import annotations

import numpy as np
import pandas as pd


def score(images, *, reference, settings, threads, device) -> pd.DataFrame:
    """value: the image's mean RGB value in [0, 255] (float); one row per image."""
    rows = []
    for batch, arrays in images.iter_uint8(int(settings.get("batch_size", 16))):
        for (_, row), array in zip(batch.iterrows(), arrays):
            rows.append({"prompt_id": row["prompt_id"], "seed": int(row["seed"]), "value": float(np.mean(array)),
                         "backbone": "none", "label": "brightness"})
    return pd.DataFrame(rows)
