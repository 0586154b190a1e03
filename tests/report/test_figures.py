"""Figure data equal their sources; report targets follow the config."""

from __future__ import annotations

import pandas as pd
import pytest

from erasure import paths
from erasure.errors import ErasureError
from erasure.report import targets
from erasure.report.curves import curve_points
from erasure.report.matrices import matrix_values
from erasure.report.tables import read_summaries

from .conftest import load_config


def test_curve_points_are_the_checkpoint_summaries(built_workdir, smoke_config):
    spec = smoke_config["report"]["curves"]["training-curves"]
    files = targets.item_inputs(smoke_config, built_workdir / "results", "toy", "training-curves")["summaries"]
    points = curve_points(spec, read_summaries(files))
    assert len(points) == sum(len(s["steps"]) for s in spec["series"])
    for row in points.itertuples():
        summary = pd.read_csv(paths.score_summary(built_workdir / "results", "toy", "target", row.method, "body"))
        assert row.mean == summary["mean"].iloc[0]
    assert set(points["method"]) >= {"sdd-triangle@2", "sdd-triangle.student@4", "esd-x-triangle@4"}


def test_matrix_cells_are_means_over_prompts_naming_each_concept(built_workdir, smoke_config):
    spec = smoke_config["report"]["matrices"]["shape-interference"]
    root = built_workdir / "results"
    files = {m: paths.score_csv(root, "toy", "alignment", m, "coco") for m in spec["methods"]}
    values = matrix_values(files, paths.prompt_table(root, "toy", "coco"), by="shape", column="ok_shape", scale=100)
    prompts = pd.read_csv(paths.prompt_table(root, "toy", "coco"), dtype={"prompt_id": str})
    scores = pd.read_csv(files["sdd-triangle@4"], dtype={"prompt_id": str}).merge(prompts, on="prompt_id")
    expected = scores.groupby("shape")["ok_shape"].mean() * 100
    got = values[values["method"] == "sdd-triangle@4"].set_index("concept")["value"]
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
    assert (built_workdir / "results/toy/tables/shape-interference.csv").is_file()


@pytest.mark.parametrize("name", ["config", "smoke", "paper"])
def test_report_targets_cover_every_item(name):
    config = load_config(name)
    files = targets.report_targets(config, "results", config["world"])
    for key in ("tables", "curves", "grids", "matrices"):
        for item in config["report"].get(key, {}):
            assert f"results/{config['world']}/provenance/{item}.json" in files
    assert len(files) == len(set(files))


def test_item_names_must_be_unique_across_kinds():
    report = {"tables": {"x": {}}, "grids": {"x": {}}}
    with pytest.raises(ErasureError, match="report.grids.x"):
        targets.report_items(report)


@pytest.mark.parametrize(("text", "width", "lines"), [
    ("sdd-triangle@300", 14, ["sdd-triangle", "@300"]),           # never "sdd-triangle@3" / "00"
    ("esd-x-triangle@200", 22, ["esd-x-triangle@200"]),
    ("a shape on the beach", 16, ["a shape on the", "beach"]),
])
def test_labels_wrap_at_spaces_and_before_the_step(text, width, lines):
    from erasure.report.style import wrap

    assert wrap(text, width).split("\n") == lines
