"""Getting an upstream prompt file we do not ship: a configured local path, else a download from a
configured URL; either way checked against the pinned sha256 and copied into the results tree."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from pathlib import Path

from erasure.errors import ErasureError
from erasure.io import atomic_path, sha256_file


def fetch_source(out: str | Path, *, name: str, url: str | None = None, sha256: str | None = None,
                 path: str | None = None, timeout: float = 60.0) -> Path:
    """Write the prompt file of prompt set `name` to `out`; raise one ErasureError line on any failure."""
    out = Path(out)
    key = f"prompt_sets.{name}"
    if not url and not path:
        raise ErasureError(f"{key}: no url and no path; set {key}.path to a local copy of the file or {key}.url")
    with atomic_path(out) as tmp:
        if path:
            local = Path(path).expanduser()
            if not local.is_file():
                raise ErasureError(f"{key}.path: {local} does not exist; fix the path or remove it to download {url or '(no url set)'}")
            shutil.copyfile(local, tmp)
            origin = str(local)
        else:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as handle:
                    shutil.copyfileobj(response, handle)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = str(getattr(exc, "reason", exc)).splitlines()[0][:120]
                raise ErasureError(
                    f"{key}.url: cannot download {url} ({reason}); offline? download it elsewhere and set {key}.path"
                ) from None
            origin = url
        if sha256:
            actual = sha256_file(tmp)
            if actual != sha256.lower():
                raise ErasureError(
                    f"{key}: {origin} has sha256 {actual}, expected {sha256}; wrong file, or set {key}.sha256 to accept it"
                )
    return out
