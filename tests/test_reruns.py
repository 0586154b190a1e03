"""Issue 17: the rules a config or file edit reruns are exactly those whose outputs depend on it.

The technique: a workdir where every job of a config's DAG looks finished, without running any — each output
created empty (folders for directory outputs) and `snakemake --touch --forceall` recording every job's
metadata (params, input checksums, code) as a real run would. A dry run with an edited config (or file) then
plans exactly the jobs that edit would rerun on a finished run, with Snakemake's default rerun triggers
(mtime, params, input, code, software-env): seconds per edit, on any config, paper.yaml included, no weights.
"""

from __future__ import annotations

import copy
import json
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
    # issue 32: each per-image score file has its summary derived by its own job (summarize_score); a rescored
    # file reruns exactly its summary, so that count is checked here against the score jobs' outputs, and the
    # expectations below name the jobs that compute something
    rescored, rule = 0, None
    for line in text.splitlines():
        if m := re.match(r"^(?:local)?rule (\S+):$", line):
            rule = m[1]
        elif rule and rule.startswith("score_") and (m := re.match(r"^\s+output: (.*)$", line)):
            rescored += len(m[1].split(","))
    summaries = re.search(r"^summarize_score\s+(\d+)\s*$", table, flags=re.M)
    assert (int(summaries[1]) if summaries else 0) == rescored, (summaries, rescored)
    table = re.sub(r"^summarize_score\s+\d+\s*$", "", table, flags=re.M)
    jobs: dict[str, int] = {}
    for name, n in re.findall(r"^(\S+)\s+(\d+)\s*$", table, flags=re.M):
        # one score rule per metric, counted by scorer family; a set's rule (a world that scores a set's metrics
        # in one job, erasure.plan.set_score_jobs: the toy's) counted with the toy scorers
        name = SCORE_FAMILY.get(name, "score_toy" if name.startswith("score_") else name)
        jobs[name] = jobs.get(name, 0) + int(n)
    jobs.pop("all", None)
    return jobs


# score_<metric> rule -> its scorer family (the conda env of its erasure.metrics.catalog entry), so expectations
# read per family
SCORE_FAMILY = {
    f"score_{metric.replace('-', '_')}": family
    for family, metrics in {
        "score_toy": ("target", "alignment", "fid-toy", "paired-distance"),
        "score_clip": ("harm", "clip", "fid", "lpips"),
        "score_nudenet": ("nude", "nude-mace"),
    }.items()
    for metric in metrics
}


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


# The default config (toy): 10 table methods (5 inference-time, 3 fine-tuned, 2 closed-form edits) draw
# every_method's 2 sets, body and coco (20 image sets); the training curves 6 more body sets (sdd-triangle@100/200,
# its student @100/200/300, esd-x-triangle@100); the frontier 5 more (coco of sdd-triangle@100/200 and
# esd-x-triangle@100, body and coco of rece-triangle@2): 31 sets of one shard.
# Per method, every_method's scores: body target (its own rule: one metric), and one job per set for coco
# (alignment / fid-toy / paired-distance / clip; sd, the reference method, has no paired distance): the toy world
# scores a set's metrics together (erasure.worlds: score_sets_together) = 2 jobs; the curve sets' body target (6);
# the frontier sets' body target (1) and coco (4).
EVERY_SCORE = {"score_toy": 10 * 2 + 6 + 1 + 4}
EVERY_REPORT = {"report_table": 1, "report_curves": 1, "report_grid": 1, "report_matrix": 1, "report_frontier": 1,
                "report_provenance": 5}
