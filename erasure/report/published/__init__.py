"""Published figures of the methods we run, from their papers and leaderboards (`*.csv` in this folder, pinned
rows with source and date), put beside ours only where the whole setting matches: by the one rule the SDD
paper's "(paper)" column uses (erasure.report.paper.mismatch: method, preset, erased concepts, metric, prompt
source), which also compares what a nudity or attack number depends on: the detector (its classes), the
attack, the NudeNet release that scored the images, and the threshold.

Columns (one row per number; add rows, or another CSV beside this one, for another method):

    method          our spec name (erasure.methods.specs), e.g. salun
    preset          the preset that is the authors' configuration (their defaults), e.g. nsfw
    concepts        the concepts as a config names them: a concept set or ';'-joined strings (nudity)
    metric          our metric (nude, fid, clip, ...) or an attack-table quantity: pre_asr,
                    adversarial_asr, cumulative_asr (erasure.attacks.asr)
    prompt_source   the prompt source it was computed on: our source name (unlearndiffatk-nudity,
                    coco30k, ...) where we have that set, else the authors' name (coco10k): never ours then
    detector        the Table 3 detector (attacks.detectors) or metric protocol it was judged by; '' none
    attack          the attack kind (attacks.attacks.*.kind) an adversarial or cumulative ASR comes from;
                    '' for a figure no attack changes (pre-attack ASR, FID, ...)
    nudenet         the NudeNet release / model that scored it ('' for a metric without NudeNet)
    threshold       the detector's score threshold ('' without one)
    value, unit     the published number as printed (% for rates)
    source          document and table / column; reference: a URL pinned to a commit or version
    version, date   that commit or version, and its date; note: anything a reader must know

Nothing here is measured by us; a report that shows a row labels it "(published)" with its source.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from erasure.errors import ErasureError

FOLDER = Path(__file__).parent
COLUMNS = ("method", "preset", "concepts", "metric", "prompt_source", "detector", "attack", "nudenet", "threshold",
           "value", "unit", "source", "reference", "version", "date", "note")
ATTACK_QUANTITIES = ("pre_asr", "adversarial_asr", "cumulative_asr")


def load(files: Iterable[str | Path] | None = None) -> pd.DataFrame:
    """Every row of the published CSVs (default: this folder's), checked: all columns present, a number in
    `value` (and `threshold` where given), a known method, a source and a reference on every row. Raises
    ErasureError, one line naming the file, row and column."""
    from erasure.methods import specs

    frames = []
    for file in sorted(files if files is not None else FOLDER.glob("*.csv")):
        frame = pd.read_csv(file, dtype=str, keep_default_na=False)
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise ErasureError(f"{file}: published figures lack columns {', '.join(missing)}")
        for i, row in frame.iterrows():
            where = f"{file}: row {i + 2}"
            if row["method"] not in specs.SPECS:
                raise ErasureError(f"{where}: method {row['method']!r} is no method of erasure.methods.specs")
            for column in ("value", "threshold"):
                if row[column] or column == "value":
                    try:
                        float(row[column])
                    except ValueError:
                        raise ErasureError(f"{where}: {column} {row[column]!r} is not a number") from None
            for column in ("metric", "prompt_source", "source", "reference", "date"):
                if not row[column]:
                    raise ErasureError(f"{where}: {column} is empty")
        frame["file"] = str(file)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*COLUMNS, "file"])


def our_nudenet() -> str:
    """The NudeNet release that scores our images (pyproject pins it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nudenet")
    except PackageNotFoundError:
        return ""


def setting_rows(rows: pd.DataFrame | None = None) -> list[dict]:
    """The published rows (default: `load()`) as erasure.report.paper.mismatch reads them: concepts a set
    (concept-set names expanded: erasure.methods.concepts), value a float."""
    from erasure.methods.concepts import resolve_concepts

    rows = load() if rows is None else rows
    return [{**row, "concepts": frozenset(resolve_concepts([c for c in row["concepts"].split(";") if c])),
             "value": float(row["value"])} for row in rows.to_dict("records")]


def shown(row: dict) -> dict:
    """What a table keeps of a shown row: value, unit, source, reference, date."""
    return {key: row[key] for key in ("value", "unit", "source", "reference", "date")}


def published_value(rows: pd.DataFrame, *, method: str, preset: str | None, concepts: Iterable[str], metric: str,
                    prompt_source: str, detector: str = "", attack: str = "", nudenet: str = "",
                    threshold: float | None = None) -> dict | None:
    """The first published row whose setting is this one (erasure.report.paper.mismatch), as a dict with
    `value` a float, or None."""
    from erasure.methods.concepts import resolve_concepts
    from erasure.report.paper import mismatch

    ours = {"method": method, "preset": preset or "", "concepts": frozenset(resolve_concepts(list(concepts))),
            "metric": metric, "prompt_source": prompt_source, "detector": detector, "attack": attack,
            "nudenet": nudenet, "threshold": threshold}
    return next((row for row in setting_rows(rows) if mismatch(row, ours) is None), None)
