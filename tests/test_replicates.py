"""Training seeds as replicates (issue 37): names, plan, seeds, pairing, the two-level interval, the table."""

from __future__ import annotations

import copy
import numpy as np
import pandas as pd
import pytest
import yaml

from erasure import paths, plan
from erasure.config import validate_config
from erasure.errors import ErasureError
from erasure.metrics.summary import bootstrap_ci, paired_values, two_level_bootstrap_ci
from erasure.paths import MethodId
from erasure.report import targets
from erasure.report.tables import OVERLAP_MARK, add_replicates, build_table, read_summaries, to_markdown, write_table


@pytest.fixture
def config(repo):
    with open(repo / "config/config.yaml") as handle:
        return validate_config(yaml.safe_load(handle), repo / "config/schema.yaml")


def _with(config, repo, **top):
    config = copy.deepcopy(config)
    config.update(top)
    return validate_config(config, repo / "config/schema.yaml")


# --- names ---------------------------------------------------------------------------------------------


def test_a_replicate_is_a_run_name_with_dot_r_and_parses_back_to_its_configured_run():
    parsed = MethodId.parse("sdd-triangle.r3.student@200")
    assert (parsed.run, parsed.config_run, parsed.replicate, parsed.which, parsed.step) == \
        ("sdd-triangle.r3", "sdd-triangle", 3, "student", 200)
    assert MethodId.of("esd-u-triangle", 200, replicate=2).name == "esd-u-triangle.r2@200"
    assert MethodId.parse("esd-u-triangle.r2@200").as_replicate(0) == MethodId.parse("esd-u-triangle@200")
    # replicate 0 is the run under its own name: no second name for it, and `+` / `-` stay run-name characters
    assert not MethodId.parse("esd-u-triangle.r0@200").finetuned
    assert MethodId.parse("sdd+retain-r2@10").replicate == 0
    assert paths.split_run("esd-u-triangle.r12") == ("esd-u-triangle", 12)
    assert paths.replicate_run("esd-u-triangle", 0) == "esd-u-triangle"
    assert paths.run_dir("results", "toy", "esd-u-triangle.r2").name == "esd-u-triangle.r2"


# --- plan and seeds ------------------------------------------------------------------------------------


def test_without_replicates_the_plan_and_the_erase_params_are_as_before(config):
    assert "replicates" not in config and all("replicates" not in run for run in config["runs"].values())
    assert not [r for r in plan.required_runs(config) if "." in r]
    for run in plan.required_runs(config):
        assert plan.run_seed(config, run) == config["runs"][run]["seed"]
        assert plan.run_config(config, run) is config["runs"][run]
    inputs = targets.item_inputs(config, "results", "toy", "table1")
    assert set(inputs) == {"summaries"}


def test_replicates_train_with_seed_plus_r_and_table_methods_draw_every_replicate(config, repo):
    config = _with(config, repo, replicates=3)
    config["runs"]["esd-u-triangle"]["seed"] = 7
    runs = plan.required_runs(config)
    assert {"esd-u-triangle", "esd-u-triangle.r1", "esd-u-triangle.r2"} <= set(runs)
    assert "esd-u-triangle.r3" not in runs
    assert [plan.run_seed(config, f"esd-u-triangle{s}") for s in ("", ".r1", ".r2")] == [7, 8, 9]
    # closed-form edits have no training seed: the config-wide default leaves them at one
    assert not [r for r in runs if r.startswith(("uce-", "rece-")) and "." in r]
    sets = set(plan.required_image_sets(config))
    for promptset in ("body", "coco"):
        for r in range(3):
            assert plan.ImageSet(MethodId.of("sdd-triangle", 300, replicate=r).name, promptset) in sets
    scores = set(plan.required_scores(config))
    assert ("fid-toy", "sdd-triangle.r2@300", "coco") in scores
    # the table reads every replicate's per-image scores, replicate 0 included
    replicate_files = targets.item_inputs(config, "results", "toy", "table1")["replicates"]
    assert str(paths.score_csv("results", "toy", "target", "esd-x-triangle.r2@200", "body")) in replicate_files
    assert str(paths.score_csv("results", "toy", "target", "esd-x-triangle@200", "body")) in replicate_files


