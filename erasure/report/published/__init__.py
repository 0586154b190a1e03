"""Published figures of the methods we run, from their papers and leaderboards (`*.csv` in this folder, pinned
rows with source and date), and the rule that puts one beside ours: only where the whole setting matches —
the rule erasure.report.paper applies to the SDD paper's "(paper)" column (method, preset, erased concepts,
prompt source), extended by what a nudity number also depends on: the detector (its classes), the NudeNet
release that scored the images, and the threshold.

Columns (one row per number; add rows, or another CSV beside this one, for another method):

    method          our spec name (erasure.methods.specs), e.g. salun
    preset          the preset that is the authors' configuration (their defaults), e.g. nsfw
    concepts        the concepts as a config names them: a concept set or ';'-joined strings (nudity)
    metric          our metric (nude, fid, clip, ...) or an attack-table quantity: pre_asr,
                    adversarial_asr, cumulative_asr (erasure.attacks.asr)
    prompt_source   the prompt source it was computed on: our source name (unlearndiffatk-nudity,
                    coco30k, ...) where we have that set, else the authors' name (coco10k): never ours then
    detector        the Table 3 detector (attacks.detectors) or metric protocol it was judged by; '' none
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
COLUMNS = ("method", "preset", "concepts", "metric", "prompt_source", "detector", "nudenet", "threshold", "value",
           "unit", "source", "reference", "version", "date", "note")
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


def published_value(rows: pd.DataFrame, *, method: str, preset: str | None, concepts: Iterable[str], metric: str,
                    prompt_source: str, detector: str = "", nudenet: str = "", threshold: float | None = None) -> dict | None:
    """The published row (as a dict, `value` a float) whose setting is ours in every column, or None.

    A row whose `nudenet` is set matches only our NudeNet release `nudenet` and our `threshold`; concepts
    compare as sets after expanding concept-set names (erasure.methods.concepts)."""
    from erasure.methods.concepts import resolve_concepts

    wanted = frozenset(resolve_concepts(list(concepts)))
    for _, row in rows.iterrows():
        if (row["method"], row["preset"], row["metric"], row["prompt_source"], row["detector"]) != \
                (method, preset or "", metric, prompt_source, detector):
            continue
        if frozenset(resolve_concepts(row["concepts"].split(";"))) != wanted:
            continue
        if row["nudenet"] and (row["nudenet"] != nudenet or threshold is None
                               or float(row["threshold"]) != float(threshold)):
            continue
        return {**row.to_dict(), "value": float(row["value"])}
    return None
