"""An image set's manifest.csv, merged from its shard manifests.

Kept apart from the generation code so that the merge job imports pandas only, not torch and diffusers
(seconds per job, and a workflow has one merge job per image set)."""

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from erasure.errors import ErasureError
from erasure.io import atomic_path
from erasure.loads import read_csv

# batch_size: the (padded) batch each image was drawn in; it changes some pixels by one grey level (BLAS
# results depend on the batch shape), so it is part of what an image is
MANIFEST_COLUMNS = ("prompt_id", "seed", "method", "run", "step", "sha256", "path", "batch_size")


def merge_manifests(shards: Sequence[str | Path], out: str | Path, *, expected: int | None = None) -> pd.DataFrame:
    """Concatenate shard manifests (in shard order) into the image set's manifest.csv."""
    frames = [read_csv(s, what="shard manifest", fix="delete it and rerun its generate_shard job",
                       dtype={"prompt_id": str, "sha256": str, "path": str, "run": str}, keep_default_na=False)
              for s in shards]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(MANIFEST_COLUMNS))
    duplicated = frame.duplicated(["prompt_id", "seed"])
    if duplicated.any():
        row = frame[duplicated].iloc[0]
        raise ErasureError(f"{out}: image {row.prompt_id}_{row.seed} listed by two shards; rerun the shards")
    if "batch_size" in frame.columns and frame["batch_size"].nunique() > 1:
        sizes = sorted(frame["batch_size"].unique().tolist())
        raise ErasureError(f"{out}: shards were drawn with different batch sizes {sizes}, which changes pixels; "
                           "rerun the shards drawn with the old generation.batch_size")
    if expected is not None and len(frame) != int(expected):
        raise ErasureError(f"{out}: shards list {len(frame)} images, expected {expected}; check n_prompts / images_per_prompt")
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False)
    return frame
