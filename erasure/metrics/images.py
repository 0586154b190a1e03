"""A generated image set: its manifest joined with its prompt table, read in batches.

Scorers take the manifest's file list rather than globbing the image folder, so a stale PNG left from an
earlier run with more seeds can never leak into a score.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from erasure import loads
from erasure.errors import ErasureError
from erasure.loads import read_csv

MANIFEST_COLUMNS = ("prompt_id", "seed", "method", "run", "step", "sha256", "path")
PROMPT_COLUMNS = ("prompt_id", "prompt", "seed", "guidance")


def regenerate_fix(manifest: str | Path, image: str | Path) -> str:
    """The fix for one image of a generated set that is missing, unreadable or not the bytes its manifest
    records: delete it, the shard manifest that lists it and the set's manifest.csv, then rerun snakemake.
    The shard job (generate_shard, or generate_set for a set of one shard) then draws only the missing image
    (erasure.generate.shard: existing images of an unchanged fingerprint are kept), the same seeded image as
    before, and everything that read the set reruns. Rerunning a job without deleting the image would list
    the wrong bytes again under a new sha256. Reads the set's shard manifests only to name the shard."""
    manifest, name = Path(manifest), Path(image).name
    shard = None
    for candidate in sorted((manifest.parent / "shards").glob("[0-9][0-9][0-9][0-9].csv")):
        try:
            listed = pd.read_csv(candidate, usecols=["path"], dtype=str)["path"]
        except (OSError, ValueError):
            continue
        if any(Path(p).name == name for p in listed):
            shard = candidate
            break
    shards = str(shard) if shard else str(manifest.parent / "shards" / "*.csv")
    return f"regenerate it: delete it, {shards} and {manifest}, then rerun snakemake (only the deleted image is drawn again)"



@dataclass
class ImageSet:
    """Rows of `table` are images; `table["file"]` holds absolute paths.

    `table` keeps every manifest column plus the prompt table's columns (the prompt table's own `seed`,
    the evaluation seed, is kept as `prompt_seed`, since one prompt may be drawn under several seeds).
    """

    table: pd.DataFrame
    method: str = ""
    promptset: str = ""
    source: Path | None = None

    def __len__(self) -> int:
        return len(self.table)

    @property
    def files(self) -> list[Path]:
        return [Path(p) for p in self.table["file"]]

    @classmethod
    def from_manifest(cls, manifest: str | Path, prompts: str | Path | None = None) -> ImageSet:
        """The image set `manifest` lists, every image verified against the sha256 the manifest records (each
        file hashed once per process, erasure.loads.file_sha256) before any is scored: a PNG replaced by
        another valid image, or truncated, is one ErasureError line naming it, the manifest and how to
        regenerate it (regenerate_fix)."""
        manifest = Path(manifest)
        if not manifest.is_file():
            raise ErasureError(f"{manifest}: manifest not found; run the generate rule for this image set")
        table = read_csv(manifest, what="manifest", fix="delete it and rerun the rule that wrote it (generate_set, or merge_manifest for a set of several shards)",
                         dtype={"prompt_id": str, "sha256": str, "path": str})
        missing = [c for c in MANIFEST_COLUMNS if c not in table.columns]
        if missing:
            raise ErasureError(f"{manifest}: manifest lacks columns {', '.join(missing)}; regenerate it")
        if table.empty:
            raise ErasureError(f"{manifest}: manifest lists no images; check the prompt set and generate rule")
        table["seed"] = table["seed"].astype(int)
        table["file"] = [str((manifest.parent / p).resolve()) for p in table["path"]]
        absent = [p for p, f in zip(table["path"], table["file"]) if not Path(f).is_file()]
        if absent:
            raise ErasureError(f"{manifest}: {len(absent)} listed image(s) missing, e.g. {manifest.parent / absent[0]}; "
                               f"{regenerate_fix(manifest, absent[0])}")
        verify_images(manifest, table)
        if prompts is not None:
            table = join_prompts(table, prompts)
        method = str(table["method"].iloc[0]) if "method" in table else manifest.parent.parent.name
        return cls(table=table, method=method, promptset=manifest.parent.name, source=manifest)

    @classmethod
    def from_folder(cls, folder: str | Path) -> ImageSet:
        """A reference folder of real images (no manifest), recursively, in sorted order."""
        folder = Path(folder)
        if not folder.is_dir():
            raise ErasureError(f"{folder}: reference image folder not found; set its path in the config")
        files = folder_images(folder)
        if not files:
            raise ErasureError(f"{folder}: no images ({', '.join(sorted(image_extensions()))}) in the reference folder "
                               "(hidden files and folders are skipped, as clean-fid skips them)")
        table = pd.DataFrame({"prompt_id": [f.stem for f in files], "seed": 0, "file": [str(f) for f in files]})
        return cls(table=table, method="reference", promptset=folder.name, source=folder)

    def load(self, index: int) -> np.ndarray:
        return load_rgb(self.table["file"].iloc[index])

    def iter_uint8(self, batch_size: int = 16) -> Iterator[tuple[pd.DataFrame, list[np.ndarray]]]:
        """(rows, [H, W, 3] uint8 RGB arrays); sizes may differ within a batch."""
        for start in range(0, len(self), batch_size):
            rows = self.table.iloc[start : start + batch_size]
            yield rows, [load_rgb(f) for f in rows["file"]]

    def iter_tensor(
        self, batch_size: int = 16, size: int | None = None
    ) -> Iterator[tuple[pd.DataFrame, torch.Tensor]]:
        """(rows, float [B, 3, H, W] in [0, 1]); `size` resizes (bicubic) so a batch stacks."""
        for rows, arrays in self.iter_uint8(batch_size):
            yield rows, to_tensor(arrays, size=size)


