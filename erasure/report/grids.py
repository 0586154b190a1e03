"""Sample grids (Fig. 3/6/7 style): rows are methods, columns fixed (prompt, seed) pairs shared by all rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from erasure.errors import ErasureError
from erasure.report import style


def pick_cells(prompts: pd.DataFrame, lookup: Mapping[str, Mapping[tuple[str, int], Path]], *, n_prompts: int,
               n_seeds: int, prompt_ids: Sequence[str] | None = None) -> list[tuple[str, int]]:
    """(prompt_id, seed) pairs every method has: the first prompts in prompt-table order (or the ids given),
    each with its lowest `n_seeds` seeds."""
    shared = set.intersection(*(set(cells) for cells in lookup.values()))
    order = list(prompt_ids) if prompt_ids else list(prompts["prompt_id"])
    chosen = []
    for prompt_id in order:
        seeds = sorted(seed for pid, seed in shared if pid == prompt_id)[:n_seeds]
        if not seeds:
            if prompt_ids:
                raise ErasureError(f"report grid: prompt_id {prompt_id!r} has no image in every method's manifest")
            continue
        chosen += [(prompt_id, seed) for seed in seeds]
        if len({pid for pid, _ in chosen}) >= n_prompts:
            break
    if not chosen:
        raise ErasureError("report grid: no (prompt_id, seed) image is shared by all methods' manifests")
    return chosen


def plot_grid(manifests: Mapping[str, str | Path], prompts_file: str | Path, out: str | Path, *, n_prompts: int,
              n_seeds: int, prompt_ids: Sequence[str] | None = None, labels: Mapping[str, str] | None = None,
              title: str = "", dpi: int = 150, font_size: float = 10, cell_inches: float = 1.3) -> list:
    import matplotlib.pyplot as plt

    style.setup(font_size)
    labels = dict(labels or {})
    prompts = style.read_prompts(prompts_file)
    text = dict(zip(prompts["prompt_id"], prompts["prompt"]))
    lookup = style.image_lookup(manifests)
    cells = pick_cells(prompts, lookup, n_prompts=n_prompts, n_seeds=n_seeds, prompt_ids=prompt_ids)
    methods = list(manifests)
    fig, axes = plt.subplots(len(methods), len(cells), squeeze=False,
                             figsize=(cell_inches * len(cells) + 1.6, cell_inches * len(methods) + 0.9))
    for i, method in enumerate(methods):
        for j, (prompt_id, seed) in enumerate(cells):
            ax = axes[i][j]
            ax.imshow(style.load_image(lookup[method][(prompt_id, seed)]), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"{style.wrap(text.get(prompt_id, prompt_id), 16)}\nseed {seed}",
                             fontsize=font_size - 2)
            if j == 0:
                ax.set_ylabel(style.wrap(labels.get(method, method), 14), rotation=0, ha="right", va="center",
                              fontsize=font_size - 1)
    fig.suptitle(title or "Samples per method (rows) for fixed prompts and seeds (columns)")
    fig.tight_layout()
    style.save(fig, out, dpi)
    return cells