KEY_EDITS = {  # key edited -> {rule: jobs rerun}
    # the set's metric list: the plan keeps every score a report item reads (erasure.plan), so the 10 table
    # methods' coco sets, whose clip Table 1 still shows, are scored exactly as before; only the 4 frontier
    # checkpoints' coco jobs rescore without clip, and the frontier reruns (on SD, one job per metric: nothing
    # reruns, test_paper_dropping_lpips_... below)
    "prompt_sets.coco.metrics": (_set("prompt_sets.coco.metrics", ["alignment", "fid-toy", "paired-distance"]),
                                 {"score_toy": 4, "report_frontier": 1, "report_provenance": 3}),
    # a metric setting: the sets scored with it (17 body) and what shows them
    "metrics.target.threshold": (_set("metrics.target.threshold", 0.6),
                                 {"score_toy": 17, "report_table": 1, "report_curves": 1, "report_frontier": 1,
                                  "report_provenance": 3}),
    # fid-toy: the 10 table methods' coco sets and the frontier's 4, each set's job rescoring all its metrics
    # (so what reads coco alignment, the frontier and the matrix, reruns too)
    "metrics.fid-toy.reference_images": (_set("metrics.fid-toy.reference_images", 500),
                                         {"toy_reference": 1, "score_toy": 14, "report_table": 1,
                                          "report_frontier": 1, "report_matrix": 1, "report_provenance": 3}),
    "report.style": (_set("report.style.dpi", 100),
                     {"report_curves": 1, "report_grid": 1, "report_matrix": 1, "report_frontier": 1,
                      "report_provenance": 4}),
    "report.tables.table1.columns": (_drop_column("table1", "coco", "clip"),
                                     {"report_table": 1, "report_provenance": 1}),
    "report.grids.samples-body.n_seeds": (_set("report.grids.samples-body.n_seeds", 1),
                                          {"report_grid": 1, "report_provenance": 1}),
    # a run's iterations / checkpoints: that run and everything drawn from it (esd-x-triangle@200 x 2 sets,
    # @100 on body and coco; sdd-triangle@300 x 2 sets, 5 curve sets on body, @100/@200 on coco)
    "runs.esd-x-triangle.iterations": (_set("runs.esd-x-triangle.iterations", 300),
                                       {"erase": 1, "generate_set": 4, "score_toy": 4, **EVERY_REPORT}),
    "runs.sdd-triangle.checkpoint_every": (_set("runs.sdd-triangle.checkpoint_every", 50),
                                           {"erase": 1, "generate_set": 9, "score_toy": 9, **EVERY_REPORT}),
    # sega: a table row and a point of the frontier
    "inference_methods.sega.edit_guidance_scale": (_set("inference_methods.sega.edit_guidance_scale", 4.0),
                                                   {"generate_set": 2, "score_toy": 2, "report_table": 1, "report_frontier": 1,
                                                    "report_provenance": 2}),
    # generation settings: every image set, no training, no prompt table
    "generation.shard_size": (_set("generation.shard_size", 50),  # coco's 64 images now take 2 shards
                              {"generate_set": 17, "generate_shard": 14 * 2, "merge_manifest": 14, **EVERY_SCORE,
                               **EVERY_REPORT}),
    "generation.batch_size": (_set("generation.batch_size", 4),
                              {"generate_set": 31, **EVERY_SCORE, **EVERY_REPORT}),
    # sampling steps: every set the default draws
    "generation.sampling.steps": (_set("generation.sampling.steps", 20),
                                  {"generate_set": 31, **EVERY_SCORE, **EVERY_REPORT}),
    # a setting of a set that nothing in the default draws (artists, out of every_method: issue 33): nothing
    "prompt_sets.artists.sampling.steps": (_set("prompt_sets.artists.sampling.steps", 40), {}),
    # guidance is a column of every prompt table
    "generation.sampling.guidance": (_set("generation.sampling.guidance", 6.0),
                                     {"prompts": 2, "generate_set": 31, **EVERY_SCORE,
                                      **EVERY_REPORT}),
    # images per prompt: the set's images, not its prompt table
    "prompt_sets.body.images_per_prompt": (_set("prompt_sets.body.images_per_prompt", 6),
                                           {"generate_set": 17, "score_toy": 17,
                                            "report_table": 1, "report_curves": 1, "report_grid": 1,
                                            "report_frontier": 1, "report_provenance": 4}),
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


# --- files users change: an SD-world config on local files (stand-ins: bytes, nothing is loaded) ---------------

COCO = "image_id,source,prompt,evaluation_seed\n1,coco,{first},1\n2,coco,a dog,2\n3,coco,a car,3\n4,coco,a tree,4\n"


def _q16_standin(file: Path, text: str) -> None:
    """A stand-in Q16 copy: its record lists its sha256, so planning accepts it in place of the pinned file."""
    from erasure.io import sha256_file
    from erasure.standins import MARKER

    file.write_text(text)
    record = {"note": "stand-in Q16 prompts (test)", "files": {file.name: sha256_file(file)}}
    (file.parent / MARKER).write_text(json.dumps(record))


def _sd_world(root: Path) -> tuple[dict, dict]:
    """Stand-in user files under `root` (config paths relative to it, as Snakemake runs there) and the env."""
    files = {
        "files/base/model_index.json": '{"_class_name": "StableDiffusionPipeline"}',
        "files/base/unet/config.json": '{"sample_size": 64}',
        "files/base/unet/diffusion_pytorch_model.safetensors": "unet weights v1",
        "files/base/text_encoder/model.safetensors": "text encoder weights",
        "files/base/tokenizer/vocab.json": "{}",
        "files/base/.cache/huggingface/download.lock": "",  # hidden: never read by from_pretrained
        # prompt files as their sources' readers take them (the DAG reads them while planning)
        "files/coco.csv": COCO.format(first="a cat"),
        "files/body.txt": "Norway body\nPeru body\n",
        "files/i2p.csv": "prompt,categories,sd_seed\nx,sexual,1\ny,violence,2\n",
        "files/ref/a.png": "png a", "files/ref/sub/b.png": "png b",
        "files/inception-2015-12-05.pt": "inception",
        "files/q16/prompts.p": "q16 pickle",  # a stand-in (its record below): not Q16's pinned file
        "files/torch/hub/checkpoints/alexnet-owt-7be5be79.pth": "alexnet",
    }
    snapshot = "hub/models--openai--clip-vit-large-patch14/snapshots"
    for revision in ("rev1", "rev2"):
        files[f"{snapshot}/{revision}/config.json"] = f'{{"revision": "{revision}"}}'
        files[f"{snapshot}/{revision}/model.safetensors"] = f"clip weights {revision}"
    files["hub/models--openai--clip-vit-large-patch14/refs/main"] = "rev1"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    _q16_standin(root / "files/q16/prompts.p", "q16 pickle")
    config = {
        "world": "sd", "base_model": "files/base", "device": "cpu", "results": "results",
        "cluster": {"gpus": False},
        "runs": {},
        "inference_methods": {"sd": {"kind": "sd"}, "sd-neg": {"kind": "sd-neg", "concepts": ["nudity"]}},
        "prompt_sets": {
            "coco30k": {"source": "coco30k", "path": "files/coco.csv", "n_prompts": 4, "metrics": ["fid", "lpips", "clip"]},
            "country-body": {"source": "country-body", "path": "files/body.txt", "n_prompts": 2, "metrics": ["nude"]},
            "i2p": {"source": "i2p", "path": "files/i2p.csv", "n_prompts": 2, "metrics": ["harm"]},
        },
        "generation": {"shard_size": 10, "batch_size": 2, "sampling": {"scheduler": "pndm", "steps": 2, "guidance": 7.5}},
        "metrics": {"fid": {"reference": "files/ref", "inception": "files/inception-2015-12-05.pt"},
                    "harm": {"q16_source": "files/q16/prompts.p"}},
        "report": {"tables": {"t": {"title": "t", "methods": ["sd", "sd-neg"], "columns": [
            {"promptset": "country-body", "metric": "nude"}, {"promptset": "i2p", "metric": "harm"},
            {"promptset": "coco30k", "metric": "fid"}, {"promptset": "coco30k", "metric": "lpips"},
            {"promptset": "coco30k", "metric": "clip"}]}}},
    }
    (root / "sd.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = {**os.environ, "HF_HUB_CACHE": "hub", "TORCH_HOME": "files/torch", "HF_HUB_OFFLINE": "1"}
    env.pop("ERASURE_INCEPTION", None)
    return config, env


@pytest.fixture(scope="module")
def finished_sd(tmp_path_factory) -> tuple[Path, dict]:
    workdir = tmp_path_factory.mktemp("finished-sd")
    _, env = _sd_world(workdir)
    materialise(REPO, workdir, [workdir / "sd.yaml"], env=env)
    return workdir, env


def _write(text: str):
    return lambda file: file.write_text(text)


REPORT = {"report_table": 1, "report_provenance": 1}
FILE_EDITS = {  # file edited -> {rule: jobs rerun}; methods sd and sd-neg, one shard per set
    # case 1: a local prompt file, fetched-kind (copied under results/) and shipped-kind (read in place)
    "files/coco.csv": (_write(COCO.format(first="a dog")),
                       {"fetch_prompts": 1, "prompts": 1, "generate_set": 2, "score_clip": 5,
                        "preflight_gate": 1, **REPORT}),  # the gate re-checks a fetched file; no job behind it reruns
    "files/body.txt": (_write("Norway body\nChile body\n"),
                       {"prompts": 1, "generate_set": 2, "score_nudenet": 2, **REPORT}),
    # case 7: the base model's weights: every image set and score, no prompt table
    "files/base/unet/diffusion_pytorch_model.safetensors": (_write("unet weights v2"),
                                                            {"generate_set": 6,
                                                             "score_clip": 7, "score_nudenet": 2, **REPORT}),
    "files/base/.cache/huggingface/download.lock": (_write("pid 1"), {}),  # not read by from_pretrained
    # scorer files: only the scores that read them
    # FID's reference folder: its statistics (computed once, fid_reference), then the FID jobs that read them
    "files/ref/sub/b.png": (_write("png b, edited"), {"fid_reference": 1, "score_clip": 2, **REPORT}),
    "files/inception-2015-12-05.pt": (_write("inception v2"), {"fid_reference": 1, "score_clip": 2, **REPORT}),
    "files/q16/prompts.p": (lambda file: _q16_standin(file, "q16 pickle v2"), {"q16_prompts": 1, "preflight_gate": 1, "score_clip": 2, **REPORT}),
    "files/torch/hub/checkpoints/alexnet-owt-7be5be79.pth": (_write("alexnet v2"), {"score_clip": 1, **REPORT}),
    # a hub model's resolved revision (CLIP ViT-L/14 for clip and harm): refs/main names another snapshot
    "hub/models--openai--clip-vit-large-patch14/refs/main": (_write("rev2"), {"score_clip": 4, **REPORT}),
}


def test_a_finished_sd_run_plans_nothing_and_touching_a_file_reruns_nothing(finished_sd, tmp_path):
    workdir, env = finished_sd
    assert planned(REPO, workdir, [workdir / "sd.yaml"], env=env) == {}
    copy_ = tmp_path / "w"
    shutil.copytree(workdir, copy_, symlinks=True)
    (copy_ / "files/base/unet/diffusion_pytorch_model.safetensors").touch()  # same content: Snakemake checksums it
    assert planned(REPO, copy_, [copy_ / "sd.yaml"], env=env) == {}


@pytest.mark.parametrize("name", list(FILE_EDITS))
def test_editing_a_user_file_reruns_exactly_the_jobs_that_read_it(finished_sd, tmp_path, name):
    workdir, env = finished_sd
    copy_ = tmp_path / "w"
    shutil.copytree(workdir, copy_, symlinks=True)
    edit, expected = FILE_EDITS[name]
    edit(copy_ / name)
    assert planned(REPO, copy_, [copy_ / "sd.yaml"], env=env) == expected


# --- a text-only attack against a method's own text encoder (issue 39: AdvUnlearn) ----------------------------

def test_a_retrained_text_encoder_reruns_its_ring_a_bell_shard_and_not_the_bases(tmp_path):
    """Ring-A-Bell's shard against AdvUnlearn's trained text encoder declares the run's complete.json (the sha256
    of its checkpoints) as an input: new weights plan that shard again, and not the base encoder's shard (which
    every UNet-only method shares); touching the file with the same bytes plans nothing (Snakemake checksums it)."""
    from erasure import paths

    overlay = tmp_path / "attack.yaml"
    overlay.write_text(yaml.safe_dump({"attacks": {"methods": ["sd", "advunlearn-triangle@20"]}}))
    configs = ["--configfile", str(REPO / "config/config.yaml"), str(REPO / "config/toy-attacks.yaml"), str(overlay)]
    shard = {e: str(paths.text_attack_shard("results", "toy", e, "attack~ring-a-bell", 0))
             for e in ("base", "advunlearn-triangle@20")}
    workdir = tmp_path / "w"
    dry = snakemake(REPO, workdir, "-n", *shard.values(), *configs)  # (--summary wants a file target to exist)
    assert dry.returncode == 0, dry.stderr
    outputs = re.findall(r"^\s+output: (.*)$", dry.stdout + dry.stderr, flags=re.M)
    for name in {o for line in outputs for o in line.split(", ")}:
        path = workdir / name
        if path.suffix:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        else:
            path.mkdir(parents=True, exist_ok=True)
    touched = subprocess.run([sys.executable, "-c", TOUCH, "-s", str(REPO / "Snakefile"), "-d", str(workdir),
                              *shard.values(), "--touch", "--forceall", "--cores", "1", "--quiet", *configs],
                             capture_output=True, text=True, timeout=900)
    assert touched.returncode == 0, touched.stderr[-3000:]

    def planned_shards() -> list[str]:
        result = snakemake(REPO, workdir, "-n", *shard.values(), *configs)  # (--configfile takes what follows)
        assert result.returncode == 0, result.stderr + result.stdout
        outputs = re.findall(r"^rule (\S+):\n(?:.*\n)*?\s+output: (\S+)", result.stdout + result.stderr, flags=re.M)
        return sorted(f"{rule} {out}" for rule, out in outputs)

    assert planned_shards() == []
    complete = workdir / paths.run_complete("results", "toy", "advunlearn-triangle")
    assert complete.is_file()  # the encoder's run is an input of its shard's job, and only of that one
    complete.touch()
    assert planned_shards() == []
    complete.write_text('{"steps": [20], "files": {"step-000020/model.safetensors": "retrained"}}')
    assert planned_shards() == [f"attack_text_shard {shard['advunlearn-triangle@20']}"]