def verify_images(manifest: Path, table: pd.DataFrame) -> None:
    """Raise ErasureError for the first image of `table` (columns path, file, sha256) whose bytes are not the
    ones `manifest` records, and register every image's fix for later parse errors (`load_rgb`)."""
    for path, file, digest in zip(table["path"], table["file"], table["sha256"]):
        if not isinstance(digest, str) or len(digest) != 64:
            raise ErasureError(f"{manifest}: no sha256 recorded for {path}; delete the manifest and rerun snakemake")
        if loads.file_sha256(file) != digest.lower():
            loads.verify_sha256(manifest.parent / path, digest, what="generated image", record=manifest,
                                fix=regenerate_fix(manifest, path))
        _GENERATED[file] = (manifest, path)


# {absolute image file: (manifest, path in it)} of the generated images this process verified: a parse error
# in one of them gets the regenerate fix, not the reference folder's
_GENERATED: dict[str, tuple[Path, str]] = {}
REFERENCE_FIX = "remove it from the reference folder (or replace it with a readable copy)"


def join_prompts(table: pd.DataFrame, prompts: str | Path | pd.DataFrame) -> pd.DataFrame:
    if isinstance(prompts, pd.DataFrame):
        prompt_table, where = prompts.copy(), "prompt table"
    else:
        where = str(prompts)
        if not Path(prompts).is_file():
            raise ErasureError(f"{prompts}: prompt table not found; run the prompts rule")
        prompt_table = read_csv(prompts, what="prompt table", fix="rerun the prompts rule", dtype={"prompt_id": str})
    missing = [c for c in PROMPT_COLUMNS if c not in prompt_table.columns]
    if missing:
        raise ErasureError(f"{where}: prompt table lacks columns {', '.join(missing)}")
    prompt_table["prompt_id"] = prompt_table["prompt_id"].astype(str)
    prompt_table = prompt_table.rename(columns={"seed": "prompt_seed"})
    # Manifest columns win on a name clash: they describe the image actually on disk.
    prompt_table = prompt_table.drop(columns=[c for c in prompt_table.columns if c in table.columns and c != "prompt_id"])
    merged = table.merge(prompt_table, on="prompt_id", how="left", validate="many_to_one")
    unknown = merged["prompt"].isna()
    if unknown.any():
        raise ErasureError(
            f"{where}: {int(unknown.sum())} manifest prompt_id(s) not in the prompt table, "
            f"e.g. {merged.loc[unknown, 'prompt_id'].iloc[0]}; regenerate with this prompt set"
        )
    return merged


