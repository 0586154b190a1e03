"""Shared figure plumbing: a headless backend, one font size, atomic PNG writes, data loading helpers."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
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
    """Write `fig` as PNG; every text on it (titles, labels, legends, annotations) loses its absolute paths
    first (erasure.portable), so no figure carries the machine's folders."""
    from matplotlib.text import Text

    from erasure.portable import portable

    for text in fig.findobj(Text):
        text.set_text(portable(text.get_text()))
    for ax in fig.axes:  # text tick labels are redrawn by their formatter at save time: wrap it (numeric
        for axis in (ax.xaxis, ax.yaxis):  # formatters such as ScalarFormatter draw no paths; left alone)
            formatter = axis.get_major_formatter()
            if isinstance(formatter, (matplotlib.ticker.FuncFormatter, matplotlib.ticker.FixedFormatter)):
                axis.set_major_formatter(matplotlib.ticker.FuncFormatter(
                    lambda x, pos, _f=formatter: portable(_f(x, pos))))
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)


def wrap(text: str, width: int = 22) -> str:
    """Wrap at spaces, and before the "@" of a method id ("sdd-triangle@300" -> "sdd-triangle" / "@300",
    not "sdd-triangle@3" / "00")."""
    lines = textwrap.wrap(str(text).replace("@", " @"), width, break_on_hyphens=False)
    return "\n".join(line.replace(" @", "@") for line in lines) or str(text)


def range_formatter(values, significant: int = 3):
    """A formatter for numbers drawn on one figure: `significant` digits of the largest magnitude, the same
    decimals for every value (so 0.2731 -> "0.273", 74.18 -> "74.2", 100 -> "100"; never "0.3" for CLIP
    scores that differ in the second decimal)."""
    finite = [abs(float(v)) for v in np.ravel(values) if v is not None and np.isfinite(float(v))]
    top = max(finite, default=0.0)
    digits = int(np.floor(np.log10(top))) + 1 if top > 0 else 1
    decimals = max(0, significant - digits)
    return lambda value: f"{float(value):.{decimals}f}"


def text_width(inches: float, font_size: float) -> int:
    """How many characters of `font_size` fit in `inches` (an average glyph is ~0.6 em wide)."""
    return max(4, int(inches * 72 / (0.6 * font_size)))


def read_prompts(path: str | Path) -> pd.DataFrame:
    table = read_csv(path, what="prompt table", fix="rerun the prompts rule", dtype={"prompt_id": str, "prompt": str})
    for column in ("prompt_id", "prompt"):
        if column not in table.columns:
            raise ErasureError(f"{path}: prompt table lacks column {column!r}; rebuild the prompt set")
    return table.drop_duplicates("prompt_id")


def read_manifest(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    table = read_csv(path, what="manifest", fix="delete it and rerun the rule that wrote it (generate_set, or merge_manifest for a set of several shards)",
                     dtype={"prompt_id": str, "path": str, "sha256": str})
    missing = [c for c in ("prompt_id", "seed", "path", "sha256") if c not in table.columns]
    if missing:
        raise ErasureError(f"{path}: manifest lacks columns {', '.join(missing)}; regenerate it")
    table["seed"] = table["seed"].astype(int)
    table["file"] = [path.parent / p for p in table["path"]]
    return table


@dataclass(frozen=True)
class RecordedImage:
    """One image of a generated set as its manifest records it: `file` (manifest folder / path), `sha256`."""

    file: Path
    sha256: str
    manifest: Path


def load_image(image: RecordedImage) -> np.ndarray:
    """uint8 [H, W, 3] of a generated image, verified against the sha256 its manifest records first: a figure
    never shows bytes other than the ones scored. Missing, replaced or unreadable: one ErasureError line naming
    the image, the manifest and how to regenerate it (erasure.metrics.images.regenerate_fix)."""
    from erasure.metrics.images import regenerate_fix
    from erasure.loads import verify_sha256

    fix = regenerate_fix(image.manifest, image.file)
    if not isinstance(image.sha256, str) or len(image.sha256) != 64:
        raise ErasureError(f"{image.manifest}: no sha256 recorded for {image.file.name}; delete the manifest and rerun snakemake")
    verify_sha256(image.file, image.sha256, what="generated image", fix=fix, record=image.manifest)
    return load_rgb(image.file, fix=fix)


def image_lookup(manifests: Mapping[str, str | Path]) -> dict[str, dict[tuple[str, int], RecordedImage]]:
    """{method: {(prompt_id, seed): the image as its manifest records it}}: a figure loads (and so hashes)
    only the images it shows (`load_image`)."""
    return {method: {(r.prompt_id, int(r.seed)): RecordedImage(Path(r.file), r.sha256, Path(path))
                     for r in read_manifest(path).itertuples()}
            for method, path in manifests.items()}
