"""The DAG as Snakemake sees it: plans, config errors, per-rule conventions."""

import re

import pytest
import yaml

from tests.snakemake_cli import job_counts
from tests.snakemake_cli import snakemake as _snakemake

CONFIGS = ["config/config.yaml", "config/smoke.yaml", "config/paper.yaml"]


def snakemake(repo, workdir, *args, timeout=120):
    return _snakemake(workdir, *args, timeout=timeout)


# closed-form edit runs (rules/edit.smk) and one image set each plans downstream of them
EDITS = {"config/config.yaml": (["rece-triangle", "uce-triangle"], "images/rece-triangle@2/coco/"),
         "config/smoke.yaml": ([], None),
         "config/paper.yaml": (["mace-nudity", "rece-nudity", "uce-i2p", "uce-nudity"], "images/uce-i2p@1/i2p/")}


@pytest.mark.parametrize("configfile", CONFIGS)
def test_dry_run_plans_every_stage(repo, tmp_path, configfile):
    result = snakemake(repo, tmp_path, "-n", "--configfile", str(repo / configfile))
    assert result.returncode == 0, result.stderr + result.stdout
    jobs = job_counts(result.stdout)
    assert jobs.get("erase", 0) >= 3
    runs, image_set = EDITS[configfile]
    assert jobs.get("edit", 0) == len(runs)  # an edit run is an edit job, never a training (erase) job
    edited = re.findall(r"rule edit:\n(?:\s+.*\n)*?\s+wildcards: world=\w+, run=(\S+)", result.stdout)
    assert sorted(edited) == runs
    assert image_set is None or image_set in result.stdout
    assert jobs.get("generate_shard", 0) + jobs.get("generate_set", 0) >= 10
    assert sum(count for name, count in jobs.items() if name.startswith("score_")) >= 10
    assert jobs.get("all") == 1
    if configfile == "config/paper.yaml":  # Table 3: 10 methods x 18 shards of 8 prompts (white-box), one GPU each;
        # Ring-A-Bell's 18 shards once per text encoder: SD's, shared by nine, and AdvUnlearn's own
        assert jobs.get("attack_shard") == 180 and jobs.get("attack_text_shard") == 36
        assert jobs.get("attack_merge") == 20 and jobs.get("attack_table") == 1
        blocks = [b for b in result.stdout.split("\nrule ")[1:] if b.startswith(("attack_shard:", "attack_text_shard:"))]
        assert len(blocks) == 180 + 36 and all("gpu=1," in b for b in blocks)
    else:
        assert "attack_shard" not in jobs  # attacks are an overlay (config/toy-attacks.yaml)


def test_default_config_is_the_toy_world_and_a_given_config_replaces_it(repo, tmp_path):
    default = snakemake(repo, tmp_path, "-n", "--quiet", "rules")
    assert default.returncode == 0, default.stderr
    paper = snakemake(repo, tmp_path, "-n", "--configfile", str(repo / "config/paper.yaml"))
    assert paper.returncode == 0, paper.stderr
    assert "triangle" not in paper.stdout  # toy runs must not leak into the paper DAG
    assert "results/sd/" in paper.stdout


def test_toy_table2_overlay_adds_the_multi_concept_runs_and_table(repo, tmp_path):
    default = job_counts(snakemake(repo, tmp_path, "-n", "--configfile", str(repo / "config/config.yaml")).stdout)
    result = snakemake(repo, tmp_path, "-n", "--configfile", str(repo / "config/config.yaml"),
                       str(repo / "config/toy-table2.yaml"))
    assert result.returncode == 0, result.stderr + result.stdout
    jobs = job_counts(result.stdout)
    assert jobs["erase"] == default["erase"] + 3 and jobs["report_table"] == default["report_table"] + 1
    assert jobs["edit"] == default["edit"] + 1
    for expected in ("models/sdd-multi/", "models/esd-x-multi/", "models/sdd-multi-official/", "tables/table2.csv",
                     "sld-max-multi", "sdd-multi-official@200", "models/uce-multi/", "images/uce-multi@1/i2p/"):
        assert expected in result.stdout


def test_misspelt_key_fails_with_one_line_naming_it(repo, tmp_path):
    bad = (repo / "config/config.yaml").read_text().replace("checkpoint_every: 100", "checkpoint_evry: 100", 1)
    configfile = tmp_path / "bad.yaml"
    configfile.write_text(bad)
    result = snakemake(repo, tmp_path, "-n", "--configfile", str(configfile))
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and "checkpoint_evry" in lines[-1] and str(configfile) in lines[-1]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("old, new, expected", [
    ("sega, esd-u-triangle@200", "sega, esd-u-triangle@150", "step 150 is not a checkpoint"),
    ("every_method: [body, coco]", "every_method: [body, cocoa]", "unknown prompt set 'cocoa'"),
])
def test_report_naming_what_the_config_lacks_fails_with_one_line(repo, tmp_path, old, new, expected):
    text = (repo / "config/config.yaml").read_text()
    assert old in text
    configfile = tmp_path / "bad.yaml"
    configfile.write_text(text.replace(old, new, 1))
    result = snakemake(repo, tmp_path, "-n", "--configfile", str(configfile))
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(f"error: {configfile}: ") and expected in lines[-1]
    assert "Traceback" not in result.stderr


