"""Issue 17: the rules a config or file edit reruns are exactly those whose outputs depend on it.

The technique: a workdir where every job of a config's DAG looks finished, without running any — each output
created empty (folders for directory outputs) and `snakemake --touch --forceall` recording every job's
metadata (params, input checksums, code) as a real run would. A dry run with an edited config (or file) then
plans exactly the jobs that edit would rerun on a finished run, with Snakemake's default rerun triggers
(mtime, params, input, code, software-env): seconds per edit, on any config, paper.yaml included, no weights.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# --touch sleeps 0.1 s per job so that outputs come out newer than inputs; nanosecond mtimes make that moot
TOUCH = ("import sys, snakemake.executors.touch as t; t.Executor.SLEEPING_TIME = 0; "
         "from snakemake.cli import main; sys.argv[0] = 'snakemake'; main()")


def snakemake(repo: Path, workdir: Path, *args: str, env: dict | None = None,
              timeout: int = 600) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "-d", str(workdir), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def materialise(repo: Path, workdir: Path, configfiles: list[str | Path], *, env: dict | None = None) -> None:
    """Make `workdir` look like a finished run of `configfiles` (outputs empty, metadata recorded)."""
    config = ["--configfile", *map(str, configfiles)] if configfiles else []
    summary = snakemake(repo, workdir, "--summary", *config, env=env)
    assert summary.returncode == 0, summary.stderr
    for line in summary.stdout.splitlines()[1:]:
        path = workdir / line.split("\t")[0]
        if path.suffix:  # every file output here has a suffix; the folder outputs (toy base, reference) none
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        else:
            path.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-c", TOUCH, "-s", str(repo / "Snakefile"), "-d", str(workdir), *config,
               "--touch", "--forceall", "--cores", "1", "--quiet", "all"]
    touched = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    assert touched.returncode == 0, touched.stderr[-3000:]


def planned(repo: Path, workdir: Path, configfiles: list[str | Path], *, env: dict | None = None) -> dict[str, int]:
    """{rule: number of jobs} a dry run plans (the `all` target left out)."""
    result = snakemake(repo, workdir, "-n", "--configfile", *map(str, configfiles), env=env)
    assert result.returncode == 0, result.stderr + result.stdout
    text = result.stdout + result.stderr
    if "Job stats:" not in text:
        return {}
    table = text.split("Job stats:")[1].split("total")[0]
    jobs = {name: int(n) for name, n in re.findall(r"^(\S+)\s+(\d+)\s*$", table, flags=re.M)}
    jobs.pop("all", None)
    return jobs


# --- config keys: the default (toy) config ----------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
PAPER = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())


def _set(path: str, value):
    """An edit of the config: set the dotted key `path` (missing parents created)."""
    def edit(config):
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return edit


def _drop_column(table: str, promptset: str, metric: str):
    def edit(config):
        columns = config["report"]["tables"][table]["columns"]
        columns.remove({"promptset": promptset, "metric": metric})
    return edit


# The default config (toy): 8 table methods draw every_method's 4 sets (32 image sets) and the training curves
# 6 more body sets (sdd-triangle@100/200, its student @100/200/300, esd-x-triangle@100): 38 sets of one shard.
# Per method, every_method's scores: body target, coco alignment / fid-toy / paired-distance / clip, i2p target /
# alignment, artists alignment / clip = 7 toy + 2 CLIP jobs (sd, the reference method, has no paired distance).
EVERY_SCORE = {"score_toy": 8 * 7 - 1 + 6, "score_clip": 8 * 2}
EVERY_REPORT = {"report_table": 1, "report_curves": 1, "report_grid": 1, "report_matrix": 1, "report_provenance": 4}
KEY_EDITS = {  # key edited -> {rule: jobs rerun}
    # the set's metric list: no score of it is dropped (table1 shows coco clip), only the configs provenance records
    "prompt_sets.coco.metrics": (_set("prompt_sets.coco.metrics", ["alignment", "fid-toy", "paired-distance"]),
                                 {"report_provenance": 2}),
    # a metric setting: that metric's scores (14 body + 8 i2p sets) and what shows them
    "metrics.target.threshold": (_set("metrics.target.threshold", 0.6),
                                 {"score_toy": 22, "report_table": 1, "report_curves": 1, "report_provenance": 2}),
    "metrics.fid-toy.reference_images": (_set("metrics.fid-toy.reference_images", 500),
                                         {"toy_reference": 1, "score_toy": 8, "report_table": 1,
                                          "report_provenance": 1}),
    "report.style": (_set("report.style.dpi", 100),
                     {"report_curves": 1, "report_grid": 1, "report_matrix": 1, "report_provenance": 3}),
    "report.tables.table1.columns": (_drop_column("table1", "coco", "clip"),
                                     {"report_table": 1, "report_provenance": 1}),
    "report.grids.samples-body.n_seeds": (_set("report.grids.samples-body.n_seeds", 1),
                                          {"report_grid": 1, "report_provenance": 1}),
    # a run's iterations / checkpoints: that run and everything drawn from it (esd-x-triangle@200 x 4 sets and
    # @100 on body; sdd-triangle@300 x 4 sets and 5 curve sets on body)
    "runs.esd-x-triangle.iterations": (_set("runs.esd-x-triangle.iterations", 300),
                                       {"erase": 1, "generate_shard": 5, "merge_manifest": 5, "score_toy": 8,
                                        "score_clip": 2, **EVERY_REPORT}),
    "runs.sdd-triangle.checkpoint_every": (_set("runs.sdd-triangle.checkpoint_every", 50),
                                           {"erase": 1, "generate_shard": 9, "merge_manifest": 9, "score_toy": 12,
                                            "score_clip": 2, **EVERY_REPORT}),
    "inference_methods.sega.edit_guidance_scale": (_set("inference_methods.sega.edit_guidance_scale", 4.0),
                                                   {"generate_shard": 4, "merge_manifest": 4, "score_toy": 7,
                                                    "score_clip": 2, "report_table": 1, "report_provenance": 1}),
    # generation settings: every image set, no training, no prompt table
    "generation.shard_size": (_set("generation.shard_size", 100),  # i2p's 200 images now take 2 shards
                              {"generate_shard": 38 + 8, "merge_manifest": 38, **EVERY_SCORE, **EVERY_REPORT}),
    "generation.batch_size": (_set("generation.batch_size", 4),
                              {"generate_shard": 38, "merge_manifest": 38, **EVERY_SCORE, **EVERY_REPORT}),
    # sampling steps: every set but artists, whose own `sampling: {steps: 50}` wins
    "generation.sampling.steps": (_set("generation.sampling.steps", 20),
                                  {"generate_shard": 30, "merge_manifest": 30, "score_toy": 8 * 6 - 1 + 6,
                                   "score_clip": 8, **EVERY_REPORT}),
    "prompt_sets.artists.sampling.steps": (_set("prompt_sets.artists.sampling.steps", 40),
                                           {"generate_shard": 8, "merge_manifest": 8, "score_toy": 8,
                                            "score_clip": 8}),
    # guidance is a column of every prompt table
    "generation.sampling.guidance": (_set("generation.sampling.guidance", 6.0),
                                     {"prompts": 4, "generate_shard": 38, "merge_manifest": 38, **EVERY_SCORE,
                                      **EVERY_REPORT}),
    # images per prompt: the set's images, not its prompt table
    "prompt_sets.body.images_per_prompt": (_set("prompt_sets.body.images_per_prompt", 6),
                                           {"generate_shard": 14, "merge_manifest": 14, "score_toy": 14,
                                            "report_table": 1, "report_curves": 1, "report_grid": 1,
                                            "report_provenance": 3}),
}


@pytest.fixture(scope="module")
def finished_default(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("finished-default")
    materialise(REPO, workdir, [REPO / "config" / "config.yaml"])
    return workdir


@pytest.fixture(scope="module")
def finished_paper(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("finished-paper")
    materialise(REPO, workdir, [REPO / "config" / "paper.yaml"])
    return workdir


def _edited(base: dict, edit, tmp_path: Path) -> Path:
    config = copy.deepcopy(base)
    edit(config)
    file = tmp_path / "edited.yaml"
    file.write_text(yaml.safe_dump(config, sort_keys=False))
    return file


def test_a_finished_run_plans_nothing(finished_default):
    assert planned(REPO, finished_default, [REPO / "config" / "config.yaml"]) == {}


@pytest.mark.parametrize("key", list(KEY_EDITS))
def test_editing_a_config_key_reruns_exactly_what_depends_on_it(finished_default, tmp_path, key):
    edit, expected = KEY_EDITS[key]
    assert planned(REPO, finished_default, [_edited(DEFAULT, edit, tmp_path)]) == expected


def test_paper_dropping_lpips_from_coco30k_reruns_no_prompts_images_or_other_scores(finished_paper, tmp_path):
    """Issue 17 case 2, on paper.yaml: the set's metric list feeds the plan, not the prompt table or images."""
    assert planned(REPO, finished_paper, [REPO / "config" / "paper.yaml"]) == {}
    edited = _edited(PAPER, _set("prompt_sets.coco30k.metrics", ["fid", "clip"]), tmp_path)
    # only the provenance of the items on coco30k (tables 1 and 2, the COCO grid), which records the config
    assert planned(REPO, finished_paper, [edited]) == {"report_provenance": 3}
