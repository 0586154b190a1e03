import copy

import pytest
import yaml

from erasure import plan
from erasure.config import validate_config
from erasure.errors import ErasureError
from erasure.metrics import catalog
from erasure.paths import MethodId


@pytest.fixture
def config(repo):
    with open(repo / "config/config.yaml") as handle:
        return validate_config(yaml.safe_load(handle), repo / "config/schema.yaml")


def test_method_ids_round_trip():
    assert MethodId.parse("sdd-triangle@300") == MethodId.of("sdd-triangle", 300)
    student = MethodId.parse("sdd-triangle.student@300")
    assert (student.run, student.step, student.which) == ("sdd-triangle", 300, "student")
    assert not MethodId.parse("sld-max").finetuned
    assert MethodId.parse("sdd+retain-triangle@10").run == "sdd+retain-triangle"


def test_every_table_cell_has_its_images_and_scores(config):
    sets = set(plan.required_image_sets(config))
    scores = set(plan.required_scores(config))
    for table in config["report"]["tables"].values():
        for method in table["methods"]:
            for column in table["columns"]:
                assert plan.ImageSet(method, column["promptset"]) in sets
                if not (catalog.is_paired(column["metric"]) and method == plan.reference_method(config)):
                    assert (column["metric"], method, column["promptset"]) in scores


def test_paired_metrics_pull_in_the_reference_and_skip_it(config):
    config = copy.deepcopy(config)
    config["report"] = {"tables": {"t": {"methods": ["sega"], "columns": [{"promptset": "coco", "metric": "paired-distance"}]}}}
    assert plan.ImageSet("sd", "coco") in plan.required_image_sets(config)
    assert ("paired-distance", "sd", "coco") not in plan.required_scores(config)
    assert ("paired-distance", "sega", "coco") in plan.required_scores(config)


def test_curves_ask_for_every_checkpoint(config):
    sets = plan.required_image_sets(config)
    for curve in config["report"]["curves"].values():
        for series in curve["series"]:
            for step in series["steps"]:
                name = MethodId.of(series["run"], step, student=series["which"] == "student").name
                assert plan.ImageSet(name, curve["promptset"]) in sets


def test_runs_are_trained_only_when_shown(config):
    config = copy.deepcopy(config)
    config["report"] = {"tables": {"t": {"methods": ["sd"], "columns": [{"promptset": "body", "metric": "target"}]}}}
    assert plan.required_runs(config) == []


@pytest.mark.parametrize(
    "method, message",
    [
        ("nonexistent", "unknown method 'nonexistent'"),
        ("ghost-run@100", "unknown run 'ghost-run'"),
        ("sdd-triangle@150", "not a checkpoint"),
        ("sdd-triangle@900", "> iterations"),
    ],
)
def test_report_naming_something_unknown_fails_clearly(config, method, message):
    config = copy.deepcopy(config)
    config["report"]["tables"]["table1"]["methods"].append(method)
    with pytest.raises(ErasureError, match=message):
        plan.required_image_sets(config)


def test_shards_cover_the_prompt_set(config):
    config = copy.deepcopy(config)
    config["prompt_sets"]["coco"].update(n_prompts=250, images_per_prompt=2)
    config["generation"]["shard_size"] = 100
    assert plan.n_images(config, "coco") == 500
    assert plan.n_shards(config, "coco") == 5
    config["generation"]["shard_size"] = 1000
    assert plan.n_shards(config, "coco") == 1


def _load(repo, name):
    with open(repo / "config" / name) as handle:
        return validate_config(yaml.safe_load(handle), repo / "config/schema.yaml")


