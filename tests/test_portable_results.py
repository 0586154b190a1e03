"""Issue 32, kind 1: a finished project is not tied to the folder it ran in.

A job's identity (its recorded inputs and params, .snakemake/metadata) holds no machine path: paths inside the
working directory -- results/ and, in the default layout (`snakemake` in the checkout), the repository with its
shipped toy base -- are relative to it (erasure.external_inputs.dag_path). So the checkout moved with its results, or
a fresh copy of the code given the old results/ and .snakemake/, plans nothing. Uses the technique of
tests/test_reruns.py: every job of the DAG recorded as finished (`--touch`), in seconds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from test_reruns import materialise, planned, snakemake

CLONE_TRIGGERS = ("mtime", "params", "input", "software-env")  # Snakemake's default triggers but `code`

REPO = Path(__file__).resolve().parents[1]
CODE_ONLY = shutil.ignore_patterns(".git", ".snakemake", "results", "__pycache__", "*.egg-info", ".pytest_cache",
                                   ".ruff_cache", ".benchmarks", "experiments", "bench")


def checkout(dest: Path, *, keep_times: bool = True) -> Path:
    """A copy of the code (a clone: `keep_times=False` gives every file a new mtime, as `git clone` does)."""
    shutil.copytree(REPO, dest, ignore=CODE_ONLY, copy_function=shutil.copy2 if keep_times else shutil.copy)
    return dest


@pytest.fixture(scope="module")
def finished_in_checkout(tmp_path_factory) -> Path:
    """The default config "finished" in the default layout: Snakemake run in the checkout itself."""
    project = checkout(tmp_path_factory.mktemp("lab") / "erasure")
    materialise(project, project, [project / "config" / "config.yaml"])
    return project


def machine_paths(workdir: Path) -> list[tuple[str, str, str]]:
    """(rule, field, value) of every absolute path in the recorded inputs and params of `workdir`'s jobs."""
    found = []
    for record in (workdir / ".snakemake" / "metadata").iterdir():
        data = json.loads(record.read_text())
        for field in ("input", "params"):
            for value in data.get(field) or []:
                for token in str(value).replace("'", " ").replace('"', " ").replace(",", " ").split():
                    if token.startswith("/"):
                        found.append((data["rule"], field, token))
    return found


def test_recorded_inputs_and_params_hold_no_path_of_this_machine(finished_in_checkout):
    # before: 51 generate_set jobs and every toy score job named .../erasure/worlds/toy/assets/base/SHA256SUMS,
    # and every score job's params `backbone: /.../base/oracle`
    assert machine_paths(finished_in_checkout) == []


def test_the_checkout_moved_with_its_results_plans_nothing(finished_in_checkout, tmp_path):
    """The issue's example: before, 118 of 123 jobs ("Set of input files has changed since last execution")."""
    moved = tmp_path / "project-storage" / "erasure"
    moved.parent.mkdir()
    shutil.copytree(finished_in_checkout, moved, symlinks=True)  # `cp -a`: the whole checkout, results and all
    assert planned(moved, moved, [moved / "config" / "config.yaml"]) == {}


def test_a_clone_given_the_results_and_metadata_plans_nothing(finished_in_checkout, tmp_path):
    """A fresh clone's files are all newer than the results. Snakemake's `code` trigger reruns a script rule
    whose script file is newer than its outputs (an mtime test, not a content one), so the first plan after a
    clone leaves that trigger out (README: moving and sharing results); nothing else may differ."""
    clone = checkout(tmp_path / "clone", keep_times=False)
    for folder in ("results", ".snakemake"):
        shutil.copytree(finished_in_checkout / folder, clone / folder, symlinks=True)
    config = str(clone / "config" / "config.yaml")
    result = snakemake(clone, clone, "-n", "--rerun-triggers", *CLONE_TRIGGERS, "--configfile", config)
    assert result.returncode == 0, result.stderr
    assert "Nothing to be done" in result.stdout + result.stderr, result.stdout[-3000:]
    default = snakemake(clone, clone, "-n", "--configfile", config)
    reasons = set(re.findall(r"reason: ([^:\n]+)", default.stdout))
    assert reasons <= {"Code has changed since last execution", "Input files updated by another job"}, reasons


def test_dag_path_is_relative_inside_the_working_directory_only(tmp_path, monkeypatch):
    from erasure.external_inputs import dag_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    assert dag_path(tmp_path / "results" / "toy" / "x.csv") == Path("results/toy/x.csv")
    assert dag_path("results/toy/x.csv") == Path("results/toy/x.csv")  # as configured
    outside = Path(os.path.abspath(tmp_path / ".." / "elsewhere" / "model.safetensors"))
    assert dag_path(outside) == outside  # a file that does not move with the results keeps its path


def test_files_for_later_jobs_name_paths_relative_to_the_workdir_or_repository(tmp_path, monkeypatch):
    """The second instance: paired metrics' per-image `reference_path` held the reference image's absolute
    path (`/.../results/toy/images/sd/coco/coco-00000_93682.png`), and `backbone` the base's folder, in score
    files that summaries, tables and provenance read (erasure.scoring puts every row through this)."""
    import pandas as pd

    from erasure.scoring import _relative_paths
    from erasure.portable import relative

    monkeypatch.chdir(tmp_path)
    image = tmp_path / "results" / "toy" / "images" / "sd" / "coco" / "coco-00000_93682.png"
    shipped = REPO / "erasure" / "worlds" / "toy" / "assets" / "base" / "oracle"
    frame = _relative_paths(pd.DataFrame({"path": ["coco-00000_93682.png"], "reference_path": [str(image)],
                                          "backbone": [f"clean-fid==0.1.35 oracle:{shipped} features"]}))
    assert frame.loc[0, "reference_path"] == "results/toy/images/sd/coco/coco-00000_93682.png"
    assert frame.loc[0, "backbone"] == "clean-fid==0.1.35 oracle:erasure/worlds/toy/assets/base/oracle features"
    assert frame.loc[0, "path"] == "coco-00000_93682.png"
    assert relative("CompVis/stable-diffusion-v1-4") == "CompVis/stable-diffusion-v1-4"
    assert relative("/opt/weights/320n.onnx") == "/opt/weights/320n.onnx"  # outside both: as it is


def test_a_table_for_readers_shortens_machine_paths_in_string_columns(tmp_path):
    """Table 1's `backbone` column held machine paths (49 cells of the default run's table1.csv):
    portable_frame only looked at object columns, and pandas 3 reads text as `str` columns."""
    import io

    import pandas as pd

    from erasure.portable import portable_frame

    frame = pd.read_csv(io.StringIO("method,backbone,mean\nsd,oracle:/home/lab/erasure/base/oracle,0.5\n"))
    out = portable_frame(frame)
    assert out.loc[0, "backbone"] == "oracle:…/base/oracle" and out.loc[0, "mean"] == 0.5
