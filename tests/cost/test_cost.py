"""The cost model (erasure.cost): a small config's cost worked out by hand, the paper DAG's jobs as Snakemake
plans them, runtime requests from the same model, and one line for a bad throughput table."""

from __future__ import annotations

import csv
import dataclasses
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from erasure.config import validate_config
from erasure.cost import model, table
from erasure.errors import ErasureError

REPO = Path(__file__).resolve().parents[2]

SMALL = {
    "world": "sd", "base_model": "CompVis/stable-diffusion-v1-4", "device": "cpu", "results": "results",
    "cluster": {"gpus": True},
    "runs": {"sdd-x": {"method": "sdd", "preset": "paper", "concepts": "nudity", "iterations": 10,
                       "checkpoint_every": 10}},
    "inference_methods": {"sd": {"kind": "sd"}, "sld-max": {"kind": "sld", "preset": "max", "concepts": ["nudity"]}},
    "prompt_sets": {"body": {"source": "country-body", "path": "config/prompts/sd-smoke/country_body.txt",
                             "n_prompts": 2, "images_per_prompt": 3, "metrics": ["nude"]}},
    "generation": {"shard_size": 4, "batch_size": 2, "sampling": {"scheduler": "pndm", "steps": 10, "guidance": 7.5}},
    "metrics": {"nude": {"protocol": "paper", "threshold": 0.7}},
    "report": {"tables": {"t1": {"title": "t", "methods": ["sd", "sld-max", "sdd-x@10"],
                                 "columns": [{"promptset": "body", "metric": "nude"}]}}},
}

# round numbers for the operations the small config reads (every other row as shipped)
VALUES = {("H100", "model_load"): 10, ("H100", "denoise_step_fp16"): 0.1, ("H100", "vae_decode_fp16"): 0.5,
          ("H100", "train_iter_sdd"): 2, ("cpu", "job_start"): 1, ("cpu", "small_job"): 3, ("cpu", "nudenet"): 2}