def test_toy_world_every_table_method_draws_and_scores_every_toy_set(repo):
    config = _load(repo, "config.yaml")
    sets, scores = set(plan.required_image_sets(config)), set(plan.required_scores(config))
    methods = plan.table_methods(config)
    # i2p (Table 2's) and artists (no toy figure) are out: the front door draws what its report shows (issue 33)
    assert len(methods) == 10 and set(config["generation"]["every_method"]) == {"body", "coco"}  # issue 39's four: config/toy-baselines.yaml
    assert {"uce-triangle@1", "rece-triangle@6"} <= set(methods)  # closed-form edits draw every set too
    reference = plan.reference_method(config)
    for method in methods:
        for promptset in config["generation"]["every_method"]:
            spec = config["prompt_sets"][promptset]
            assert plan.ImageSet(method, promptset) in sets
            for metric in spec["metrics"]:
                if not (catalog.is_paired(metric) and method == reference):
                    assert (metric, method, promptset) in scores


@pytest.mark.parametrize("overlay", [None, "toy-table2.yaml", "toy-frontier.yaml", "toy-attacks.yaml"])
def test_the_toy_configs_draw_for_every_method_only_sets_their_report_shows(repo, overlay):
    """Issue 33: a set that every table method draws costs (methods x images) at the front door; one that no table,
    curve, grid, matrix or frontier of the config shows is paid for and never seen (i2p and artists were)."""
    from snakemake.utils import update_config

    with open(repo / "config" / "config.yaml") as handle:
        config = yaml.safe_load(handle)
    if overlay:  # as `--configfile config/config.yaml config/<overlay>` merges them
        with open(repo / "config" / overlay) as handle:
            update_config(config, yaml.safe_load(handle))
    config = validate_config(config, repo / "config/schema.yaml")
    shown = {image_set.promptset for image_set in plan.report_image_sets(config)}
    assert set(config["generation"].get("every_method", [])) <= shown


def test_paper_plans_58515_images_for_every_table_method(repo):
    config = _load(repo, "paper.yaml")
    paper_sets = {"country-body", "coco30k", "i2p"}  # the artists sets are Fig. 2's, drawn for its runs and sd
    per_method: dict[str, int] = {}
    for image_set in plan.required_image_sets(config):
        if image_set.promptset in paper_sets:
            per_method[image_set.method] = per_method.get(image_set.method, 0) + plan.n_images(config, image_set.promptset)
    methods = plan.table_methods(config)
    assert len(methods) == 21  # Table 1's ten + SAFREE, SalUn, MACE, AdvUnlearn (issue 39), Table 2's eight (UCE, RECE), sd in both
    assert {"uce-nudity@1", "rece-nudity@6", "uce-i2p@1"} <= set(methods)
    assert {per_method[m] for m in methods} == {5_000 + 30_000 + 23_515}


def test_every_method_naming_an_unknown_prompt_set_is_one_line(repo):
    config = _load(repo, "config.yaml")
    config["generation"]["every_method"] = ["body", "nosuch"]
    with pytest.raises(ErasureError, match="generation.every_method: unknown prompt set 'nosuch'"):
        plan.required_image_sets(config)


# --- set score jobs (a world with score_sets_together: erasure.plan.set_score_jobs) ----------------------


def test_set_score_jobs_group_a_sets_metrics_by_env_and_cover_each_cell_once():
    triples = [(m, method, "coco") for method in ("sd", "esd@1", "sdd@2") for m in ("alignment", "clip", "fid-toy")]
    triples += [("paired-distance", method, "coco") for method in ("esd@1", "sdd@2")]  # not the reference's
    triples += [("target", method, "body") for method in ("sd", "sdd@2")]  # one metric: its own rule
    triples += [(m, "sdd@2", "i2p") for m in ("target", "alignment")]
    env = {"clip": "score-clip"}.get
    jobs = plan.set_score_jobs(triples, lambda metric: env(metric, "toy"))
    cells = {(m, method, p): job.rule for job in jobs for m in job.metrics for method in job.methods
             for p in job.promptsets}
    # the product of each job's methods and prompt sets is exactly the cells it was made for
    assert len(cells) == sum(len(j.metrics) * len(j.methods) * len(j.promptsets) for j in jobs)
    by_rule = {j.rule: j for j in jobs}
    assert by_rule["score_alignment_fid_toy_paired_distance"].methods == ("esd@1", "sdd@2")
    assert by_rule["score_alignment_fid_toy"].methods == ("sd",)  # the reference method, without the paired metric
    assert by_rule["score_alignment_target"].promptsets == ("i2p",)
    assert all(j.env == "toy" for j in jobs)  # clip is alone in its env on each set: its own rule
    assert not any("clip" in j.metrics or "body" in j.promptsets for j in jobs)
    # one env for every metric (the toy world's score_env): clip joins its set's job
    together = plan.set_score_jobs(triples, lambda metric: "toy")
    assert {j.rule for j in together} == {"score_alignment_clip_fid_toy_paired_distance",
                                          "score_alignment_clip_fid_toy", "score_alignment_target"}
    assert {c for j in together for c in ((m, x, p) for m in j.metrics for x in j.methods for p in j.promptsets)} \
        == {t for t in triples if t[2] != "body"}


