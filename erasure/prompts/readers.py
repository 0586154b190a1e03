"""Readers for the upstream prompt files, each returning a normalised table (see `table.py`).

Formats (checked by hand against the upstream files):
- country-body: `country_body.txt`, one "<country> body" per line (we ship it in config/prompts/).
- coco30k: `coco_30k.csv` (ESD / safe-diffusion): image_id,source,prompt,evaluation_seed; captions may
  span lines inside quotes.
- i2p: AIML-TUDA/i2p `i2p_benchmark.csv`: prompt, categories, hard, inappropriate_percentage,
  nudity_percentage, lexica_url, sd_seed, sd_guidance_scale, sd_image_width, sd_image_height, sd_model.
- artists: ESD's `famous_art_prompts.csv` / `big_artist_prompts.csv` / `short_niche_art_prompts.csv`: a leading
  unnamed index column, case_number, prompt, evaluation_seed (and `artist` in the last two).
- unlearndiffatk-nudity: OPTML-Group/Diffusion-MU-Attack `prompts/nudity.csv` (UnlearnDiffAtk's 142 I2P-derived
  prompts): an unnamed index, prompt, categories, hard, …, lexica_url, evaluation_seed, evaluation_guidance,
  sd_image_width, sd_image_height, sd_model, case_number.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from erasure.errors import ErasureError
from erasure.loads import read_csv
from erasure.prompts.table import require_columns


def _read_csv(path: Path) -> pd.DataFrame:
    if not Path(path).is_file():
        raise ErasureError(f"{path}: prompt file not found")
    # dtype=str: ids such as COCO's 000000203564 keep their leading zeros
    frame = read_csv(path, what="prompt file (CSV)", fix="fix the file or point prompt_sets.<set>.path elsewhere",
                     dtype=str, keep_default_na=False)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _int_column(frame: pd.DataFrame, column: str, where: Path) -> pd.Series:
    values = pd.to_numeric(frame[column].str.strip(), errors="coerce")
    if values.isna().any():
        row = int(values.isna().to_numpy().nonzero()[0][0])
        raise ErasureError(f"{where}: row {row + 1}: column {column!r} value {frame[column].iloc[row]!r} is not a number")
    return values.astype("int64")


def read_country_body(path: Path, *, seed: int, guidance: float) -> pd.DataFrame:
    """"<country> body" lines; every prompt gets evaluation seed `seed` (its images: seed, seed+1, ...)."""
    if not Path(path).is_file():
        raise ErasureError(f"{path}: prompt file not found")
    lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    prompts = [line for line in lines if line and not line.startswith("#")]
    if not prompts:
        raise ErasureError(f"{path}: no prompts (expected one '<country> body' per line)")
    countries = [p[: -len(" body")] if p.endswith(" body") else p for p in prompts]
    return pd.DataFrame({
        "prompt_id": [f"country-{i:02d}" for i in range(len(prompts))],
        "prompt": prompts,
        "seed": int(seed),
        "guidance": float(guidance),
        "country": countries,
    })


def read_coco(path: Path, *, seed: int, guidance: float) -> pd.DataFrame:
    frame = _read_csv(path)
    require_columns(frame, ("image_id", "prompt", "evaluation_seed"), str(path))
    return pd.DataFrame({
        # row number, not image_id: COCO ids repeat when one image has several captions
        "prompt_id": [f"coco-{i:05d}" for i in range(len(frame))],
        "prompt": frame["prompt"].str.replace(r"\s+", " ", regex=True).str.strip(),
        "seed": _int_column(frame, "evaluation_seed", path),
        "guidance": float(guidance),
        "image_id": frame["image_id"],
    })


I2P_COLUMNS = ("prompt", "categories", "hard", "inappropriate_percentage", "nudity_percentage", "lexica_url",
               "sd_seed", "sd_guidance_scale", "sd_image_width", "sd_image_height", "sd_model")


def read_i2p(path: Path, *, seed: int, guidance: float) -> pd.DataFrame:
    """I2P; `seed` is the prompt's `sd_seed`, CFG is the prompt set's (the source's own scale is kept as
    `sd_guidance_scale`, as metadata)."""
    frame = _read_csv(path)
    require_columns(frame, ("prompt", "categories", "sd_seed"), str(path))
    out = pd.DataFrame({
        "prompt_id": [f"i2p-{i:04d}" for i in range(len(frame))],
        "prompt": frame["prompt"].str.replace(r"\s+", " ", regex=True).str.strip(),
        "seed": _int_column(frame, "sd_seed", path),
        "guidance": float(guidance),
    })
    for column in I2P_COLUMNS[1:]:
        if column in frame.columns and column != "sd_seed":
            out[column] = frame[column].to_numpy()
    return out


def read_artists(path: Path, *, seed: int, guidance: float, artists=()) -> pd.DataFrame:
    """ESD's artist prompt files (`famous_art_prompts.csv`, `big_artist_prompts.csv`,
    `short_niche_art_prompts.csv`). `artists`: keep only rows whose `artist` column names one of them (the
    last two files carry that column; Fig. 2's five artists come from both)."""
    frame = _read_csv(path)
    frame = frame.drop(columns=[c for c in frame.columns if c == "" or c.startswith("Unnamed:")])
    require_columns(frame, ("case_number", "prompt", "evaluation_seed"), str(path))
    if artists:
        require_columns(frame, ("artist",), str(path))
        named = frame["artist"].str.strip()
        absent = [a for a in artists if not (named == a).any()]
        if absent:
            raise ErasureError(f"{path}: no prompt of artist {absent[0]!r} (column 'artist' has: "
                               f"{', '.join(sorted(named.unique()))})")
        frame = frame[named.isin(list(artists))].reset_index(drop=True)
    case = _int_column(frame, "case_number", path)
    out = pd.DataFrame({
        "prompt_id": [f"art-{c:03d}" for c in case],
        "prompt": frame["prompt"].str.strip(),
        "seed": _int_column(frame, "evaluation_seed", path),
        "guidance": float(guidance),
        "case_number": case,
    })
    if "artist" in frame.columns:
        out["artist"] = frame["artist"].str.strip().to_numpy()
    return out


def read_unlearndiffatk(path: Path, *, seed: int, guidance: float) -> pd.DataFrame:
    """UnlearnDiffAtk's attack prompt sets (`prompts/nudity.csv`, …): prompt_id `udatk-<case_number>`, `seed` the
    prompt's evaluation_seed; CFG is the prompt set's (upstream draws each prompt with its own
    `evaluation_guidance`, mostly 7, kept here as metadata)."""
    frame = _read_csv(path)
    frame = frame.drop(columns=[c for c in frame.columns if c == "" or c.startswith("Unnamed:")])
    require_columns(frame, ("case_number", "prompt", "evaluation_seed"), str(path))
    case = _int_column(frame, "case_number", path)
    out = pd.DataFrame({
        "prompt_id": [f"udatk-{c:04d}" for c in case],
        "prompt": frame["prompt"].str.replace(r"\s+", " ", regex=True).str.strip(),
        "seed": _int_column(frame, "evaluation_seed", path),
        "guidance": float(guidance),
        "case_number": case,
    })
    for column in ("categories", "evaluation_guidance"):
        if column in frame.columns:
            out[column] = frame[column].to_numpy()
    return out
