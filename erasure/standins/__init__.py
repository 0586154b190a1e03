"""Stand-ins: tiny random weights with the real architectures' configs, so the SD world's DAG runs end to
end on a CPU (CI, demos) through the real loading code. Their numbers mean nothing, and say so.

A stand-in directory holds `STAND-IN.json` (what it is, and the sha256 of every file in it). Anything under
such a directory is a stand-in (`describe`); a pinned file (Q16's prompts, LPIPS' AlexNet) is accepted in
place of the pinned upstream file only when that record lists it with its current sha256 (`verified`), and
whatever scores with it is labelled `stand-in` (erasure.scoring).

Lineage: a number is a stand-in's when anything upstream of it read one, not only its scorer. A run records
the notes of everything it read (erasure.lineage.run_notes: the base as loaded, every path its settings name, the
folders its backbones resolve to — settings, else environment, else pinned hub snapshot — and the image sets it
trained on) in run.json under `standins` (so in complete.json's `run_meta`); generation carries the notes of
the weights it draws with (erasure.lineage.image_notes: the base, the run's record, an inference method's
settings) into
each image's manifest row (column `standin`, present only where there is one) and the shard's fingerprint;
scoring labels from the manifest (`manifest_notes`).

    python -m erasure.standins OUT_DIR     # build every stand-in (erasure.standins.build)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

MARKER = "STAND-IN.json"
LABEL = "stand-in"
COLUMN = "standin"  # an image manifest's column: the stand-in notes of the weights that drew the image
RUN_KEY = "standins"  # run.json's key (complete.json: run_meta.standins): the notes of what the run read


def _marker_above(path: Path) -> Path | None:
    path = Path(path).expanduser().absolute()
    for folder in (path, *path.parents):
        marker = folder / MARKER
        if marker.is_file():
            return marker
    return None


def describe(path: str | os.PathLike | None) -> str | None:
    """The stand-in note of `path` (a file or directory under a stand-in directory), else None."""
    if not path or "://" in str(path):
        return None
    marker = _marker_above(Path(path))
    if marker is None:
        return None
    try:
        return json.loads(marker.read_text())["note"]
    except (OSError, ValueError, KeyError):
        return f"{LABEL} ({marker})"


def verified(file: str | os.PathLike) -> bool:
    """True when `file` is listed in its stand-in record with the sha256 it has now."""
    from erasure.io import sha256_file

    file = Path(file).expanduser().absolute()
    marker = _marker_above(file)
    if marker is None or not file.is_file():
        return False
    try:
        files = json.loads(marker.read_text())["files"]
    except (OSError, ValueError, KeyError):
        return False
    return files.get(file.relative_to(marker.parent).as_posix()) == sha256_file(file)


def any_standin(values) -> list[str]:
    """The stand-in notes of every path-like string in `values` (nested dicts / lists walked)."""
    found: list[str] = []

    def walk(value):
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, (str, os.PathLike)) and str(value) and os.path.exists(str(value)):
            note = describe(value)
            if note and note not in found:
                found.append(note)

    walk(values)
    return found


def unique(notes) -> list[str]:
    out: list[str] = []
    for note in notes:
        if note and note not in out:
            out.append(note)
    return out


def recorded_run_notes(complete: str | os.PathLike) -> list[str]:
    """The notes a run's complete.json records (run_meta.standins); [] where it records none."""
    try:
        record = json.loads(Path(complete).read_text())
    except (OSError, ValueError):
        return []
    return list((record.get("run_meta") or {}).get(RUN_KEY) or [])


def manifest_notes(manifest) -> list[str]:
    """The notes an image manifest records (column COLUMN; a manifest path or its table), [] where it has none."""
    import pandas as pd

    if not isinstance(manifest, pd.DataFrame):
        try:
            manifest = pd.read_csv(manifest, usecols=lambda c: c == COLUMN, dtype=str, keep_default_na=False)
        except (OSError, ValueError):
            return []
    if COLUMN not in manifest.columns:
        return []
    return unique(str(v) for v in manifest[COLUMN] if isinstance(v, str) and v)