def image_extensions() -> frozenset[str]:
    """clean-fid's own extension list (`cleanfid.utils.EXTENSIONS`: case-sensitive, `npy` included)."""
    from cleanfid.utils import EXTENSIONS

    return frozenset(EXTENSIONS)


def folder_images(folder: str | Path) -> list[Path]:
    """The images of a folder exactly as `cleanfid.fid.get_folder_features` lists them, so an FID computed
    here counts the images clean-fid's `compute_fid` counts: a recursive `glob("**/*.{ext}")` for each of
    its extensions, which skips hidden files and hidden folders (`.ipynb_checkpoints/`, `.DS_Store`,
    `._x.png`), sorted by path string. Unlike clean-fid, a directory named like an image is not listed.
    Every place that lists an image folder calls this."""
    from glob import escape, glob

    root = escape(str(folder))
    found = {f for ext in image_extensions() for f in glob(os.path.join(root, f"**/*.{ext}"), recursive=True)}
    return [Path(f) for f in sorted(found) if os.path.isfile(f)]


def load_rgb(path: str | Path) -> np.ndarray:
    """uint8 [H, W, 3]; an unreadable file is one ErasureError line naming it (erasure.loads.load_rgb) and the
    fix that fits where it came from: a generated image (verified by `ImageSet.from_manifest`) is
    regenerated, a reference folder's image is removed from the folder."""
    return loads.load_rgb(path, fix=image_fix(path))


def image_fix(path: str | Path) -> str:
    """The fix for an unreadable image `path`: regenerate it if a manifest lists it, else the reference folder's."""
    generated = _GENERATED.get(str(Path(path).resolve()))
    return regenerate_fix(*generated) if generated else REFERENCE_FIX


def to_tensor(arrays: list[np.ndarray], size: int | None = None) -> torch.Tensor:
    if size is not None:
        arrays = [
            a if a.shape[:2] == (size, size)
            else np.asarray(Image.fromarray(a).resize((size, size), Image.BICUBIC))
            for a in arrays
        ]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ErasureError(f"images: mixed sizes {sorted(shapes)} in one batch; pass size= to resize")
    stacked = np.stack(arrays).astype(np.float32) / 255.0
    return torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous()


def pair_on_seed(images: ImageSet, reference: ImageSet) -> pd.DataFrame:
    """Join a method's images with the reference method's same-(prompt_id, seed) images.

    Returns `images.table` plus `reference_file`. Paired metrics (LPIPS, feature distance) are only
    meaningful when both were drawn from the same initial latent, so a missing partner is an error.
    """
    left = images.table.copy()
    right = reference.table[["prompt_id", "seed", "file"]].rename(columns={"file": "reference_file"})
    right = right.astype({"prompt_id": str})
    merged = left.merge(right, on=["prompt_id", "seed"], how="left", validate="one_to_one")
    lost = merged["reference_file"].isna()
    if lost.any():
        row = merged.loc[lost].iloc[0]
        raise ErasureError(
            f"{reference.source}: no reference image for {int(lost.sum())} of {len(merged)} "
            f"(prompt_id, seed) pairs, e.g. ({row['prompt_id']}, {row['seed']}); generate the reference "
            "method on the same prompt set and seeds"
        )
    return merged


def paired_frame(pairs: pd.DataFrame, values, *, backbone: str, label: str) -> pd.DataFrame:
    """Per-image rows of a paired metric (LPIPS, paired distance): one value per same-(prompt_id, seed) pair."""
    return pd.DataFrame(
        {
            "prompt_id": pairs["prompt_id"].to_numpy(),
            "seed": pairs["seed"].astype(int).to_numpy(),
            "path": pairs.get("path", pairs["file"]).to_numpy(),
            "reference_path": pairs["reference_file"].to_numpy(),
            "value": np.asarray(values, dtype=float),
            "backbone": backbone,
            "label": label,
        }
    )