def test_every_rule_names_log_threads_resources_and_conda(repo, tmp_path):
    result = snakemake(repo, tmp_path, "--lint", "text")
    assert "Congratulations" in result.stdout + result.stderr, result.stdout[-3000:]


def test_shims_survive_snakemakes_script_preamble(repo):
    # Snakemake prepends code to a `script:`, so a `from __future__` import there is a SyntaxError.
    for shim in (repo / "workflow_scripts").glob("*.py"):
        assert "from __future__" not in shim.read_text(), shim.name


# The stage targets, in order: a job belongs to the first stage whose target needs it. A job drawing or scoring
# an attacked set (`{promptset}~{attack}`) waits for the attack jobs, so it is of the attack stage; Q16's
# converted prompts are an input of SD's preflight gate, which every generate job waits for.
STAGES = ("images", "scores", "attacks", "all")


def job_stage(rule: str, outputs: str) -> int:
    if rule == "all" or rule.startswith("report_"):
        return 3
    if rule.startswith("attack_") or "~" in outputs:
        return 2
    if rule.startswith("score_") or rule in ("summarize_score", "toy_reference", "fid_reference"):
        return 1
    return 0


def planned_job_set(repo, workdir, target, configfiles) -> set[tuple[str, str]]:
    """(rule, outputs) of every job a dry run of `target` plans."""
    result = snakemake(repo, workdir, "-n", target, "--configfile", *map(str, configfiles))
    assert result.returncode == 0, result.stderr + result.stdout
    jobs = set()
    for block in re.split(r"\n(?=(?:local)?rule \S+:)", result.stdout):
        if match := re.match(r"(?:local)?rule (\S+):", block):
            outputs = re.search(r"^\s+output: (.*)$", block, flags=re.M)
            jobs.add((match[1], outputs[1] if outputs else ""))
    return jobs


def assert_stage_targets_plan_all_up_to_their_stage(repo, workdir, configfiles):
    everything = planned_job_set(repo, workdir, "all", configfiles)
    assert everything
    for index, stage in enumerate(STAGES[:-1]):
        planned = {job for job in planned_job_set(repo, workdir, stage, configfiles) if job[0] != stage}
        expected = {job for job in everything if job_stage(*job) <= index}
        assert planned == expected, (stage, sorted(expected - planned)[:5], sorted(planned - expected)[:5])
    return everything


@pytest.mark.parametrize("configfile", CONFIGS)
def test_stage_targets_plan_the_jobs_of_all_up_to_their_stage(repo, tmp_path, configfile):
    """`images`, `scores` and `attacks` plan exactly `all`'s jobs of their stage and the ones before it."""
    assert_stage_targets_plan_all_up_to_their_stage(repo, tmp_path, [repo / configfile])


def test_a_table_cell_naming_a_metric_its_prompt_set_does_not_list_is_scored_by_scores(repo, tmp_path):
    """Issue 32's example: a body / clip cell (body lists only target) is a score of `all`, so of `scores`."""
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    table = config["report"]["tables"]["table1"]
    assert "clip" not in config["prompt_sets"]["body"]["metrics"]
    table["columns"].append({"promptset": "body", "metric": "clip"})
    configfile = tmp_path / "body-clip.yaml"
    configfile.write_text(yaml.safe_dump(config))
    everything = assert_stage_targets_plan_all_up_to_their_stage(repo, tmp_path, [configfile])
    scored = {m for rule, out in everything for m in re.findall(r"scores/clip/([^/,]+)/body\.summary\.csv", out)}
    assert scored == set(table["methods"])


def test_the_attacks_plain_sets_are_drawn_by_images_and_scored_by_scores(repo, tmp_path):
    """Second instance: the attack overlay's plain sets (each attacked method on the `attack` prompt set, Table 3's
    pre-attack column) are shown by no report item, yet `all` draws and scores them; so do `images` and `scores`."""
    configfiles = [repo / "config/config.yaml", repo / "config/toy-attacks.yaml"]
    everything = assert_stage_targets_plan_all_up_to_their_stage(repo, tmp_path, configfiles)
    drawn = {m for rule, out in everything for m in re.findall(r"images/([^/,]+)/attack/manifest\.csv", out)}
    assert drawn == set(yaml.safe_load(configfiles[1].read_text())["attacks"]["methods"])