def write_table(path: Path, values=VALUES, edit=None) -> Path:
    with open(table.DEFAULT_TABLE, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["value"] = str(values.get((row["gpu"], row["operation"]), row["value"]))
        if edit:
            edit(row)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=table.COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def small_config():
    return validate_config(yaml.safe_load(yaml.safe_dump(SMALL)), REPO / "config" / "schema.yaml")


def test_small_config_cost_matches_the_hand_count(tmp_path):
    config = small_config()
    throughput = table.load(write_table(tmp_path / "t.csv"))
    jobs = model.plan_jobs(config, throughput)
    counts = {}
    for job in jobs:
        counts[job.rule] = counts.get(job.rule, 0) + 1
    # 3 image sets (sd, sld-max, sdd-x@10) of 6 images in shards of 4 + 2; one training run; nude on each set
    assert counts == {"prompts": 1, "preflight_gate": 1, "erase": 1, "generate_shard": 6, "merge_manifest": 3,
                      "score_nude": 3, "summarize_score": 3, "report_table": 1, "report_provenance": 1}
    # a shard: start 1 s + load 10 s + n x (10 steps x 0.1 s x f + VAE 0.5 s); f = 1 (sd, sdd), 1.5 (sld)
    sd = (1 + 10 + 4 * 1.5) + (1 + 10 + 2 * 1.5)
    sld = (1 + 10 + 4 * 2.0) + (1 + 10 + 2 * 2.0)
    erase = 1 + 10 + 10 * 2
    gpu_seconds = 2 * sd + sld + erase
    assert sum(j.gpu_hours for j in jobs) == pytest.approx(gpu_seconds / 3600)
    # NudeNet on the CPU at 8 threads: 1 + 6 / (2 x 8) s each; 10 small one-core jobs of 3 s
    score = 1 + 6 / (2 * 8)
    assert sum(j.core_hours for j in jobs) == pytest.approx((3 * score * 8 + 10 * 3) / 3600)
    assert model.runtime_minutes(erase) == math.ceil(erase * model.MARGIN / 60) + model.SLACK_MINUTES == 11
    text = model.report(config, throughput, jobs)
    assert re.search(r"^total\s+20\s+0\.0\s+0\.0$", text, re.M)  # 0.04 GPU-h, 0.03 core-h at one decimal


def test_training_replicates_cost_one_run_and_its_image_sets_each(tmp_path):
    """Issue 37's replicates in the cost model (the paper config with `replicates: 3` raised KeyError
    'esd-u-nudity.r1'): each replicate is an erase job with its run's cost, and draws its own image sets."""
    throughput = table.load(write_table(tmp_path / "t.csv"))
    one = model.plan_jobs(small_config(), throughput)
    three = model.plan_jobs({**small_config(), "replicates": 3}, throughput)

    def count(jobs, rule):
        return sum(j.rule == rule for j in jobs)

    assert count(three, "erase") == 3 * count(one, "erase") == 3
    assert count(three, "generate_shard") == count(one, "generate_shard") + 2 * 2  # sdd-x.r1, .r2: 2 shards each
    erase = [j.gpu_hours for j in three if j.rule == "erase"]
    assert erase == [erase[0]] * 3


def test_more_steps_cost_more_in_proportion(tmp_path):
    """Another instance: doubling the sampler's steps doubles the denoising share of every shard."""
    throughput = table.load(write_table(tmp_path / "t.csv"))
    config = small_config()
    before = model.generate_seconds(config, throughput, "sd", "body", 4)
    config["generation"]["sampling"]["steps"] = 20
    after = model.generate_seconds(config, throughput, "sd", "body", 4)
    assert after - before == pytest.approx(4 * 10 * 0.1)


@pytest.mark.parametrize("column, value, expected", [
    ("value", "-3", "value '-3' of model_load: expected a positive number"),
    ("value", "fast", "value 'fast' of model_load: expected a positive number"),
    ("operation", "model_lod", "operation 'model_lod' is not one the cost model reads"),
    ("source", "guess", "source 'guess': expected one of measured, published, derived, estimate"),
    ("date", "yesterday", "date 'yesterday': expected YYYY-MM-DD"),
])
def test_a_bad_row_is_one_line_naming_file_line_and_value(tmp_path, column, value, expected):
    def edit(row):
        if row["gpu"] == "H100" and row["operation"] == "model_load":
            row[column] = value

    path = write_table(tmp_path / "bad.csv", edit=edit)
    with pytest.raises(ErasureError) as error:
        table.load(path)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{path}:2: ") and expected in message
    result = subprocess.run([sys.executable, "-m", "erasure.cost", "config/paper.yaml", "--table", str(path)],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stderr.strip() == f"error: {message}"


def test_a_missing_operation_names_it_and_the_gpu(tmp_path):
    throughput = table.load(table.DEFAULT_TABLE, "A100")  # the A100 has its published denoising row only
    with pytest.raises(ErasureError, match=r"no row for operation 'model_load' on 'A100'"):
        model.plan_jobs(small_config(), throughput)
    with pytest.raises(ErasureError, match=r"no rows for GPU model 'V100'; the table has A100, H100"):
        table.load(None, "V100")


def test_ring_a_bell_defaults_are_the_attacks():
    from erasure.attacks.ringabell import RingABellSettings

    defaults = {f.name: f.default for f in dataclasses.fields(RingABellSettings)}
    assert all(defaults[k] == v for k, v in model.RING_A_BELL_DEFAULTS.items())


def planned(stdout: str) -> dict[str, int]:
    table_text = stdout.split("Job stats:")[1].split("total")[0]
    return {name: int(n) for name, n in re.findall(r"^(\S+)\s+(\d+)\s*$", table_text, flags=re.M)}


def test_paper_jobs_and_runtimes_are_the_dags(tmp_path):
    """The model's job list is Snakemake's, rule by rule, and each GPU job's runtime request is the model's."""
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--nolock", "--configfile", "config/paper.yaml",
                             "--config", f"results={tmp_path}"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    dag = planned(result.stdout)
    dag.pop("all")
    config = validate_config(yaml.safe_load((REPO / "config" / "paper.yaml").read_text()), REPO / "config" / "schema.yaml")
    throughput = table.load()
    jobs = model.plan_jobs(config, throughput)
    counts = {}
    for job in jobs:
        counts[job.rule] = counts.get(job.rule, 0) + 1
    assert counts == dag
    requested, gpu = {}, {}
    for block in result.stdout.split("\nrule ")[1:]:
        rule = block.split(":", 1)[0]
        wildcards = re.search(r"wildcards: (.*)", block)
        runtime = re.search(r"runtime=(\d+)", block)
        if wildcards and runtime:
            requested[(rule, wildcards[1])] = int(runtime[1])
            asked = re.search(r"gpu=(\d+)", block)
            gpu[(rule, wildcards[1])] = int(asked[1]) if asked else 0
    from erasure import plan

    size = plan.shard_size(config, "coco30k")  # generation.shard_minutes: from the model
    last = plan.n_shards(config, "coco30k") - 1
    shard = requested[("generate_shard", f"world=sd, method=sld-max, promptset=coco30k, shard={last:04d}")]
    n = 30_000 - last * size
    assert shard == model.runtime_minutes(model.generate_seconds(config, throughput, "sld-max", "coco30k", n))
    # the slowest method's full shard fits its minutes (its request: 1.5x + 10 min)
    full = model.generate_seconds(config, throughput, "sld-max", "coco30k", size)
    assert full <= 60 * config["generation"]["shard_minutes"] < full + 60 * config["generation"]["batch_size"]
    erase = requested[("erase", "world=sd, run=esd-u-nudity")]
    assert erase == model.runtime_minutes(model.erase_seconds(config, throughput, "esd-u-nudity"))
    # the edit rule asks a GPU for MACE's job alone (its spec's edit_gpu), and its runtime is the model's
    edits = {w.removeprefix("world=sd, run="): n for (rule, w), n in gpu.items() if rule == "edit"}
    assert edits == {"mace-nudity": 1, "uce-nudity": 0, "uce-i2p": 0, "rece-nudity": 0}
    assert [j.gpu for j in jobs if j.rule == "edit" and j.label == "mace-nudity"] == [True]
    for run in edits:
        assert requested[("edit", f"world=sd, run={run}")] == model.runtime_minutes(
            model.edit_seconds(config, throughput, run))


def test_shard_minutes_choose_each_sets_shard_size(tmp_path):
    """Instance: the small config at 1 modelled minute; another: a prompt set with twice the steps gets about half
    the images. Without shard_minutes, shard_size as given."""
    from erasure import plan

    config = small_config()
    assert plan.shard_size(config, "body") == 4
    config["generation"]["shard_minutes"] = 1
    throughput = table.load()
    size = plan.shard_size(config, "body")
    assert size % 2 == 0 and size >= 2
    # sld-max (1.5x) is the slowest method named: its shard of `size` images fits in 60 s, two batches more do not
    assert model.generate_seconds(config, throughput, "sld-max", "body", size) <= 60
    assert model.generate_seconds(config, throughput, "sld-max", "body", size + 2) > 60
    config["prompt_sets"]["body"]["sampling"] = {"steps": 20}
    assert plan.shard_size(config, "body") < size
    config["world"] = "toy"
    with pytest.raises(ErasureError, match="generation.shard_minutes: world 'toy' is not in the throughput table"):
        plan.shard_size(config, "body")


def _memory_config(**cluster):
    config = yaml.safe_load(yaml.safe_dump(SMALL))
    config["runs"]["esd-u-x"] = {"method": "esd-u", "preset": "esd", "concepts": "nudity", "iterations": 10,
                                 "checkpoint_every": 10}
    config["report"]["tables"]["t1"]["methods"].append("esd-u-x@10")
    config["cluster"].update(cluster)
    return validate_config(config, REPO / "config" / "schema.yaml")


def test_esd_u_on_small_gpus_asks_for_larger_ones_or_stops_at_preflight():
    """ESD-u's modelled peak (26 GB, the table's estimate) on 24 GB cards: without a constraint the plan stops
    with one line naming the run and the key; with one, its training job alone gets it (SDD's 12 GB fits)."""
    from erasure.preflight import check_gpu_memory, check_while_planning

    throughput = table.load()
    assert model.training_memory(_memory_config(), throughput) == {"esd-u": 26.0, "sdd": 12.0}
    assert check_gpu_memory(_memory_config()) == []  # H100: 80 GB (the table's gpu_memory row)
    small = _memory_config(gpu_memory_gb=24)
    faults = check_gpu_memory(small)
    assert len(faults) == 1 and "\n" not in faults[0]
    assert faults[0].startswith("runs.esd-u-x (esd-u): its training job needs about 26 GB of GPU memory "
                                "(throughput.csv train_memory_esd-u, estimate), more than the 24 GB of "
                                "cluster.gpu_memory_gb; set cluster.large_gpu_constraint")
    with pytest.raises(ErasureError, match=r"^runs\.esd-u-x \(esd-u\): its training job needs about 26 GB"):
        check_while_planning(small)
    constrained = _memory_config(gpu_memory_gb=24, large_gpu_constraint="a100_80g|h100")
    assert check_gpu_memory(constrained) == []
    assert model.erase_constraint(constrained, throughput, "esd-u-x") == "a100_80g|h100"
    assert model.erase_constraint(constrained, throughput, "sdd-x") is None
    # another instance: 10 GB cards are too small for SDD too; no GPUs asked, nothing to check
    assert sorted(f.split(":")[0] for f in check_gpu_memory(_memory_config(gpu_memory_gb=10))) == [
        "runs.esd-u-x (esd-u)", "runs.sdd-x (sdd)"]
    assert check_gpu_memory(_memory_config(gpus=False, gpu_memory_gb=10)) == []


def test_white_box_in_bf16_is_costed_only_from_a_bf16_row(tmp_path):
    """The white-box attack runs in bf16 on a GPU by default: its prompts cost the bf16 row where the table has
    one (a device measurement), the fp32 row otherwise (no saving before it is measured), and the fp32 row
    whenever its settings say fp32. A what-if row is a scenario, marked as one in the report."""
    config = validate_config(yaml.safe_load((REPO / "config" / "paper.yaml").read_text()), REPO / "config" / "schema.yaml")
    shipped = table.load()
    spec = config["attacks"]["attacks"]["unlearndiffatk"]
    assert model.whitebox_operation(spec, shipped) == "unlearndiffatk_prompt_fp32"
    fp32 = model.attack_seconds(config, shipped, "unlearndiffatk", 8)
    scenario = shipped.what_if({("H100", "unlearndiffatk_prompt_bf16"): 100.0})
    assert model.whitebox_operation(spec, scenario) == "unlearndiffatk_prompt_bf16"
    assert fp32 - model.attack_seconds(config, scenario, "unlearndiffatk", 8) == pytest.approx(8 * (390 - 100))
    pinned = {**spec, "settings": {**spec["settings"], "precision": "fp32"}}
    assert model.whitebox_operation(pinned, scenario) == "unlearndiffatk_prompt_fp32"
    jobs = model.plan_jobs(config, scenario)
    text = model.report(config, scenario, jobs)
    assert "WHAT-IF (rows given on the command line, not figures of the table): H100:unlearndiffatk_prompt_bf16=100" in text
    with pytest.raises(ErasureError, match="what-if H100:unlearndiffatk_prompt: not an operation"):
        shipped.what_if({("H100", "unlearndiffatk_prompt"): 1.0})


def test_mace_edit_is_priced_as_its_gpu_work_not_a_cpu_minute(tmp_path):
    """MACE's edit job draws images per concept, segments them and trains a LoRA per concept (its spec's edit_gpu):
    its seconds are the module docstring's formula on the table's rows, worked out by hand here; UCE / RECE stay
    the CPU solve. Another instance: masks: none draws the images but loads no Grounded-SAM; masks: world
    (the toy's renderer) neither. Without cluster.gpus the job holds no GPU."""
    config = validate_config(yaml.safe_load((REPO / "config" / "paper.yaml").read_text()), REPO / "config" / "schema.yaml")
    values = {("H100", "model_load"): 10, ("H100", "denoise_step_fp32"): 0.1, ("H100", "vae_decode_fp32"): 0.5,
              ("H100", "lora_step_mace"): 0.2, ("H100", "grounded_sam_load"): 7, ("H100", "grounded_sam_image"): 0.3,
              ("cpu", "job_start"): 1, ("cpu", "edit_closed_form"): 60}
    throughput = table.load(write_table(tmp_path / "t.csv", values))
    # mace-nudity: 4 concepts, explicit-content: 8 images x 30 steps, 120 LoRA steps, masks: grounded-sam
    per_concept = 8 * (30 * 0.1 + 0.5) + (7 + 8 * 0.3) + 120 * 0.2
    assert model.edit_seconds(config, throughput, "mace-nudity") == pytest.approx(1 + 10 + 4 * per_concept + 2 * 60)
    assert model.edit_seconds(config, throughput, "uce-nudity") == model.edit_seconds(config, throughput, "rece-nudity") == 60
    jobs = {j.label: j for j in model.plan_jobs(config, throughput) if j.rule == "edit"}
    assert jobs["mace-nudity"].gpu and not jobs["uce-nudity"].gpu
    assert jobs["mace-nudity"].gpu_hours == pytest.approx(model.edit_seconds(config, throughput, "mace-nudity") / 3600)
    config["runs"]["mace-nudity"]["settings"] = {"masks": "none"}
    assert model.edit_seconds(config, throughput, "mace-nudity") == pytest.approx(
        1 + 10 + 4 * (8 * (30 * 0.1 + 0.5) + 120 * 0.2) + 2 * 60)
    config["runs"]["mace-nudity"]["settings"] = {"masks": "world"}
    assert model.edit_seconds(config, throughput, "mace-nudity") == pytest.approx(1 + 10 + 4 * 120 * 0.2 + 2 * 60)
    config["cluster"]["gpus"] = False
    assert not model.edit_gpu(config, "mace-nudity")
    assert not [j for j in model.plan_jobs(config, throughput) if j.rule == "edit" and j.gpu]


def test_edit_gpu_is_a_closed_form_spec_field():
    """The spec says what an edit job needs: MACE asks a GPU, UCE / RECE none; a plug-in of another kind that sets
    edit_gpu is refused with one line."""
    from erasure.methods import specs

    assert [name for name in specs.names(specs.CLOSED_FORM) if specs.get(name).edit_gpu] == ["mace"]
    bad = specs.MethodSpec("x", specs.FINE_TUNING, "m:X", edit_gpu=True)
    with pytest.raises(ErasureError, match=r"^here: edit_gpu is for closed-form methods"):
        specs._check_plugin(bad, "here")
