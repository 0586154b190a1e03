"""Model folders and cached Hugging Face snapshots: the files `from_pretrained` reads, found without loading
anything (torch-free, no hub client calls), low in the stack: the worlds (a diffusers base model), the scorers'
backbones and the DAG's inputs (erasure.external_inputs) all list them here."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from erasure.io import built_root

MODEL_FILES = ("*.json", "*.txt", "*.safetensors")  # what from_pretrained reads: the DAG lists them as inputs
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # `org/name`
COMMIT = re.compile(r"^[0-9a-f]{40}$")  # a full commit hash: huggingface_hub.file_download.REGEX_COMMIT_HASH


def is_hub_id(source: str) -> bool:
    """Whether `source` names a hub model (`org/name`) rather than a folder on this machine."""
    return bool(HUB_ID.match(str(source))) and not Path(str(source)).expanduser().exists()


def hub_cache() -> Path:
    """huggingface_hub's cache (HF_HUB_CACHE / HF_HOME honoured), read without importing the hub client."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def hub_repo(repo_id: str) -> Path:
    """The cache folder of hub model `repo_id`: `models--{org}--{name}` (huggingface_hub's `repo_folder_name`)."""
    return hub_cache() / f"models--{repo_id.replace('/', '--')}"


@dataclass(frozen=True)
class Snapshot:
    """A cached snapshot: `folder` (`snapshots/<commit>/`), its `commit`, and the `ref` file that named it
    (`refs/main`), or None where the revision asked was the commit itself."""

    folder: Path
    commit: str
    ref: Path | None


def hub_snapshot(repo_id: str, revision: str | None = None) -> Snapshot | None:
    """The cached snapshot of hub model `repo_id` at `revision`, or None where it is not cached.

    As huggingface_hub resolves a revision offline (`snapshot_download(local_files_only=True)`,
    `hf_hub_download`): a full commit hash (40 hex digits) is `snapshots/<commit>/` itself, whatever the refs say
    (`hf download --revision <commit>` writes that folder and no ref); any other revision (None: "main") is the
    commit its `refs/<revision>` file names."""
    repo = hub_repo(repo_id)
    revision = revision or "main"
    ref = None
    if COMMIT.match(revision):
        commit = revision
    else:
        ref = repo / "refs" / revision
        try:
            commit = ref.read_text().strip()
        except OSError:
            return None
    snapshot = repo / "snapshots" / commit
    return Snapshot(snapshot, commit, ref) if commit and snapshot.is_dir() else None


def cached_commits(repo_id: str) -> tuple[str | None, list[str]]:
    """(the commit `refs/main` names or None, the commits with a snapshot folder, sorted) of hub model
    `repo_id` in the cache: what a cache holds where the revision asked is not there."""
    repo = hub_repo(repo_id)
    try:
        main = (repo / "refs" / "main").read_text().strip() or None
    except OSError:
        main = None
    snapshots = repo / "snapshots"
    commits = sorted(p.name for p in snapshots.iterdir() if p.is_dir()) if snapshots.is_dir() else []
    return main, commits


def listed_files(directory: Path, patterns: Sequence[str]) -> list[Path]:
    """Files under `directory` whose name matches `patterns`, hidden files and folders skipped, sorted."""
    found = []
    for folder, dirs, files in os.walk(directory, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(folder, f) for f in files
                  if not f.startswith(".") and any(fnmatch.fnmatch(f, p) for p in patterns)]
    return sorted(found)


def model_files(source: str | os.PathLike | None, built: Sequence[Path] = (), revision: str | None = None) -> list[Path]:
    """The files a diffusers / transformers `from_pretrained(source, revision=revision)` reads: a local
    directory's, or for a hub id the cached snapshot's at `revision` (`hub_snapshot`), with the refs file that
    named it (a pinned commit's snapshot has none: its folder name is the pin); none for a source not on this
    machine; the folder of `built` it lies in (`built_root`)."""
    if not source:
        return []
    if root := built_root(source, built):
        return [root]
    path = Path(str(source)).expanduser()
    if path.is_dir():
        return listed_files(path, MODEL_FILES)
    if path.exists() or not HUB_ID.match(str(source)):
        return [path] if path.is_file() else []
    found = hub_snapshot(str(source), revision)
    if found is None:
        return []
    return [*([found.ref] if found.ref else []), *listed_files(found.folder, MODEL_FILES)]
