"""Checked loads: every file a job reads that a user, a crash or a copy can break goes through here.

A truncated safetensors file, a corrupt PNG or a malformed CSV otherwise surfaces as a library traceback
(`SafetensorError: invalid header length`, `OSError: image file is truncated`, `ParserError: ...`) that
names no file. Each loader here turns such a failure into one `ErasureError` line naming the file, what is
wrong and what to do (`fix`), and, where the file's sha256 is on record, compares it before parsing, so a
file that parses but is not the one recorded is caught as well.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from pathlib import Path

from erasure import io as _io
from erasure.errors import ErasureError

# What the parsers raise on bad bytes: PIL (UnidentifiedImageError is an OSError; some plugins raise
# SyntaxError / EOFError), pandas (ParserError, EmptyDataError and UnicodeDecodeError are ValueErrors),
# numpy, json; safetensors' own SafetensorError is added where it is importable.
# Looked up when first needed, not at import: the report env (envs/report.yaml) has no safetensors.
_BASE_PARSE_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, SyntaxError, EOFError)


@functools.cache
def _parse_errors() -> tuple[type[BaseException], ...]:
    try:
        from safetensors import SafetensorError
    except ImportError:
        return _BASE_PARSE_ERRORS
    return (*_BASE_PARSE_ERRORS, SafetensorError)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__


@contextlib.contextmanager
def parse_errors(path: str | os.PathLike, what: str, fix: str) -> Iterator[None]:
    """Re-raise any parser failure inside the block as one ErasureError line: `{path}: unreadable {what}
    ({reason}); {fix}`. An ErasureError raised inside passes through unchanged."""
    try:
        yield
    except ErasureError:
        raise
    except FileNotFoundError:
        raise ErasureError(f"{path}: {what} not found; {fix}") from None
    except _parse_errors() as exc:
        raise ErasureError(f"{path}: unreadable {what} ({_reason(exc)}); {fix}") from None


# file_sha256: sha256 hashed at most once per process while a file is unchanged (erasure.io owns the memo and
# the cache across jobs, erasure.io.cached_sha256)
file_sha256 = _io.file_sha256


def verify_sha256(path: str | os.PathLike, expected: str, *, what: str, fix: str, record: str | os.PathLike = "") -> None:
    """Raise unless `path` exists and has sha256 `expected` (lowercase hex); `record` names the file that
    records it (a manifest), when there is one, in the error line."""
    path = Path(path)
    if not path.is_file():
        raise ErasureError(f"{path}: {what} not found; {fix}")
    digest = file_sha256(path)
    if digest != str(expected).lower():
        where = f"{record} records" if record else "its record says"
        raise ErasureError(f"{path}: {what} has sha256 {digest[:16]}…, {where} {str(expected)[:16]}… "
                           f"(truncated, corrupted or replaced); {fix}")


def load_safetensors(path: str | os.PathLike, *, what: str = "safetensors file", fix: str,
                     sha256: str | None = None, device: str = "cpu") -> dict:
    """{name: torch.Tensor} from a safetensors file; `sha256` (when recorded) is checked first."""
    from safetensors.torch import load_file

    if sha256 is not None:
        verify_sha256(path, sha256, what=what, fix=fix)
    with parse_errors(path, what, fix):
        return load_file(str(path), device=device)


def safetensors_metadata(path: str | os.PathLike, *, what: str = "safetensors file", fix: str) -> dict:
    """The header's `__metadata__` strings ({} when there are none)."""
    from safetensors import safe_open

    with parse_errors(path, what, fix), safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata() or {})


def read_csv(path: str | os.PathLike, *, what: str = "CSV file", fix: str, **kwargs):
    """`pandas.read_csv(path, **kwargs)`; a file pandas cannot parse (torn, binary, empty) is one line."""
    import pandas as pd

    with parse_errors(path, what, fix):
        return pd.read_csv(path, **kwargs)


def load_rgb(path: str | os.PathLike, *, fix: str = "regenerate or remove it"):
    """uint8 [H, W, 3] RGB array of an image file, read as clean-fid reads it (PIL `.convert("RGB")`; a
    `.npy` file is loaded as the array it holds, never unpickled). Truncated or non-image bytes: one line."""
    import numpy as np
    from PIL import Image

    with parse_errors(path, "image", fix):
        if str(path).endswith(".npy"):
            array = np.load(path, allow_pickle=False)
            if array.ndim != 3 or array.shape[-1] != 3:
                raise ValueError(f"array of shape {array.shape}, expected [H, W, 3]")
            return np.ascontiguousarray(array.astype(np.uint8))
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def from_pretrained_checked(load, directory: str | os.PathLike, *, what: str, fix: str):
    """`load(directory)` (a `from_pretrained`), with a broken weights file named: transformers lets a bare
    `SafetensorError: invalid header length` through and diffusers quotes a clipped path, neither saying
    which file of the folder is bad."""
    try:
        return load(directory)
    except ErasureError:
        raise
    except _parse_errors() as exc:
        bad = first_unreadable_safetensors(directory) if Path(directory).is_dir() else None
        if bad is not None:
            raise ErasureError(f"{bad[0]}: unreadable {what} weights ({bad[1]}; truncated or corrupted); {fix}") from None
        raise ErasureError(f"{directory}: cannot load the {what} ({_reason(exc)}); {fix}") from None


def first_unreadable_safetensors(directory: str | os.PathLike) -> tuple[Path, str] | None:
    """(file, reason) of the first `*.safetensors` under `directory` whose header does not parse or does
    not cover the file (a truncated copy), else None. Reads headers only, so it is cheap after a failure of
    a library (diffusers, transformers) that loads a whole folder and does not say which file was bad."""
    from safetensors import safe_open

    for file in sorted(Path(directory).rglob("*.safetensors")):
        try:
            with safe_open(str(file), framework="pt"):
                pass
        except _parse_errors() as exc:
            return file, _reason(exc)
    return None
