"""The SLURM profile, statically: `snakemake --profile slurm` from the repository root plans GPU requests on
training and generation jobs only, and only when the config says the cluster has GPUs. No cluster needed
(dry runs never call sbatch)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from erasure.methods import specs

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "slurm" / "config.yaml"
GPU_RULES = {"erase", "attack_shard", "attack_text_shard", "generate_shard", "generate_set", "toy_base",
             "caption_stats"}  # train, attack, draw; encode the prior cache's captions (MACE)
# edit: per job, a GPU for a method whose spec says edit_gpu (MACE), none for a CPU solve (UCE, RECE)
TORCH_SCORE_RULES = {"score_harm", "score_clip", "score_fid", "score_lpips", "fid_reference"}  # SD's torch scorers
WILDCARDS = "(wildcards)"  # the job's wildcards line, kept beside its resources (not a resource)
JOB_HEADER = re.compile(r"^(?:local)?(?:rule|checkpoint) (\S+):$")

needs_snakefile = pytest.mark.skipif(not (ROOT / "Snakefile").exists(), reason="no Snakefile yet")


def test_profile_is_found_as_a_bare_name_from_the_repo_root():
    # `--profile slurm` is looked up as ./slurm first; a workflow profile (profiles/default/) would be
    # applied silently on top of it.
    assert PROFILE.exists()
    assert not (ROOT / "profiles" / "default").exists()


def test_profile_settings():
    profile = yaml.safe_load(PROFILE.read_text())
    assert profile["executor"] == "slurm"
    assert profile["slurm-keep-successful-logs"] is True
    assert 1 <= profile["slurm-init-seconds-before-status-checks"] <= 20
    assert 1 <= profile["seconds-between-status-checks"] <= 20
    # a preempted or node-failed job fails (docs/cluster.md), never requeued behind Snakemake's back
    assert profile["slurm-no-requeue"] is True and "slurm-requeue" not in profile
    res = profile["default-resources"]
    assert {"mem_mb", "runtime", "slurm_partition", "slurm_account"} <= set(res)
    # partition and account come from the environment, never from this file
    assert "environ" in res["slurm_partition"] and "SLURM_PARTITION" in res["slurm_partition"]
    assert "environ" in res["slurm_account"] and "SLURM_ACCOUNT" in res["slurm_account"]
    assert not any(k in res for k in ("gpu", "gres", "gpus")), "GPUs are per rule, never a default"


def dry_run(*args: str, env: dict | None = None) -> dict[str, list[dict[str, str]]]:
    """Jobs planned by `snakemake --profile slurm all -n --forceall ...` from the repo root:
    rule name -> list of each job's resources."""
    cmd = [sys.executable, "-m", "snakemake", "--profile", "slurm", "all", "-n", "--forceall", *args]
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}
    )
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    jobs: dict[str, list[dict[str, str]]] = {}
    rule = wildcards = None
    for line in (proc.stdout + proc.stderr).splitlines():
        m = JOB_HEADER.match(line)
        if m:
            rule, wildcards = m[1], None
            jobs.setdefault(rule, []).append({})
        elif rule and line.startswith("    wildcards: "):
            wildcards = line.split(": ", 1)[1]
        elif rule and line.startswith("    resources: "):
            # values never contain ", " except inside <TBD> markers; split on the top-level separator
            items = re.split(r", (?=[A-Za-z_][A-Za-z0-9_]*=)", line.split(": ", 1)[1])
            jobs[rule][-1] = dict(item.split("=", 1) for item in items)
            if wildcards is not None:
                jobs[rule][-1][WILDCARDS] = wildcards
        elif not line.strip():
            rule = None
    return jobs


def gpu_request(resources: dict[str, str]) -> int:
    n = int(resources.get("gpu", 0) or 0)
    if "gpu" in resources.get("gres", ""):
        n = max(n, 1)
    return n


