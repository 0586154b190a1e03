"""The removal matrix (the paper's Fig. 2): erased concept (one method per row) x prompted concept.

Values come from the per-image score CSVs, joined to the prompt table on prompt_id and grouped by a
prompt-table column (`by`, e.g. shape, fill or artist): cell = scale x mean of one per-image column over
that method's images whose prompt names that concept. When the prompt table lacks the column, the
concept is parsed from the prompt text with a world's closed vocabulary (erasure.worlds.parse_prompt).
The same layout is drawn as an image grid, one fixed (prompt, seed) per prompted concept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from erasure.errors import ErasureError
from erasure.loads import read_csv
from erasure.report import style


def prompted_concepts(prompts: pd.DataFrame, by: str) -> pd.Series:
    """The prompted concept of every prompt: the prompt-table column `by`, else parsed from the text."""
    if by in prompts.columns:
        named = prompts[by].astype("string").str.strip()
    else:
        from erasure.worlds import parse_prompt

        named = pd.Series([parse_prompt(p).get(by) for p in prompts["prompt"]], index=prompts.index, dtype="string")
    return named.mask(named == "")  # "" = the prompt names no such concept


def concept_order(prompts: pd.DataFrame, by: str, concepts: Sequence[str] | None) -> list[str]:
    found = prompted_concepts(prompts, by).dropna()
    if concepts:
        missing = [c for c in concepts if c not in set(found)]
        if missing:
            raise ErasureError(f"report matrix: no prompt names {by}={missing[0]!r}; check `concepts` and `by`")
        return list(concepts)
    if found.empty:
        raise ErasureError(f"report matrix: no prompt names a {by!r} (prompt-table column or prompt text)")
    return sorted(set(found))


def matrix_values(score_files: Mapping[str, str | Path], prompts_file: str | Path, *, by: str, column: str = "value",
                  scale: float = 1.0, concepts: Sequence[str] | None = None) -> pd.DataFrame:
    """Long frame: method, concept, n, value (scale x mean of `column`), in row/column order."""
    prompts = style.read_prompts(prompts_file)
    prompts = prompts.assign(_concept=prompted_concepts(prompts, by))
    order = concept_order(prompts, by, concepts)
    rows = []
    for method, file in score_files.items():
        scores = read_csv(file, what="per-image scores", fix="delete it and rerun its score job",
                          dtype={"prompt_id": str})
        if column not in scores.columns:
            raise ErasureError(f"{file}: per-image scores lack column {column!r}; columns: {', '.join(scores.columns)}")
        joined = scores.merge(prompts[["prompt_id", "_concept"]], on="prompt_id", how="left")
        label = str(scores["label"].iloc[0]) if "label" in scores.columns and len(scores) else ""
        for concept in order:
            values = joined.loc[joined["_concept"] == concept, column].astype(float).dropna()
            rows.append({"method": method, "concept": concept, "n": len(values),
                         "value": float(values.mean() * scale) if len(values) else float("nan"), "label": label})
    return pd.DataFrame(rows)


def plot_heatmap(values: pd.DataFrame, out: str | Path, *, by: str, value_label: str,
                 labels: Mapping[str, str] | None = None, title: str = "", dpi: int = 150,
                 font_size: float = 10, vmin: float | None = None, vmax: float | None = None) -> None:
    import matplotlib.pyplot as plt

    style.setup(font_size)
    labels = dict(labels or {})
    methods = list(dict.fromkeys(values["method"]))
    concepts = list(dict.fromkeys(values["concept"]))
    grid = values.pivot(index="method", columns="concept", values="value").loc[methods, concepts].to_numpy(float)
    counts = values.pivot(index="method", columns="concept", values="n").loc[methods, concepts].to_numpy()
    fig, ax = plt.subplots(figsize=(1.1 * len(concepts) + 3.2, 0.6 * len(methods) + 1.8))
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", aspect="auto", vmin=vmin, vmax=vmax)
    low, high = image.get_clim()
    fmt = style.range_formatter(grid)
    for i in range(len(methods)):
        for j in range(len(concepts)):
            if np.isnan(grid[i, j]):
                ax.text(j, i, "no images", ha="center", va="center", fontsize=font_size - 2, color="0.4")
                continue
            dark = (grid[i, j] - low) < 0.5 * (high - low)
            ax.text(j, i, f"{fmt(grid[i, j])}\nn={counts[i, j]}", ha="center", va="center",
                    fontsize=font_size - 2, color="white" if dark else "black")
    ax.set_xticks(range(len(concepts)), concepts, rotation=30, ha="right")
    ax.set_yticks(range(len(methods)), [labels.get(m, m) for m in methods])
    ax.set_xlabel(f"prompted {by}")
    ax.set_ylabel("erased concept (method)")
    fig.colorbar(image, ax=ax, label=value_label)
    from erasure.report.labels import STANDIN_NOTE, any_standin

    standin = "label" in values.columns and any_standin(values["label"])
    ax.set_title(style.wrap(title or f"Erased concept x prompted {by}", 60)
                 + (f"\n{style.wrap(STANDIN_NOTE, 60)}" if standin else ""))
    fig.tight_layout()
    style.save(fig, out, dpi)


def plot_image_matrix(manifests: Mapping[str, str | Path], prompts_file: str | Path, out: str | Path, *, by: str,
                      concepts: Sequence[str] | None = None, n_seeds: int = 1,
                      labels: Mapping[str, str] | None = None, title: str = "", dpi: int = 150,
                      font_size: float = 10, cell_inches: float = 1.3) -> list[tuple[str, str, list[int]]]:
    """Rows methods, columns prompted concepts; each cell the first prompt naming that concept (prompt-table
    order) under its lowest `n_seeds` seeds shared by all methods, side by side."""
    import matplotlib.pyplot as plt

    style.setup(font_size)
    labels = dict(labels or {})
    prompts = style.read_prompts(prompts_file)
    prompts = prompts.assign(_concept=prompted_concepts(prompts, by))
    order = concept_order(prompts, by, concepts)
    lookup = style.image_lookup(manifests)
    shared = set.intersection(*(set(cells) for cells in lookup.values()))
    picks = []
    for concept in order:
        for prompt_id in prompts.loc[prompts["_concept"] == concept, "prompt_id"]:
            seeds = sorted(seed for pid, seed in shared if pid == prompt_id)[:n_seeds]
            if seeds:
                picks.append((concept, prompt_id, seeds))
                break
        else:
            raise ErasureError(f"report matrix: no image of a prompt naming {by}={concept!r} in every manifest")
    methods = list(manifests)
    cell_width = cell_inches * max(1, n_seeds) ** 0.5
    fig, axes = plt.subplots(len(methods), len(picks), squeeze=False,
                             figsize=(cell_width * len(picks) + 1.8, cell_inches * len(methods) + 1.2))
    # column titles and labels wrapped to their cell's width, so neighbours never overlap
    title_chars = style.text_width(cell_width * 0.95, font_size - 1)
    label_chars = style.text_width(cell_width * 0.95, font_size - 3)
    for i, method in enumerate(methods):
        for j, (concept, prompt_id, seeds) in enumerate(picks):
            ax = axes[i][j]
            ax.imshow(np.concatenate([style.load_image(lookup[method][(prompt_id, s)]) for s in seeds], axis=1),
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(style.wrap(f"prompted: {concept}", title_chars), fontsize=font_size - 1)
            if i == len(methods) - 1:
                ax.set_xlabel(style.wrap(f"{prompt_id}, seed {', '.join(map(str, seeds))}", label_chars),
                              fontsize=font_size - 3)
            if j == 0:
                ax.set_ylabel(style.wrap(labels.get(method, method), 14), rotation=0, ha="right", va="center")
    fig.suptitle(title or f"Erased concept (rows) x prompted {by} (columns)")
    fig.tight_layout()
    style.save(fig, out, dpi)
    return picks
