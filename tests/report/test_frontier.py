"""The erasure-retention frontier (erasure/report/frontier.py) on small synthetic score files."""

import pandas as pd
import pytest

from erasure import plan
from erasure.errors import ErasureError
from erasure.plan import frontier_cells
from erasure.report.frontier import OVERALL, frontier_data, plot_frontier

SPEC = {"rows": [{"label": "config", "target": "body", "retention": "coco"}],
        "series": [{"label": "SDD", "methods": ["sdd@100", "sdd@200"]}],
        "methods": ["sd"]}


def write(tmp_path, name, frame):
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def files(tmp_path):
    # retention prompts: 3 squares, 1 circle (unequal on purpose: the overall value weighs shapes equally)
    prompts = write(tmp_path, "coco", pd.DataFrame({
        "prompt_id": ["c0", "c1", "c2", "c3"], "prompt": ["a square", "a red square", "a blue square", "a circle"],
        "seed": 1, "shape": ["square", "square", "square", "circle"]}))
    target = {"sd": [100, 100, 0, 100], "sdd@100": [100, 0, 0, 0], "sdd@200": [0, 0, 0, 0]}
    ok = {"sd": [1, 1, 1, 1], "sdd@100": [1, 1, 0, 0], "sdd@200": [0, 1, 0, 1]}
    scores = {}
    for method in target:
        scores[("target", method, "body")] = write(tmp_path, f"t-{method}", pd.DataFrame(
            {"prompt_id": ["b0", "b1", "b2", "b3"], "value": target[method], "label": "toy-oracle"}))
        scores[("alignment", method, "coco")] = write(tmp_path, f"a-{method}", pd.DataFrame(
            {"prompt_id": ["c0", "c1", "c2", "c3"], "value": 0.0, "ok_shape": ok[method], "label": "toy-oracle"}))
    return scores, {"coco": prompts}


def test_frontier_values_are_per_shape_means_of_the_per_image_scores(files):
    scores, prompts = files
    data = frontier_data(SPEC, scores, prompts).set_index(["method", "group"])
    assert data.loc[("sd", OVERALL), "target"] == 75.0
    assert data.loc[("sdd@100", "square"), "retention"] == pytest.approx(200 / 3)
    assert data.loc[("sdd@100", "circle"), "retention"] == 0.0
    # the mean over shapes (33.3), not over images (50)
    assert data.loc[("sdd@100", OVERALL), "retention"] == pytest.approx(100 / 3)
    assert data.loc[("sdd@200", OVERALL), "retention"] == pytest.approx((100 / 3 + 100) / 2)
    assert data.loc[("sdd@200", "circle"), "n_retention"] == 1 and data.loc[("sdd@200", OVERALL), "n_retention"] == 4
    assert list(data.loc[(slice(None), OVERALL), "series"]) == [0, 0, -1]  # sd is a point, not a series


def test_frontier_plot_is_written(files, tmp_path):
    scores, prompts = files
    out = tmp_path / "frontier.png"
    plot_frontier(frontier_data(SPEC, scores, prompts), out, dpi=50)
    assert out.stat().st_size > 1000


def test_missing_retention_column_is_one_line(files, tmp_path):
    scores, prompts = files
    scores[("alignment", "sd", "coco")] = write(tmp_path, "bad", pd.DataFrame({"prompt_id": ["c0"], "value": [1.0]}))
    with pytest.raises(ErasureError, match="lack column 'ok_shape'"):
        frontier_data(SPEC, scores, prompts)


def test_plan_draws_and_scores_every_frontier_cell(repo):
    import yaml

    from erasure.config import validate_config

    with open(repo / "config/config.yaml") as handle:
        config = validate_config(yaml.safe_load(handle), repo / "config/schema.yaml")
    spec = config["report"]["frontiers"]["frontier"]
    sets, scores = set(plan.required_image_sets(config)), set(plan.required_scores(config))
    cells = frontier_cells(spec)
    assert ("alignment", "rece-triangle@2", "coco") in cells and ("target", "sega", "body") in cells
    for metric, method, promptset in cells:
        assert plan.ImageSet(method, promptset) in sets and (metric, method, promptset) in scores
