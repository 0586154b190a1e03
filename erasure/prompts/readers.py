"""Readers for the upstream prompt files, each returning a normalised table (see `table.py`).

Formats (checked by hand against the upstream files):
- country-body: `country_body.txt`, one "<country> body" per line (we ship it in config/prompts/).
- coco30k: `coco_30k.csv` (ESD / safe-diffusion): image_id,source,prompt,evaluation_seed; captions may
  span lines inside quotes.
- i2p: AIML-TUDA/i2p `i2p_benchmark.csv`: prompt, categories, hard, inappropriate_percentage,
  nudity_percentage, lexica_url, sd_seed, sd_guidance_scale, sd_image_width, sd_image_height, sd_model; or ESD's
  copy `unsafe-prompts4703.csv` (rohitgandikota/erasing data/): an unnamed index, prompt, categories, hard,
  inappropriate_percentage, nudity_percentage, q16_percentage, sd_safety_percentage, prompt_toxicity,
  lexica_url, evaluation_seed, evaluation_guidance (ESD's names for I2P's sd_seed / sd_guidance_scale).
- artists: ESD's `famous_art_prompts.csv` / `big_artist_prompts.csv` / `short_niche_art_prompts.csv`: a leading
  unnamed index column, case_number, prompt, evaluation_seed (and `artist` in the last two).
- coco-captions: COCO-2014's caption annotations (cocodataset.org annotations_trainval2014.zip, or one
  captions_{train,val}2014.json from it): JSON {"annotations": [{"image_id", "id", "caption"}, ...]}; the zip is
  read as MACE's src/cache_coco.py reads the two files, train then val (414,113 + 202,654 captions).
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

# What each file-backed source reads, by role: the column names that carry it in the upstream files, in order of
# preference (a file has one of them). The first three are required of every file of the source; the header
# alone decides, so that a wrong file fails while planning (erasure.prompts.sources.check_header), not in a job.
COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "coco30k": {"prompt": ("prompt",), "seed": ("evaluation_seed",), "image id": ("image_id",)},
    "i2p": {"prompt": ("prompt",), "seed": ("sd_seed", "evaluation_seed"), "categories": ("categories",)},
    "artists": {"prompt": ("prompt",), "seed": ("evaluation_seed",), "case number": ("case_number",)},
    "unlearndiffatk-nudity": {"prompt": ("prompt",), "seed": ("evaluation_seed",), "case number": ("case_number",)},
}
# I2P's metadata columns kept in the table (either file's names, as the file has them)
I2P_METADATA = ("categories", "hard", "inappropriate_percentage", "nudity_percentage", "q16_percentage",
                "sd_safety_percentage", "prompt_toxicity", "lexica_url", "sd_guidance_scale", "evaluation_guidance",
                "sd_image_width", "sd_image_height", "sd_model")


def resolve_columns(columns, source: str, where: str) -> dict[str, str]:
    """{role: the column of `columns` that carries it} for a file of `source` (COLUMNS); raise one
    ErasureError line naming `where`, the role, the names accepted for it, the columns found and the fix (the
    source whose file it looks like, where one matches)."""
    columns = [str(c).strip() for c in columns]
    found: dict[str, str] = {}
    for role, names in COLUMNS[source].items():
        name = next((n for n in names if n in columns), None)
        if name is None:
            accepted = " or ".join(repr(n) for n in names)
            like = [other for other, roles in COLUMNS.items() if other != source
                    and all(any(n in columns for n in ns) for ns in roles.values())]
            fix = (f"its columns are those of source {like[0]}'s files: set the prompt set's source to {like[0]}, "
                   f"or give a {source} file" if like else f"is it a {source} file? give one with these columns")
            raise ErasureError(f"{where}: no {role} column ({accepted}) for source {source} (columns found: "
                               f"{', '.join(c or '(unnamed)' for c in columns) or 'none'}); {fix}")
        found[role] = name
    return found


def _read_csv(path: Path, where: str | None = None) -> pd.DataFrame:
    where = where or str(path)
    if not Path(path).is_file():
        raise ErasureError(f"{where}: prompt file not found")
    # dtype=str: ids such as COCO's 000000203564 keep their leading zeros
    frame = read_csv(path, what="prompt file (CSV)", fix="fix the file or point prompt_sets.<set>.path elsewhere",
                     dtype=str, keep_default_na=False)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _prompts(frame: pd.DataFrame, column: str, where: str, *, join_whitespace: bool = True) -> pd.Series:
    """The prompt column, stripped (and its whitespace runs joined, by default); raise one ErasureError line
    naming how many prompts are empty, at which data rows of the file (1-based, the header not counted) and the
    fix (ESD's copy of I2P has empty prompts, which would draw unconditional images)."""
    prompts = frame[column].str.replace(r"\s+", " ", regex=True) if join_whitespace else frame[column]
    prompts = prompts.str.strip()
    empty = (prompts == "").to_numpy().nonzero()[0]
    if len(empty):
        rows = ", ".join(str(int(frame.index[i]) + 1) for i in empty[:10]) + (", ..." if len(empty) > 10 else "")
        raise ErasureError(f"{where}: {len(empty)} empty prompt{'s' * (len(empty) > 1)} (column {column!r}, data "
                           f"row{'s' * (len(empty) > 1)} {rows}; 1-based, header not counted); delete "
                           f"{'them' if len(empty) > 1 else 'it'} from the file and lower n_prompts by {len(empty)}")
    return prompts


def _int_column(frame: pd.DataFrame, column: str, where: Path | str) -> pd.Series:
    values = pd.to_numeric(frame[column].str.strip(), errors="coerce")
    if values.isna().any():
        row = int(values.isna().to_numpy().nonzero()[0][0])
        raise ErasureError(f"{where}: data row {int(frame.index[row]) + 1}: column {column!r} value "
                           f"{frame[column].iloc[row]!r} is not a number; fix it in the file")
    return values.astype("int64")


def _prompt_lines(path: Path, where: str | None, expected: str) -> list[str]:
    """The stripped non-blank, non-`#` lines of a text prompt file; ErasureError (one line, `where` or the
    path) when the file is missing or holds no prompt."""
    where = where or str(path)
    if not Path(path).is_file():
        raise ErasureError(f"{where}: prompt file not found")
    lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    prompts = [line for line in lines if line and not line.startswith("#")]
    if not prompts:
        raise ErasureError(f"{where}: no prompts (expected {expected})")
    return prompts


def read_country_body(path: Path, *, seed: int, guidance: float, where: str | None = None) -> pd.DataFrame:
    """"<country> body" lines; every prompt gets evaluation seed `seed` (its images: seed, seed+1, ...)."""
    prompts = _prompt_lines(path, where, "one '<country> body' per line")
    countries = [p[: -len(" body")] if p.endswith(" body") else p for p in prompts]
    return pd.DataFrame({
        "prompt_id": [f"country-{i:02d}" for i in range(len(prompts))],
        "prompt": prompts,
        "seed": int(seed),
        "guidance": float(guidance),
        "country": countries,
    })


def read_lines(path: Path, *, seed: int, guidance: float, where: str | None = None) -> pd.DataFrame:
    """One prompt per line (blank lines and `#` comments skipped), each with evaluation seed `seed` (its
    images: seed, seed+1, ...): SalUn's image sets (salun-forget / salun-retain: the authors' one NSFW prompt
    each, OPTML-Group/Unlearn-Saliency SD/README.md; we ship them in config/prompts/)."""
    prompts = _prompt_lines(path, where, "one per line")
    return pd.DataFrame({"prompt_id": [f"line-{i:02d}" for i in range(len(prompts))], "prompt": prompts,
                         "seed": int(seed), "guidance": float(guidance)})


def read_coco(path: Path, *, seed: int, guidance: float, where: str | None = None) -> pd.DataFrame:
    """`where` names the file in errors (default: `path`; the workflow gives the config key and the user's file)."""
    where = where or str(path)
    frame = _read_csv(path, where)
    col = resolve_columns(frame.columns, "coco30k", where)
    return pd.DataFrame({
        # row number, not image_id: COCO ids repeat when one image has several captions
        "prompt_id": [f"coco-{i:05d}" for i in range(len(frame))],
        "prompt": _prompts(frame, col["prompt"], where),
        "seed": _int_column(frame, col["seed"], where),
        "guidance": float(guidance),
        "image_id": frame[col["image id"]],
    })


COCO_CAPTION_FILES = ("annotations/captions_train2014.json", "annotations/captions_val2014.json")


def read_coco_captions(path: Path, *, seed: int, guidance: float, where: str | None = None) -> pd.DataFrame:
    """Every caption of a COCO caption annotation file, in file order: a captions_*2014.json, or the
    annotations_trainval2014.zip holding both (COCO_CAPTION_FILES, train then val: Shilin-LU/MACE@057e7a6
    src/cache_coco.py `train_prompts + val_prompts`). Captions are stripped and their whitespace runs joined,
    which CLIP's tokenizer does itself (`whitespace_clean`), so the tokens are theirs; each gets the set's `seed`; `image_id` is metadata. Raises ErasureError (one line naming
    `where`) for a file that is neither, or a caption that is empty."""
    import json
    import zipfile

    where = where or str(path)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                missing = [name for name in COCO_CAPTION_FILES if name not in archive.namelist()]
                if missing:
                    raise ErasureError(f"{where}: a zip without {', '.join(missing)}; give COCO's "
                                       "annotations_trainval2014.zip or one captions_*2014.json")
                documents = [json.loads(archive.read(name)) for name in COCO_CAPTION_FILES]
        else:
            documents = [json.loads(Path(path).read_text(encoding="utf-8"))]
        rows = [(a["image_id"], a["caption"]) for doc in documents for a in doc["annotations"]]
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        raise ErasureError(f"{where}: not a COCO caption annotation file (JSON with annotations[].caption, or "
                           f"COCO's annotations_trainval2014.zip): {type(error).__name__}: {error}"[:300]) from None
    frame = pd.DataFrame({"caption": [str(c) for _, c in rows]})
    return pd.DataFrame({
        "prompt_id": [f"cap-{i:06d}" for i in range(len(rows))],
        "prompt": _prompts(frame, "caption", where),
        "seed": int(seed),
        "guidance": float(guidance),
        "image_id": [int(i) for i, _ in rows],
    })


def read_i2p(path: Path, *, seed: int, guidance: float, where: str | None = None) -> pd.DataFrame:
    """I2P (its own file or ESD's copy, COLUMNS); `seed` is the prompt's `sd_seed` (ESD: `evaluation_seed`), CFG
    is the prompt set's (the source's own scale is kept as `sd_guidance_scale` / `evaluation_guidance`, as the
    file names it, as metadata)."""
    where = where or str(path)
    frame = _read_csv(path, where)
    col = resolve_columns(frame.columns, "i2p", where)
    out = pd.DataFrame({
        "prompt_id": [f"i2p-{i:04d}" for i in range(len(frame))],
        "prompt": _prompts(frame, col["prompt"], where),
        "seed": _int_column(frame, col["seed"], where),
        "guidance": float(guidance),
    })
    for column in I2P_METADATA:
        if column in frame.columns:
            out[column] = frame[column].to_numpy()
    return out


def read_artists(path: Path, *, seed: int, guidance: float, artists=(), where: str | None = None) -> pd.DataFrame:
    """ESD's artist prompt files (`famous_art_prompts.csv`, `big_artist_prompts.csv`,
    `short_niche_art_prompts.csv`). `artists`: keep only rows whose `artist` column names one of them (the
    last two files carry that column; Fig. 2's five artists come from both)."""
    where = where or str(path)
    frame = _read_csv(path, where)
    frame = frame.drop(columns=[c for c in frame.columns if c == "" or c.startswith("Unnamed:")])
    col = resolve_columns(frame.columns, "artists", where)
    if artists:
        require_columns(frame, ("artist",), where)
        named = frame["artist"].str.strip()
        absent = [a for a in artists if not (named == a).any()]
        if absent:
            raise ErasureError(f"{where}: no prompt of artist {absent[0]!r} (column 'artist' has: "
                               f"{', '.join(sorted(named.unique()))})")
        frame = frame[named.isin(list(artists))]  # the file's row numbers stay the index, for errors
    case = _int_column(frame, col["case number"], where)
    out = pd.DataFrame({
        "prompt_id": [f"art-{c:03d}" for c in case],
        "prompt": _prompts(frame, col["prompt"], where, join_whitespace=False).to_numpy(),  # as ESD reads them
        "seed": _int_column(frame, col["seed"], where).to_numpy(),
        "guidance": float(guidance),
        "case_number": case.to_numpy(),
    })
    if "artist" in frame.columns:
        out["artist"] = frame["artist"].str.strip().to_numpy()
    return out


def read_unlearndiffatk(path: Path, *, seed: int, guidance: float, where: str | None = None) -> pd.DataFrame:
    """UnlearnDiffAtk's attack prompt sets (`prompts/nudity.csv`, …): prompt_id `udatk-<case_number>`, `seed` the
    prompt's evaluation_seed; CFG is the prompt set's (upstream draws each prompt with its own
    `evaluation_guidance`, mostly 7, kept here as metadata)."""
    where = where or str(path)
    frame = _read_csv(path, where)
    frame = frame.drop(columns=[c for c in frame.columns if c == "" or c.startswith("Unnamed:")])
    col = resolve_columns(frame.columns, "unlearndiffatk-nudity", where)
    case = _int_column(frame, col["case number"], where)
    out = pd.DataFrame({
        "prompt_id": [f"udatk-{c:04d}" for c in case],
        "prompt": _prompts(frame, col["prompt"], where),
        "seed": _int_column(frame, col["seed"], where),
        "guidance": float(guidance),
        "case_number": case,
    })
    for column in ("categories", "evaluation_guidance"):
        if column in frame.columns:
            out[column] = frame[column].to_numpy()
    return out
