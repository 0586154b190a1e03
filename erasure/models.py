"""Loading the base text-to-image model: whatever its world resolves `base_model` to (erasure.worlds: a world's
own shipped or trained base, a local diffusers directory), or a Hugging Face hub id (honouring the HF cache and
HF_HUB_OFFLINE)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import SafetensorError

from erasure.errors import ErasureError
from erasure.worlds import world_for
from erasure.worlds.diffusers import SD_HELP  # noqa: F401 - the loaders' help line, re-exported

# what from_pretrained raises on a missing or broken model (transformers lets SafetensorError through)
LOAD_ERRORS = (OSError, ValueError, SafetensorError)


def resolve_base_source(source: str, results_root: str | Path = "results") -> str:
    """Turn a config `base_model` value into a local directory or a hub id (its world's `pipeline_source`).

    Raises ErasureError (one line naming the path) where a world's base is missing or damaged, or a local
    directory is not a diffusers pipeline."""
    return world_for(source).pipeline_source(source, results_root)


def load_base_pipeline(
    source: str,
    *,
    results_root: str | Path = "results",
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
):
    """The diffusers pipeline of `source`'s model family (erasure.worlds.families: SD 1.x / 2.x's
    text-to-image pipeline, SDXL's), without safety checker, on `device`.

    Hub ids are looked up in the local cache first, so an offline machine with cached weights works
    and a machine with neither gets one actionable message instead of a network traceback. A hub id its
    family pins (erasure.worlds.hub_ids) loads that commit's snapshot (`revision=`), whatever refs/main names.
    """
    resolved = resolve_base_source(source, results_root)
    world = world_for(source)
    family = world.family(source, results_root)
    pipeline_class, kwargs = family.pipeline(), family.load_kwargs(dtype)
    if Path(resolved).is_dir():
        try:
            pipe = pipeline_class.from_pretrained(resolved, local_files_only=True, **kwargs)
        except LOAD_ERRORS as exc:  # a directory, but not a whole diffusers pipeline
            _name_bad_weights(resolved)
            reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            raise ErasureError(f"base_model {resolved}: not a loadable diffusers pipeline directory ({reason}); "
                               f"{SD_HELP}") from None
    else:
        pipe = _from_hub(pipeline_class, resolved, kwargs, world.hub_revision(source))
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def load_text_encoder(source: str, *, results_root: str | Path = "results", device: str | torch.device = "cpu",
                      dtype: torch.dtype = torch.float32):
    """(tokenizer, text encoder) of the base `source` alone, as `load_base_pipeline` loads them (its
    `tokenizer` and `text_encoder` folders: transformers' CLIPTokenizer and CLIPTextModel), for what reads
    nothing else (Ring-A-Bell: erasure.attacks.ringabell). The encoder is in eval mode on `device`."""
    from transformers import CLIPTextModel, CLIPTokenizer

    resolved = resolve_base_source(source, results_root)
    if Path(resolved).is_dir():
        try:
            tokenizer = CLIPTokenizer.from_pretrained(resolved, subfolder="tokenizer", local_files_only=True)
            encoder = CLIPTextModel.from_pretrained(resolved, subfolder="text_encoder", local_files_only=True,
                                                    dtype=dtype)
        except LOAD_ERRORS as exc:
            _name_bad_weights(resolved)
            reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            raise ErasureError(f"base_model {resolved}: no loadable tokenizer / text_encoder ({reason}); "
                               f"{SD_HELP}") from None
    else:
        revision = world_for(source).hub_revision(source)
        tokenizer = _from_hub(CLIPTokenizer, resolved, {"subfolder": "tokenizer"}, revision)
        encoder = _from_hub(CLIPTextModel, resolved, {"subfolder": "text_encoder", "dtype": dtype}, revision)
    return tokenizer, encoder.to(device).eval()


def _name_bad_weights(directory: str | Path) -> None:
    """transformers raises a bare SafetensorError ("invalid header length") on a truncated text encoder and
    diffusers an OSError quoting a clipped path: find the file whose header fails and name it."""
    from erasure.loads import first_unreadable_safetensors

    bad = first_unreadable_safetensors(directory)
    if bad is not None:
        raise ErasureError(f"{bad[0]}: unreadable weights file ({bad[1]}; truncated or corrupted); "
                           f"copy it again from its source, or {SD_HELP}") from None


def base_directory(source: str, results_root: str | Path = "results") -> Path | None:
    """The directory `load_base_pipeline(source)` reads: a local one as its world resolves it, or for a hub id
    the HF cache's snapshot at the commit its family pins (refs/main's where unpinned), as huggingface_hub
    resolves it offline; None where that snapshot is not cached. Raises ErasureError as `resolve_base_source`."""
    resolved = resolve_base_source(source, results_root)
    if Path(resolved).is_dir():
        return Path(resolved)
    snapshot = _cached_snapshot(resolved, world_for(source).hub_revision(source))
    return Path(snapshot) if snapshot is not None else None


def _cached_snapshot(repo_id: str, revision: str | None) -> str | None:
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(repo_id, revision=revision, local_files_only=True)
    except Exception:  # noqa: BLE001 - not cached (or not a repo id): nothing to name
        return None


def _from_hub(cls, repo_id: str, kwargs: dict, revision: str | None = None):
    """`cls.from_pretrained(repo_id)` at `revision` (None: refs/main), from the HF cache, else downloaded where
    HF_HUB_OFFLINE is unset. Raises ErasureError (one line) where neither works."""
    if revision:  # a pinned commit: huggingface_hub resolves it to snapshots/<commit>/, no ref needed
        kwargs = {**kwargs, "revision": revision}
    try:
        return cls.from_pretrained(repo_id, local_files_only=True, **kwargs)
    except LOAD_ERRORS:
        snapshot = _cached_snapshot(repo_id, revision)
        if snapshot is not None:  # in the cache but broken: name the file
            _name_bad_weights(snapshot)
        if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0"):
            at = f" at the pinned commit {revision}" if revision else ""
            fix = f"`hf download {repo_id} --revision {revision}`, or " if revision else ""
            raise ErasureError(f"base_model {repo_id!r}: not in the Hugging Face cache{at} and HF_HUB_OFFLINE is set; "
                               f"{fix}{SD_HELP}") from None
    try:
        return cls.from_pretrained(repo_id, **kwargs)
    except LOAD_ERRORS as exc:
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise ErasureError(f"base_model {repo_id!r}: cannot load ({reason}); {SD_HELP}") from None
