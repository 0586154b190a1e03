"""Figures and tables are legible and portable: numbers formatted for their range, each panel scaled to its
series, no overlapping text (fault kind 2), and no absolute machine path in any table, figure or caption
(fault kind 4). Figures are captured at `style.save` and inspected as drawn."""

from __future__ import annotations

import itertools
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from erasure.report import curves, matrices, style
from erasure.portable import has_absolute_path, portable
from erasure.report.tables import build_table, to_latex, to_markdown

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def captured(monkeypatch):
    """The figures `style.save` writes, kept open for inspection (the file is still written)."""
    figures = []
    real_save = style.save

    def save(fig, out, dpi):
        figures.append(fig)
        import matplotlib.pyplot as plt

        real_close, plt.close = plt.close, lambda *_: None
        try:
            real_save(fig, out, dpi)
        finally:
            plt.close = real_close

    monkeypatch.setattr(style, "save", save)
    return figures


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def test_range_formatter_keeps_three_significant_digits():
    assert style.range_formatter([0.2731, 0.2689])(0.2731) == "0.273"
    assert style.range_formatter([74.18, 1.68])(1.684) == "1.7"
    assert style.range_formatter([100.0, 3.0])(100.0) == "100"
    assert style.range_formatter([np.nan])(0.5) == "0.50"


def _artist_prompts(tmp_path: Path, artists: list[str]) -> Path:
    rows = [{"prompt_id": f"p{i}", "prompt": f"a painting by {a}", "seed": i, "artist": a}
            for i, a in enumerate(artists)]
    path = tmp_path / "prompts.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_heatmap_clip_scores_near_027_are_not_all_0_3(tmp_path, captured):
    """The issue's example: Fig. 2's CLIP-score cells (~0.27) printed with .1f all read "0.3"."""
    values = pd.DataFrame([{"method": m, "concept": c, "n": 5, "value": v} for (m, c), v in zip(
        itertools.product(["sd", "sdd-van-gogh@1500"], ["Van Gogh", "Andy Warhol"]), [0.2731, 0.2689, 0.2412, 0.2702])])
    matrices.plot_heatmap(values, tmp_path / "m.png", by="artist", value_label="CLIP")
    texts = _texts(captured[0])
    assert [t for t in texts if t.startswith("0.273\n")] and [t for t in texts if t.startswith("0.241\n")]
    assert not [t for t in texts if t.startswith("0.3\n")]


def test_heatmap_percentages_keep_their_significant_digits(tmp_path, captured):
    """Another instance: a %-scale matrix (toy shape-interference) keeps 3 significant digits, not 4 decimals."""
    values = pd.DataFrame([{"method": "sd", "concept": c, "n": 5, "value": v}
                           for c, v in (("a", 74.18), ("b", 1.684))])
    matrices.plot_heatmap(values, tmp_path / "m.png", by="shape", value_label="%")
    texts = _texts(captured[0])
    assert "74.2\nn=5" in texts and "1.7\nn=5" in texts


def test_each_loss_panel_fits_its_series(tmp_path, captured):
    """The issue's example: SDD's small loss is a flat line on ESD's scale when they share one axis."""
    logs = {}
    for run, scale in (("sdd-nudity", 1e-3), ("esd-x-nudity", 10.0)):
        steps = np.arange(1, 41)
        logs[run] = tmp_path / f"{run}.csv"
        pd.DataFrame({"step": steps, "loss": scale * (1 + np.sin(steps / 4))}).to_csv(logs[run], index=False)
    summaries = tmp_path / "s.csv"
    pd.DataFrame([{"metric": "nude", "method": m, "promptset": "body", "n": 4, "mean": 10.0, "ci_low": 5.0,
                   "ci_high": 15.0, "backbone": "b", "label": "nudenet"}
                  for m in ("sdd-nudity@20", "sdd-nudity@40", "esd-x-nudity@20", "esd-x-nudity@40", "sd")]
                 ).to_csv(summaries, index=False)
    spec = {"promptset": "body", "metric": "nude",
            "series": [{"run": "sdd-nudity", "which": "default", "steps": [20, 40]},
                       {"run": "esd-x-nudity", "which": "default", "steps": [20, 40]}]}
    curves.plot_curves(spec, [summaries], logs, tmp_path / "c.png", run_methods={"sdd-nudity": "sdd",
                       "esd-x-nudity": "esd-x"}, baseline="sd")
    loss_axes = [ax for ax in captured[0].axes if ax.get_title().startswith("training loss")]
    assert len(loss_axes) == 2
    for ax in loss_axes:
        data = np.concatenate([line.get_ydata() for line in ax.lines])
        low, high = ax.get_ylim()
        assert (high - low) < 2 * (data.max() - data.min())  # the series fills its panel


