"""The normalised prompt table every prompt set becomes, and its validation.

One row per prompt: `prompt_id, prompt, seed, guidance` + metadata columns (I2P categories, a vocabulary's attributes,
case_number, ...). `seed` is the prompt's evaluation seed; a set with k images per prompt draws the k
image seeds `image_seeds(seed, k)` from it. Scorers join manifests to this table on `prompt_id`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from erasure.errors import ErasureError
from erasure.io import atomic_path
from erasure.loads import read_csv

COLUMNS = ("prompt_id", "prompt", "seed", "guidance")
PROMPT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*$")  # safe in `{prompt_id}_{seed}.png`


def image_seeds(seed: int, k: int) -> list[int]:
    """The k per-image seeds of a prompt whose evaluation seed is `seed`: seed, seed+1, ..., seed+k-1.

    k = 1 keeps the upstream evaluation seed itself (COCO-30k, artists)."""
    return [int(seed) + j for j in range(int(k))]


def require_columns(frame: pd.DataFrame, columns, where: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns)) or "none"
        raise ErasureError(f"{where}: missing column {missing[0]!r} (columns found: {have}); is this the right file?")


def validate_table(table: pd.DataFrame, where: str) -> pd.DataFrame:
    """Check a normalised table; return it with canonical column order and dtypes."""
    require_columns(table, COLUMNS, where)
    if len(table) == 0:
        raise ErasureError(f"{where}: no prompts")
    prompts = table["prompt"]
    empty = prompts.isna() | (prompts.astype(str).str.strip() == "")
    if empty.any():
        row = int(empty.to_numpy().nonzero()[0][0])
        raise ErasureError(f"{where}: row {row + 1}: empty prompt (prompt_id {table['prompt_id'].iloc[row]!r})")
    ids = table["prompt_id"].astype(str)
    bad = [i for i in ids if not PROMPT_ID.match(i)]
    if bad:
        raise ErasureError(f"{where}: prompt_id {bad[0]!r} is not of the form [A-Za-z0-9][A-Za-z0-9.-]*")
    duplicated = ids[ids.duplicated()]
    if len(duplicated):
        raise ErasureError(f"{where}: duplicate prompt_id {duplicated.iloc[0]!r}")
    for column in ("seed", "guidance"):
        values = pd.to_numeric(table[column], errors="coerce")
        if values.isna().any():
            row = int(values.isna().to_numpy().nonzero()[0][0])
            raise ErasureError(f"{where}: row {row + 1}: column {column!r} value {table[column].iloc[row]!r} is not a number")
    out = table.copy()
    out["prompt_id"] = ids
    out["prompt"] = prompts.astype(str).str.strip()
    out["seed"] = pd.to_numeric(out["seed"]).astype("int64")
    out["guidance"] = pd.to_numeric(out["guidance"]).astype(float)
    return out[list(COLUMNS) + [c for c in out.columns if c not in COLUMNS]].reset_index(drop=True)


def check_counts(table: pd.DataFrame, *, n_prompts: int, where: str) -> None:
    if len(table) != int(n_prompts):
        raise ErasureError(
            f"{where}: built {len(table)} prompts but the config declares n_prompts: {n_prompts}; "
            "fix n_prompts (it plans the shards) or the source"
        )


def write_table(table: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def read_table(path: str | Path) -> pd.DataFrame:
    """A normalised prompt table written by `write_table` (validated again on the way in)."""
    path = Path(path)
    if not path.is_file():
        raise ErasureError(f"{path}: prompt table not found; run the prompts rule")
    table = read_csv(path, what="prompt table", fix="rerun the prompts rule",
                     dtype={"prompt_id": str, "prompt": str}, keep_default_na=False)
    return validate_table(table, str(path))
