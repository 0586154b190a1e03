"""Model folders and cached Hugging Face snapshots: the files `from_pretrained` reads, found without loading
anything (torch-free, no hub client calls), low in the stack: the worlds (a diffusers base model), the scorers'
backbones and the DAG's inputs (erasure.external_inputs) all list them here."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Sequence
from pathlib import Path

from erasure.io import built_root

MODEL_FILES = ("*.json", "*.txt", "*.safetensors")  # what from_pretrained reads: the DAG lists them as inputs
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # `org/name`


def is_hub_id(source: str) -> bool:
    """Whether `source` names a hub model (`org/name`) rather than a folder on this machine."""
    return bool(HUB_ID.match(str(source))) and not Path(str(source)).expanduser().exists()


def hub_cache() -> Path:
    """huggingface_hub's cache (HF_HUB_CACHE / HF_HOME honoured), read without importing the hub client."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def hub_snapshot(repo_id: str, revision: str = "main") -> tuple[Path, Path] | None:
    """(refs file, snapshot directory) of a cached hub model, or None where it is not cached."""
    repo = hub_cache() / f"models--{repo_id.replace('/', '--')}"
    ref = repo / "refs" / revision
    try:
        commit = ref.read_text().strip()
    except OSError:
        return None
    snapshot = repo / "snapshots" / commit
    return (ref, snapshot) if commit and snapshot.is_dir() else None


def listed_files(directory: Path, patterns: Sequence[str]) -> list[Path]:
    """Files under `directory` whose name matches `patterns`, hidden files and folders skipped, sorted."""
    found = []
    for folder, dirs, files in os.walk(directory, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(folder, f) for f in files
                  if not f.startswith(".") and any(fnmatch.fnmatch(f, p) for p in patterns)]
    return sorted(found)


def model_files(source: str | os.PathLike | None, built: Sequence[Path] = ()) -> list[Path]:
    """The files a diffusers / transformers `from_pretrained(source)` reads: a local directory's, or the
    cached snapshot's (with its refs file) for a hub id; none for a source not on this machine; the folder
    of `built` it lies in (`built_root`)."""
    if not source:
        return []
    if root := built_root(source, built):
        return [root]
    path = Path(str(source)).expanduser()
    if path.is_dir():
        return listed_files(path, MODEL_FILES)
    if path.exists() or not HUB_ID.match(str(source)):
        return [path] if path.is_file() else []
    found = hub_snapshot(str(source))
    return [found[0], *listed_files(found[1], MODEL_FILES)] if found else []