@needs_snakefile
def test_paper_config_requests_gpus_on_training_and_generation_only():
    config = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    assert config["cluster"]["gpus"] is True
    jobs = dry_run("--configfile", "config/paper.yaml", env={"SLURM_PARTITION": "gpu-part",
                                                             "SLURM_CPU_PARTITION": "cpu-part"})
    if set(jobs) <= {"all"}:
        pytest.skip("the paper DAG plans no jobs yet (rules not wired)")
    edits = {re.search(r"run=([^,]+)", r[WILDCARDS])[1]: gpu_request(r) for r in jobs["edit"]}
    gpu_edit = {run for run, spec in config["runs"].items() if specs.get(spec["method"]).edit_gpu}
    assert gpu_edit and set(gpu_edit) < set(edits), (gpu_edit, edits)  # the plan has both kinds of edit
    assert edits == {run: int(run in gpu_edit) for run in edits}, "an edit job asks a GPU iff its spec's edit_gpu"
    with_gpu = {rule for rule, js in jobs.items() if any(gpu_request(r) for r in js)} - {"edit"}
    # SD's torch scorers take the GPU the cluster has (cluster.score_gpus unset: as gpus); NudeNet stays on CPU
    assert with_gpu <= GPU_RULES | TORCH_SCORE_RULES, f"CPU rules asking for a GPU: {with_gpu - GPU_RULES}"
    assert TORCH_SCORE_RULES <= with_gpu and "score_nude" not in with_gpu
    planned_gpu_rules = (GPU_RULES | TORCH_SCORE_RULES) & set(jobs)
    assert planned_gpu_rules, f"the paper plan has none of {GPU_RULES}: {sorted(jobs)}"
    for rule in planned_gpu_rules:
        assert all(gpu_request(r) == 1 for r in jobs[rule]), f"{rule}: every job asks for exactly one GPU"
    # the partition comes from the environment: SLURM_PARTITION for GPU jobs, SLURM_CPU_PARTITION for the rest
    assert all(r.get("slurm_partition") == ("gpu-part" if gpu_request(r) else "cpu-part")
               for js in jobs.values() for r in js if r)
    assert {"score_nude", "prompts", "report_table"} <= {rule for rule, js in jobs.items()
                                                                if all(r.get("slurm_partition") == "cpu-part" for r in js)}


@needs_snakefile
@pytest.mark.parametrize("configfile", ["config/smoke.yaml", "config/config.yaml"])
def test_no_gpu_requests_without_cluster_gpus(configfile):
    config = yaml.safe_load((ROOT / configfile).read_text())
    assert not config.get("cluster", {}).get("gpus", False)
    jobs = dry_run("--configfile", configfile, env={"SLURM_PARTITION": "", "SLURM_ACCOUNT": ""})
    assert jobs
    assert not [rule for rule, js in jobs.items() if any(gpu_request(r) for r in js)]


@needs_snakefile
def test_score_gpus_false_keeps_the_neural_sd_scorers_on_cpu(tmp_path):
    overlay = tmp_path / "score-gpus.yaml"
    overlay.write_text("cluster:\n  gpus: true\n  score_gpus: false\n")
    jobs = dry_run("--configfile", "config/paper.yaml", str(overlay), env={"SLURM_PARTITION": ""})
    with_gpu = {rule for rule, js in jobs.items() if any(gpu_request(r) for r in js)}
    assert with_gpu == (GPU_RULES | {"edit"}) & set(jobs)  # edit: MACE's job (its spec's edit_gpu)


@needs_snakefile
def test_large_gpu_constraint_goes_to_the_esd_u_training_job_alone(tmp_path):
    """On 24 GB cards ESD-u's training job (modelled peak 26 GB, erasure/cost) gets cluster.large_gpu_constraint
    as its SLURM --constraint; the other training jobs and every other rule get none."""
    overlay = tmp_path / "small-gpus.yaml"
    overlay.write_text('cluster:\n  gpus: true\n  gpu_memory_gb: 24\n  large_gpu_constraint: "a100_80g|h100"\n')
    jobs = dry_run("--configfile", "config/paper.yaml", str(overlay), env={"SLURM_PARTITION": ""})
    constrained = {rule: [r.get("constraint") for r in js if r.get("constraint")] for rule, js in jobs.items()}
    assert {rule: c for rule, c in constrained.items() if c} == {"erase": ["a100_80g|h100"]}
    assert len(jobs["erase"]) > 1


@needs_snakefile
def test_cpu_jobs_never_default_to_the_gpu_partition():
    """SLURM_CPU_PARTITION unset: where the config has GPU jobs, the CPU jobs go to the cluster's default
    partition, not SLURM_PARTITION's GPU nodes; where it has none, SLURM_PARTITION is every job's, as before."""
    env = {"SLURM_PARTITION": "gpu-part", "SLURM_CPU_PARTITION": ""}
    paper = dry_run("--configfile", "config/paper.yaml", env=env)
    for rule in ("score_nude", "prompts", "report_table"):
        assert all(r.get("slurm_partition") == "" for r in paper[rule]), rule
    assert all(r.get("slurm_partition") == "gpu-part" for r in paper["generate_shard"])
    # edit: per job (UCE / RECE on the CPU, MACE's GPU job on the GPU partition)
    assert sorted(r.get("slurm_partition") for r in paper["edit"]) == ["", "", "", "gpu-part"]
    smoke = dry_run("--configfile", "config/smoke.yaml", env={"SLURM_PARTITION": "only", "SLURM_CPU_PARTITION": ""})
    assert all(r.get("slurm_partition") == "only" for js in smoke.values() for r in js if r)