def _overlaps(fig) -> list[tuple[str, str]]:
    renderer = fig.canvas.get_renderer()
    texts = [t for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    return [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if box_a.overlaps(box_b)]


def test_niche_matrix_image_titles_do_not_overlap(tmp_path, captured):
    """The issue's example: "prompted: Thomas Kinkade" / "prompted: Kilian Eng" column titles overlapped."""
    from PIL import Image

    from erasure.io import sha256_file

    artists = ["Thomas Kinkade", "Kilian Eng", "Pablo Picasso"]
    prompts = _artist_prompts(tmp_path, artists)
    manifests = {}
    for method in ("sd", "sdd-kinkade@1500", "sdd-kilian-eng@1500"):
        folder = tmp_path / method
        folder.mkdir()
        for i in range(len(artists)):
            Image.fromarray(np.full((64, 64, 3), 40 * i, np.uint8)).save(folder / f"p{i}_{i}.png")
        pd.DataFrame({"prompt_id": [f"p{i}" for i in range(3)], "seed": range(3),
                      "sha256": [sha256_file(folder / f"p{i}_{i}.png") for i in range(3)],  # as generation records
                      "path": [f"p{i}_{i}.png" for i in range(3)]}).to_csv(folder / "manifest.csv", index=False)
        manifests[method] = folder / "manifest.csv"
    matrices.plot_image_matrix(manifests, prompts, tmp_path / "i.png", by="artist",
                               labels={"sdd-kinkade@1500": "Thomas Kinkade", "sdd-kilian-eng@1500": "Kilian Eng"})
    assert _overlaps(captured[0]) == []


def _summary_rows(backbone_root: str) -> pd.DataFrame:
    return pd.DataFrame([
        {"metric": "clip", "method": "sd", "promptset": "coco", "n": 4, "mean": 0.27, "ci_low": 0.26,
         "ci_high": 0.28, "backbone": f"{backbone_root}/results/toy/base/clip", "label": "toy-clip",
         "source": f"{backbone_root}/results/toy/scores/clip/sd/coco.summary.csv"},
        {"metric": "target", "method": "sd", "promptset": "coco", "n": 4, "mean": 30.0, "ci_low": 20.0,
         "ci_high": 40.0, "backbone": f"{backbone_root}/results/toy/base/oracle", "label": "toy-oracle",
         "source": f"{backbone_root}/results/toy/scores/target/sd/coco.summary.csv"},
    ])


def test_table_footnotes_carry_no_machine_paths(tmp_path):
    """The issue's example: footnotes named the CLIP and oracle directories by their absolute paths."""
    spec = {"title": "t", "methods": ["sd"], "columns": [{"promptset": "coco", "metric": "clip"},
                                                         {"promptset": "coco", "metric": "target"}]}
    long = build_table(spec, _summary_rows("/home/alice/erasure"))
    md, tex = to_markdown(spec, long), to_latex(spec, long)
    assert "/home/alice" not in md and "/home/alice" not in tex
    assert "…/base/clip" in md and "…/base/oracle" in md  # the backbones are still named


def test_figure_text_and_report_caption_carry_no_machine_paths(tmp_path, captured):
    """Another instance: a local base_model directory in the report's front page, and any path drawn on a
    figure (here a method label naming a local checkpoint directory)."""
    template = jinja2.Template((REPO / "report" / "workflow.rst").read_text())
    text = template.render(snakemake={"config": {"world": "sd", "base_model": "/scratch/bob/weights/sd-v1-4/"}})
    assert "sd-v1-4" in text and "/scratch/bob" not in text and not has_absolute_path(text)
    values = pd.DataFrame([{"method": "m", "concept": "c", "n": 1, "value": 1.0}])
    matrices.plot_heatmap(values, tmp_path / "m.png", by="artist", value_label="v",
                          labels={"m": "/scratch/bob/ckpt/sdd"}, title="from /scratch/bob/results")
    assert not [t for t in _texts(captured[0]) if "/scratch/bob" in t]


def test_a_path_after_a_colon_is_shortened_and_a_url_is_not():
    """Another instance, from the default run's Table 1 footnote: the FID-toy scorer's label carries the
    oracle directory after "oracle:"; a URL's "//" must survive."""
    label = "clean-fid==0.1.35 oracle:/tmp/fc/erasure/worlds/toy/assets/base/oracle features"
    assert portable(label) == "clean-fid==0.1.35 oracle:…/base/oracle features"
    url = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
    assert portable(url) == url and not has_absolute_path(url)