def test_set_score_jobs_number_rules_with_the_same_metrics_on_other_method_lists():
    triples = [(m, "a", "s1") for m in ("target", "alignment")] + [(m, "b", "s2") for m in ("target", "alignment")]
    jobs = plan.set_score_jobs(triples, lambda metric: "toy")
    assert [(j.rule, j.methods, j.promptsets) for j in jobs] == [
        ("score_alignment_target", ("a",), ("s1",)), ("score_alignment_target_2", ("b",), ("s2",))]


def test_a_report_cell_naming_a_metric_its_prompt_set_does_not_list_is_planned(config):
    """Issue 32 (kind 6): body lists only `target`; a body / clip cell is a required score, and a paired metric
    named only by a cell (body / paired-distance) still pulls in the reference method's set."""
    config = copy.deepcopy(config)
    config["generation"]["every_method"] = []
    assert "clip" not in config["prompt_sets"]["body"]["metrics"]
    config["report"] = {"tables": {"t": {"methods": ["sega"], "columns": [
        {"promptset": "body", "metric": "clip"}, {"promptset": "body", "metric": "paired-distance"}]}}}
    assert ("clip", "sega", "body") in plan.required_scores(config)
    assert ("paired-distance", "sega", "body") in plan.required_scores(config)
    assert set(plan.required_image_sets(config)) == {plan.ImageSet("sega", "body"), plan.ImageSet("sd", "body")}
    stages = plan.stage_targets(config, "results", "toy")
    assert "results/toy/scores/clip/sega/body.summary.csv" in stages["scores"]
    assert all(set(stages[a]) <= set(stages[b]) for a, b in zip(plan.STAGES, plan.STAGES[1:]))


def test_an_image_sets_shape_is_planned_once(config):
    """prompts x images per prompt, in shards of shard_size (the last one the rest): the one reader of
    images_per_prompt, for the generate params, the runtime requests, the cost model and the attack check."""
    config = copy.deepcopy(config)
    name = next(iter(config["prompt_sets"]))
    config["prompt_sets"][name].update(n_prompts=7, images_per_prompt=3)
    config["generation"]["shard_size"] = 5
    config["generation"].pop("shard_minutes", None)
    shape = plan.image_set_shape(config, name)
    assert (shape.n_images, shape.n_shards) == (21, 5)
    assert [shape.images_in_shard(s) for s in range(shape.n_shards)] == [5, 5, 5, 5, 1]
    assert plan.n_images(config, name) == 21 and plan.n_shards(config, name) == 5
    assert plan.image_set_shape(config, f"{name}~ring-a-bell") == shape  # an attacked copy: its set's shape
    config["prompt_sets"][name].pop("images_per_prompt")  # another instance: the default, one image per prompt
    assert plan.image_set_shape(config, name).n_images == 7


def test_only_the_plan_reads_images_per_prompt(repo):
    readers = [f"{path.relative_to(repo)}" for folder in ("erasure", "rules", "workflow_scripts")
               for path in sorted((repo / folder).rglob("*")) if path.suffix in (".py", ".smk")
               and '"images_per_prompt"' in path.read_text()]
    assert readers == ["erasure/plan/__init__.py"]