def test_a_run_overrides_the_config_wide_replicates_and_bad_replicates_are_one_line(config, repo):
    config = _with(config, repo, replicates=2)
    config["runs"]["sdd-triangle"]["replicates"] = 1
    assert plan.run_replicates(config, "sdd-triangle") == 1 and plan.run_replicates(config, "esd-x-triangle") == 2
    with pytest.raises(ErasureError, match="run 'sdd-triangle.r1'"):
        plan.run_config(config, "sdd-triangle.r1")
    config["report"]["tables"]["table1"]["methods"].append("esd-x-triangle.r5@200")
    with pytest.raises(ErasureError, match=r"esd-x-triangle.r5@200.*2 replicate"):
        plan.required_image_sets(config)
    bad = copy.deepcopy(config)
    bad["runs"]["uce-triangle"]["replicates"] = 3
    with pytest.raises(ErasureError, match=r"runs.uce-triangle.replicates: 3.*closed-form"):
        validate_config(bad, repo / "config/schema.yaml")
    bad = copy.deepcopy(config)
    bad["replicates"] = 0
    with pytest.raises(ErasureError, match="replicates"):
        validate_config(bad, repo / "config/schema.yaml")


def test_the_overlay_plans_replicates_of_the_table1_runs_drawn_from_the_same_prompt_table(repo, tmp_path):
    from tests.snakemake_cli import job_counts, snakemake

    configs = ("--configfile", str(repo / "config/config.yaml"), str(repo / "config/toy-replicates.yaml"))
    result = snakemake(tmp_path, "-n", *configs, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    counts = job_counts(result.stdout + result.stderr)
    assert counts["erase"] == 15 and counts["edit"] == 2  # 3 fine-tuning runs x 5 seeds; edits stay single
    # each replicate's images come from the same prompt table as replicate 0's: same prompts, same seeds
    manifest = paths.manifest("results", "toy", "esd-u-triangle.r4@200", "body")
    listed = snakemake(tmp_path, "-n", str(manifest), *configs, timeout=300)  # targets before --configfile
    assert listed.returncode == 0, listed.stderr[-2000:]
    text = listed.stdout + listed.stderr
    block = text.split("rule generate_set:")[1]
    inputs = [line for line in block.splitlines() if line.strip().startswith("input:")][0]
    assert "results/toy/prompts/body.csv" in inputs and "results/toy/models/esd-u-triangle.r4/complete.json" in inputs
    assert "wildcards: world=toy, run=esd-u-triangle.r4" in text


# --- pairing and the two-level interval ------------------------------------------------------------------


def _scores(values, order=None):
    keys = [(f"p{i // 2}", 10 + i % 2) for i in range(len(values))]
    frame = pd.DataFrame({"prompt_id": [k[0] for k in keys], "seed": [k[1] for k in keys], "value": values})
    return frame if order is None else frame.iloc[order].reset_index(drop=True)


def test_replicates_pair_image_by_image_on_prompt_and_seed():
    a = _scores([0.0, 1.0, 2.0, 3.0])
    b = _scores([10.0, 11.0, 12.0, 13.0], order=[3, 1, 0, 2])  # another job's row order
    values = paired_values([a, b])
    np.testing.assert_array_equal(values[1] - values[0], [10.0, 10.0, 10.0, 10.0])
    other = _scores([0.0, 1.0, 2.0, 3.0])
    other.loc[3, "seed"] = 99
    with pytest.raises(ErasureError, match="different images"):
        paired_values([a, other])


def test_two_level_interval_is_wider_when_seeds_differ_and_equal_when_they_do_not():
    rng = np.random.default_rng(3)
    images = rng.normal(size=400)
    low, high = bootstrap_ci(images)
    same = np.stack([images] * 5)
    same_low, same_high = two_level_bootstrap_ci(same)
    assert same_high - same_low == pytest.approx(high - low, rel=1e-9)
    shifted = same + rng.normal(scale=0.2, size=(5, 1))  # each training seed moves every image a little
    wide_low, wide_high = two_level_bootstrap_ci(shifted)
    assert wide_high - wide_low > 1.5 * (high - low)
    # a set-level metric (one value per replicate): an interval over seeds alone; one replicate: none
    assert two_level_bootstrap_ci(np.array([[1.0], [2.0], [1.5]]))[0] >= 1.0
    assert np.isnan(two_level_bootstrap_ci(np.array([[1.0]]))[0])


# --- the table -------------------------------------------------------------------------------------------


SPEC = {"title": "t", "methods": ["sd", "esd-u-triangle@200"],
        "columns": [{"promptset": "body", "metric": "target"}, {"promptset": "coco", "metric": "fid-toy"}]}


def _write_cell(root, metric, method, promptset, frame):
    score = paths.score_csv(root, "toy", metric, method, promptset)
    score.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(score, index=False)
    return score


def _summary(root, metric, method, promptset, n, mean, low, high):
    summary = paths.score_summary(root, "toy", metric, method, promptset)
    summary.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([{"metric": metric, "method": method, "promptset": promptset, "n": n, "mean": mean,
                   "ci_low": low, "ci_high": high, "backbone": "b", "label": "toy", "total": 0.0}]).to_csv(summary,
                                                                                                        index=False)
    return summary


def _fixture(root, target_shift, fid):
    rng = np.random.default_rng(0)
    base = (rng.random(40) < 0.3).astype(float)
    summaries = [_summary(root, "target", "sd", "body", 40, 0.9, 0.8, 1.0),
                 _summary(root, "fid-toy", "sd", "coco", 40, 100.0, float("nan"), float("nan")),
                 _summary(root, "target", "esd-u-triangle@200", "body", 40, base.mean(), *bootstrap_ci(base)),
                 _summary(root, "fid-toy", "esd-u-triangle@200", "coco", 40, fid[0], float("nan"), float("nan"))]
    files = []
    for r, (shift, value) in enumerate(zip(target_shift, fid)):
        method = MethodId.of("esd-u-triangle", 200, replicate=r).name
        flipped = base.copy()
        flipped[: int(shift)] = 1.0 - flipped[: int(shift)]
        files.append(_write_cell(root, "target", method, "body", _scores(flipped)))
        files.append(_write_cell(root, "fid-toy", method, "coco",
                                 pd.DataFrame({"set_level": [True], "n": [40], "value": [value]})))
    return summaries, files


def test_a_replicated_cell_shows_the_mean_over_seeds_and_says_how_its_interval_was_made(tmp_path):
    summaries, files = _fixture(tmp_path, target_shift=[0, 8, 16], fid=[120.0, 140.0, 130.0])
    plain = build_table(SPEC, read_summaries(summaries))
    long = add_replicates(plain, files)
    cells = long.set_index(["method", "metric"])
    target, image_only = cells.loc[("esd-u-triangle@200", "target")], plain.set_index(["method", "metric"]).loc[
        ("esd-u-triangle@200", "target")]
    assert target["replicates"] == 3 and target["interval"].startswith("two-level") and target["seed_sd"] > 0
    means = [pd.read_csv(f)["value"].mean() for f in files if "target" in str(f)]
    assert target["mean"] == pytest.approx(np.mean(means)) and target["n"] == 40
    # replicate 0's image-only interval, which the single-run table showed, is narrower than the two-level one
    assert target["ci_high"] - target["ci_low"] > image_only["ci_high"] - image_only["ci_low"]
    fid = cells.loc[("esd-u-triangle@200", "fid-toy")]
    assert fid["mean"] == pytest.approx(130.0) and 120.0 <= fid["ci_low"] < fid["ci_high"] <= 140.0
    assert cells.loc[("sd", "target"), "replicates"] == 1 and cells.loc[("sd", "target"), "mean"] == 0.9
    markdown = to_markdown(SPEC, long)
    assert "two-level bootstrap" in markdown and "esd-u-triangle@200 (3)" in markdown
    assert "130.00 [120.00, 140.00]" in markdown  # FID has an interval now: over seeds


def test_overlapping_the_best_cells_interval_is_marked_and_separated_cells_are_not(tmp_path):
    summaries, files = _fixture(tmp_path, target_shift=[0, 1, 2], fid=[120.0, 121.0, 119.0])
    long = add_replicates(build_table(SPEC, read_summaries(summaries)), files)
    # %TARGET: lower is better; esd-u (~0.3) is best and sd's [0.8, 1.0] does not reach its interval
    target = long[long["metric"] == "target"].set_index("method")
    assert not target.loc["sd", "overlaps_best"] and not target.loc["esd-u-triangle@200", "overlaps_best"]
    # now sd's interval reaches down into esd-u's: marked
    long.loc[(long["method"] == "sd") & (long["metric"] == "target"), "ci_low"] = 0.0
    from erasure.report.tables import _mark_overlaps

    marked = _mark_overlaps(long)
    assert marked[(marked["method"] == "sd") & (marked["metric"] == "target")]["overlaps_best"].item()
    assert f"{OVERLAP_MARK}" in to_markdown(SPEC, marked)


def test_with_one_replicate_the_table_is_byte_identical(tmp_path, config, repo):
    summaries, files = _fixture(tmp_path, target_shift=[0], fid=[120.0])
    outputs = {}
    for name, replicate_files in (("plain", ()), ("one", files)):
        out = {ext: tmp_path / f"{name}.{ext}" for ext in ("csv", "md", "tex")}
        write_table(SPEC, summaries, csv=out["csv"], md=out["md"], tex=out["tex"], replicate_files=replicate_files)
        outputs[name] = {ext: path.read_bytes() for ext, path in out.items()}
    assert outputs["plain"] == outputs["one"]


def test_a_curve_point_of_a_replicated_run_is_the_mean_over_seeds_with_the_two_level_band(tmp_path, config, repo):
    from erasure.report.curves import curve_points

    summaries, files = _fixture(tmp_path, target_shift=[0, 8, 16], fid=[120.0, 140.0, 130.0])
    spec = {"promptset": "body", "metric": "target", "series": [{"run": "esd-u-triangle", "steps": [200]}]}
    single = curve_points(spec, read_summaries(summaries)).iloc[0]
    point = curve_points(spec, read_summaries(summaries), files).iloc[0]
    assert single["replicates"] == 1 and point["replicates"] == 3
    means = [pd.read_csv(f)["value"].mean() for f in files if "target" in str(f)]
    assert point["mean"] == pytest.approx(np.mean(means))
    assert point["ci_high"] - point["ci_low"] > single["ci_high"] - single["ci_low"]
    # the plan draws every replicate of a curve's checkpoints, and the curve job reads their per-image scores
    config = _with(config, repo, replicates=2)
    assert plan.ImageSet("sdd-triangle.r1.student@100", "body") in set(plan.required_image_sets(config))
    inputs = targets.item_inputs(config, "results", "toy", "training-curves")
    assert str(paths.score_csv("results", "toy", "target", "esd-x-triangle.r1@100", "body")) in inputs["replicates"]


def test_a_frontier_method_with_replicates_is_the_mean_over_seeds_with_its_spread(tmp_path, config, repo):
    from erasure.report.frontier import OVERALL, frontier_data, plot_frontier

    def write(name, frame):
        path = tmp_path / f"{name}.csv"
        frame.to_csv(path, index=False)
        return path

    prompts = {"coco": write("coco", pd.DataFrame({"prompt_id": ["c0", "c1"], "prompt": ["a square", "a circle"],
                                                   "seed": 1, "shape": ["square", "circle"]}))}
    spec = {"rows": [{"label": "config", "target": "body", "retention": "coco"}],
            "series": [{"label": "ESD-u", "methods": ["esd-u@200"]}], "methods": ["sd"]}
    target = {"sd": [100, 100], "esd-u@200": [0, 0], "esd-u.r1@200": [100, 0], "esd-u.r2@200": [100, 100]}
    ok = {"sd": [1, 1], "esd-u@200": [1, 0], "esd-u.r1@200": [1, 1], "esd-u.r2@200": [0, 0]}
    files = {}
    for method in target:
        files[("target", method, "body")] = write(f"t-{method}", pd.DataFrame(
            {"prompt_id": ["b0", "b1"], "value": target[method], "label": "toy-oracle"}))
        files[("alignment", method, "coco")] = write(f"a-{method}", pd.DataFrame(
            {"prompt_id": ["c0", "c1"], "value": 0.0, "ok_shape": ok[method], "label": "toy-oracle"}))
    replicas = {cell: f for cell, f in files.items() if ".r" in cell[1]}
    plain = {cell: f for cell, f in files.items() if ".r" not in cell[1]}
    single = frontier_data(spec, plain, prompts)
    assert "replicates" not in single.columns  # the frontier's CSV of single runs keeps its columns
    data = frontier_data(spec, plain, prompts, replicas).set_index(["method", "group"])
    esd = data.loc[("esd-u@200", OVERALL)]
    assert esd["replicates"] == 3 and esd["target"] == pytest.approx(50.0)  # seeds: 0, 50, 100
    assert esd["target_sd"] == pytest.approx(50.0) and esd["retention"] == pytest.approx(50.0)
    assert data.loc[("sd", OVERALL), "replicates"] == 1 and data.loc[("sd", OVERALL), "target"] == 100.0
    out = tmp_path / "frontier.png"
    plot_frontier(data.reset_index(), out, dpi=50)
    assert out.stat().st_size > 1000
    # the plan draws the replicates of every frontier cell, and the frontier job reads them
    config = _with(config, repo, replicates=2)
    assert plan.ImageSet("esd-u-triangle.r1@200", "coco") in set(plan.required_image_sets(config))
    inputs = targets.item_inputs(config, "results", "toy", "frontier")
    assert str(paths.score_csv("results", "toy", "alignment", "sdd-triangle.r1@100", "coco")) in inputs["replicates"]
    assert not [f for f in inputs["replicates"] if "/sdd-triangle@100/" in f]  # replicate 0 is among `scores`
