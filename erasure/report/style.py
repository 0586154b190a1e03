"""Shared figure plumbing: a headless backend, one font size, atomic PNG writes, data loading helpers."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from erasure.errors import ErasureError  # noqa: E402
from erasure.io import atomic_path  # noqa: E402
from erasure.loads import load_rgb, read_csv  # noqa: E402


def setup(font_size: float) -> None:
    plt.rcParams.update({"font.size": font_size, "axes.titlesize": font_size + 1, "axes.labelsize": font_size,
                         "legend.fontsize": font_size - 1, "figure.titlesize": font_size + 2,
                         "savefig.bbox": "tight", "savefig.facecolor": "white"})


def save(fig, out: str | Path, dpi: int) -> None:
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)


def wrap(text: str, width: int = 22) -> str:
    """Wrap at spaces, and before the "@" of a method id ("sdd-triangle@300" -> "sdd-triangle" / "@300",
    not "sdd-triangle@3" / "00")."""
    lines = textwrap.wrap(str(text).replace("@", " @"), width, break_on_hyphens=False)
    return "\n".join(line.replace(" @", "@") for line in lines) or str(text)


def read_prompts(path: str | Path) -> pd.DataFrame:
    table = read_csv(path, what="prompt table", fix="rerun the prompts rule", dtype={"prompt_id": str, "prompt": str})
    for column in ("prompt_id", "prompt"):
        if column not in table.columns:
            raise ErasureError(f"{path}: prompt table lacks column {column!r}; rebuild the prompt set")
    return table.drop_duplicates("prompt_id")


def read_manifest(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    table = read_csv(path, what="manifest", fix="delete it and rerun the merge_manifest rule",
                     dtype={"prompt_id": str, "path": str, "sha256": str})
    missing = [c for c in ("prompt_id", "seed", "path") if c not in table.columns]
    if missing:
        raise ErasureError(f"{path}: manifest lacks columns {', '.join(missing)}; regenerate it")
    table["seed"] = table["seed"].astype(int)
    table["file"] = [path.parent / p for p in table["path"]]
    return table


def load_image(file: str | Path) -> np.ndarray:
    if not Path(file).is_file():
        raise ErasureError(f"{file}: image listed in its manifest is missing; rerun generation")
    return load_rgb(file, fix="delete it and rerun its generate_shard job")


def image_lookup(manifests: Mapping[str, str | Path]) -> dict[str, dict[tuple[str, int], Path]]:
    """{method: {(prompt_id, seed): image file}}."""
    return {method: {(r.prompt_id, int(r.seed)): Path(r.file) for r in read_manifest(path).itertuples()}
            for method, path in manifests.items()}
