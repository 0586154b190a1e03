"""Text meant for a reader (tables, figure text, report captions) names files portably, never by the
absolute path of the machine that made it: a table for a paper names its backbones, not a home folder.
Provenance JSON keeps the full paths (that is its job); everything a reader sees goes through `portable`.

- a Hugging Face cache snapshot (`.../models--org--name/snapshots/<rev>/...`) -> `org/name`
- any other absolute path (`/...`, `~/...`) -> `…/<parent>/<name>` (the last two components)

URLs, hub ids (`org/name`) and relative paths (`results/sd/...`) are left as they are.

Files that jobs read (per-image scores and their summaries) go through `relative` instead: a path inside the
working directory becomes relative to it (still a path a job can open), one inside the repository relative
to the repository, so that the same results moved to another folder hold the same bytes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

REPOSITORY = Path(__file__).resolve().parents[1]  # the checkout: erasure/portable.py

# An absolute path: "/" or "~/" at the start of the text or after a space, bracket, quote, "=" or "," (so
# URLs, "a/b" and "results/<world>/x" are not).
# after whitespace, an opening bracket, a quote, "=", "," or ":" ("oracle:/home/…"); "//" (a URL) is left alone
_ABSOLUTE = re.compile(r"(?<![^\s(\[{'\"=,`:])(?:~?/)(?!/)[^\s,;()\[\]{}'\"<>|`]+")
_HF_SNAPSHOT = re.compile(r"models--([^/]+)--([^/]+)(?:/snapshots/[^/]+)?")


def _shorten(match: re.Match) -> str:
    path = match.group(0)
    hub = _HF_SNAPSHOT.search(path)
    if hub:
        return f"{hub.group(1)}/{hub.group(2)}"
    parts = [p for p in path.rstrip("/").split("/") if p and p != "~"]
    if not parts:
        return path
    return "…/" + "/".join(parts[-2:])


def portable(text):
    """`text` with every absolute path shortened (non-strings are returned unchanged)."""
    if not isinstance(text, str):
        return text
    return _ABSOLUTE.sub(_shorten, text)


def _relative(match: re.Match) -> str:
    path = match.group(0)
    if path.startswith("~"):
        return path
    for root in (os.getcwd(), REPOSITORY):
        for candidate, base in ((os.path.abspath(path), os.path.abspath(root)),
                                (os.path.realpath(path), os.path.realpath(root))):
            if candidate == base or candidate.startswith(base.rstrip(os.sep) + os.sep):
                return os.path.relpath(candidate, base)
    return path


def relative(text):
    """`text` with every absolute path inside the working directory written relative to it, and every other
    one inside the repository (a shipped base's backbone under `snakemake -d`) relative to the repository;
    paths elsewhere (a Hugging Face cache) and non-strings unchanged."""
    if not isinstance(text, str):
        return text
    return _ABSOLUTE.sub(_relative, text)


def has_absolute_path(text: str) -> bool:
    return bool(_ABSOLUTE.search(text))


def portable_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every string cell made portable (for tables written for readers)."""
    out = frame.copy()
    for column in text_columns(out):
        out[column] = out[column].map(portable)
    return out


def text_columns(frame: pd.DataFrame) -> list:
    """The columns of `frame` that hold text: object columns and, since pandas 3 (whose strings are `str`, not
    object), string columns; a test on `dtype == object` alone skips every string column there."""
    return [c for c in frame.columns
            if pd.api.types.is_object_dtype(frame[c]) or pd.api.types.is_string_dtype(frame[c])]
