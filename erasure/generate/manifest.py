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
    _check_same_hardware(shards, out)
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False)
    return frame


def _check_same_hardware(shards: Sequence[str | Path], out: str | Path) -> None:
    """Shards of one set drawn on different GPU models or torch / diffusers / CUDA versions (their fingerprints'
    `hardware`, erasure.generate.shard) are not one draw: refuse to merge them, naming the first that differs."""
    import json

    seen: dict[str, str] = {}
    for shard in shards:
        record = Path(shard).with_suffix(".fingerprint.json")
        try:
            hardware = json.loads(record.read_text()).get("hardware")
        except (OSError, ValueError, AttributeError):
            continue  # no fingerprint (an older shard, a test's hand-made manifest): nothing to compare
        key = json.dumps(hardware, sort_keys=True)
        if seen and key not in seen:
            first, other = next(iter(seen.items()))
            raise ErasureError(f"{out}: shard {Path(shard).name} was drawn on {key}, shard {other} on {first}; "
                               "pin one GPU model for generate_shard (e.g. --set-resources with a SLURM constraint) "
                               f"and delete the odd shards' manifests ({Path(shard).parent}) to redraw them")
        seen.setdefault(key, Path(shard).name)

