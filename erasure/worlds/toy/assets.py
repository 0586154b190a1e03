"""The shipped toy base: locate it and verify it against its SHA256SUMS before anyone loads it."""

from __future__ import annotations

from pathlib import Path

from erasure.errors import ErasureError
from erasure.io import sha256_file

SHIPPED_BASE = Path(__file__).resolve().parent / "assets" / "base"
_FIX = "reinstall the package, `git checkout -- {path}`, or rebuild it with the workflow's `toy_base` target"


def verify_base_dir(base_dir: str | Path) -> Path:
    """Check every file listed in `base_dir/SHA256SUMS`; raise ErasureError naming the first bad file."""
    base_dir = Path(base_dir)
    sums = base_dir / "SHA256SUMS"
    if not sums.is_file():
        raise ErasureError(f"{sums}: checksum list missing; " + _FIX.format(path=base_dir))
    for lineno, line in enumerate(sums.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            digest, rel = line.split(maxsplit=1)
        except ValueError:
            raise ErasureError(f"{sums}:{lineno}: malformed line; " + _FIX.format(path=base_dir)) from None
        path = base_dir / rel.strip().lstrip("*")
        if not path.is_file():
            raise ErasureError(f"{path}: file missing from the toy base; " + _FIX.format(path=path))
        if sha256_file(path) != digest:
            raise ErasureError(f"{path}: checksum mismatch (corrupted or modified); " + _FIX.format(path=path))
    return base_dir


def shipped_base_dir() -> Path:
    """`erasure/worlds/toy/assets/base`, verified."""
    return verify_base_dir(SHIPPED_BASE)
