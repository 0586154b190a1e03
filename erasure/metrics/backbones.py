"""Find a scorer's pretrained backbone on disk, or say in one line what to provide.

Scorers run on cluster nodes that are often offline, and a silent download attempt there either hangs or
fails with a stack of network errors. So a backbone source is resolved once, up front: a local directory
wins; a hub id is looked up in the HF cache first (never touching the network), and only downloaded when
the hub is allowed (`HF_HUB_OFFLINE` unset) and reachable.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from erasure.errors import ErasureError
from erasure.hub import is_hub_id  # one `org/name` pattern, shared with the DAG inputs
from erasure.weights import MODEL_FILES

# Only what `from_pretrained` needs: the hub repos also carry TF / Flax / pickle weights we never read.
DEFAULT_ALLOW = MODEL_FILES  # the files the DAG lists as inputs (erasure.external_inputs, from erasure.weights)

def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def hf_cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def resolve_source(
    source: str | os.PathLike,
    *,
    what: str,
    key: str,
    required: Sequence[str] = ("config.json",),
    allow_patterns: Sequence[str] = DEFAULT_ALLOW,
) -> Path:
    """Return a local directory holding `source`'s files.

    `what` names the backbone for the message ("CLIP ViT-L/14"), `key` the config/settings key the user
    sets to point elsewhere. `required` are files the directory must contain.
    """
    text = str(source).strip()
    if not text:
        raise ErasureError(f"{key}: empty backbone source for {what}; give a hub id or a local directory")
    path = Path(text).expanduser()
    if path.is_dir():
        _check_required(path, required, what=what, key=key)
        return path
    if not is_hub_id(text):
        raise ErasureError(
            f"{key}: {what} source '{text}' is neither an existing directory nor a hub id (org/name); "
            "give a local directory or a hub id"
        )
    snapshot = _from_hub(text, what=what, key=key, allow_patterns=allow_patterns)
    _check_required(snapshot, required, what=what, key=key)
    return snapshot


def _from_hub(repo_id: str, *, what: str, key: str, allow_patterns: Sequence[str]) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True, allow_patterns=list(allow_patterns)))
    except Exception:  # noqa: BLE001 - any cache miss falls through to the download attempt below
        pass
    advice = (
        f"run `hf download {repo_id}` where the hub is reachable and copy {hf_cache_dir()} "
        f"(or set HF_HOME), or set {key} to a local directory"
    )
    if hub_offline():
        raise ErasureError(f"{key}: {what} '{repo_id}' is not in the HF cache and HF_HUB_OFFLINE is set; {advice}")
    try:
        return Path(snapshot_download(repo_id, allow_patterns=list(allow_patterns)))
    except Exception as exc:  # noqa: BLE001 - network errors come in many types; the advice is the same
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ErasureError(
            f"{key}: {what} '{repo_id}' is not in the HF cache and the hub is unreachable ({reason}); {advice}"
        ) from None


def _check_required(path: Path, required: Sequence[str], *, what: str, key: str) -> None:
    missing = [name for name in required if not (path / name).exists()]
    if missing:
        raise ErasureError(
            f"{key}: {what} directory {path} lacks {', '.join(missing)}; point it at a save_pretrained directory"
        )
