"""Text meant for a reader (tables, figure text, report captions) names files portably, never by the
absolute path of the machine that made it: a table for a paper names its backbones, not a home folder.
Provenance JSON keeps the full paths (that is its job); everything a reader sees goes through `portable`.

- a Hugging Face cache snapshot (`.../models--org--name/snapshots/<rev>/...`) -> `org/name`
- any other absolute path (`/...`, `~/...`) -> `…/<parent>/<name>` (the last two components)

URLs, hub ids (`org/name`) and relative paths (`results/sd/...`) are left as they are.
"""

from __future__ import annotations

import re

import pandas as pd

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


def has_absolute_path(text: str) -> bool:
    return bool(_ABSOLUTE.search(text))


def portable_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every string cell made portable (for tables written for readers)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(portable)
    return out
