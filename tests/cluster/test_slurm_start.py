"""What a SLURM run checks before its first sbatch (erasure.slurm_start), without a cluster: fake `sinfo`,
`squeue`, `sbatch`, `sacct`, `scontrol` on PATH answer from files, and the real profile and plugin run.

- a partition that does not exist: one line before submitting (issue 32: `SLURM_PARTITION=nosuch` printed
  the sbatch error once per job, with 1.6k-character sbatch command lines);
- jobs of an earlier run (its Snakemake process killed) still queued or running for planned outputs: one
  line naming them and their `scancel`, nothing submitted (issue 32: the rerun submitted them again);
- a job cancelled while pending shows no earlier run's rule log (issue 32)."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from erasure import slurm_start
from erasure.errors import ErasureError
from erasure.slurm_start import PlannedJob, QueuedJob

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "slurm"

FAKE = """#!/bin/sh
# a SLURM command: records its argv, prints $FAKE_DIR/<name>.out / .err, exits with $FAKE_DIR/<name>.rc
name=$(basename "$0")
echo "$name $*" >> "$FAKE_DIR/calls.log"
[ -f "$FAKE_DIR/$name.out" ] && cat "$FAKE_DIR/$name.out"
[ -f "$FAKE_DIR/$name.err" ] && cat "$FAKE_DIR/$name.err" >&2
rc=0; [ -f "$FAKE_DIR/$name.rc" ] && rc=$(cat "$FAKE_DIR/$name.rc")
exit $rc
"""


def runner(answers: dict[str, tuple[int, str]], calls: list | None = None):
    def run(cmd):
        if calls is not None:
            calls.append(list(cmd))
        rc, out = answers[cmd[0]]
        return subprocess.CompletedProcess(list(cmd), rc, out, "")

    return run


SINFO = (0, "debug*\ngpu\ngpu-long\n")


# ---- partitions -------------------------------------------------------------------------------------------


def test_missing_partition_from_the_environment_is_one_line_naming_source_and_choices():
    jobs = [PlannedJob("erase", {"run": "sdd"}, partition="nosuch"), PlannedJob("prompts", {}, partition="nosuch")]
    with pytest.raises(ErasureError) as err:
        slurm_start.check_partitions(jobs, env={"SLURM_PARTITION": "nosuch"}, run=runner({"sinfo": SINFO}))
    msg = str(err.value)
    assert "\n" not in msg
    assert "'nosuch' (from SLURM_PARTITION=nosuch" in msg
    assert "partitions here: debug*, gpu, gpu-long" in msg
    assert "set SLURM_PARTITION to one of them" in msg


def test_missing_cpu_partition_from_the_environment_names_its_variable():
    # another instance: SLURM_CPU_PARTITION (every rule without a GPU, the Snakefile) names no partition
    jobs = [PlannedJob("erase", {"run": "sdd"}, partition="gpu"), PlannedJob("prompts", {}, partition="cpux")]
    with pytest.raises(ErasureError) as error:
        slurm_start.check_partitions(jobs, env={"SLURM_PARTITION": "gpu", "SLURM_CPU_PARTITION": "cpux"},
                                     run=runner({"sinfo": SINFO}))
    msg = str(error.value)
    assert "'cpux' (from SLURM_CPU_PARTITION=cpux in the environment: the partition of jobs without a GPU)" in msg
    assert "set SLURM_CPU_PARTITION to one of them" in msg and "\n" not in msg


def test_missing_partition_of_one_rule_names_the_rule():
    # second instance: `--set-resources erase:slurm_partition=gpux`, the rest on the default partition
    jobs = [PlannedJob("erase", {"run": "sdd"}, partition="gpux"), PlannedJob("prompts", {}, partition="")]
    with pytest.raises(ErasureError, match=r"'gpux' \(resource slurm_partition of rule erase: --set-resources"):
        slurm_start.check_partitions(jobs, env={}, run=runner({"sinfo": SINFO}))


def test_each_name_of_a_partition_list_is_checked():
    run = runner({"sinfo": SINFO})
    slurm_start.check_partitions([PlannedJob("a", partition="gpu,gpu-long")], env={}, run=run)
    with pytest.raises(ErasureError, match="'gpu-short'"):
        slurm_start.check_partitions([PlannedJob("a", partition="gpu,gpu-short")], env={}, run=run)


def test_no_partition_asked_or_no_sinfo_answer_checks_nothing():
    calls: list = []
    slurm_start.check_partitions([PlannedJob("a", partition="")], env={}, run=runner({"sinfo": SINFO}, calls))
    assert calls == []  # the cluster's default partition: nothing to ask
    slurm_start.check_partitions([PlannedJob("a", partition="x")], env={}, run=runner({"sinfo": (1, "")}))
    # another cluster's partition (resource `clusters`) is not this sinfo's to judge
    slurm_start.check_partitions([PlannedJob("a", partition="x", cluster="c2")], env={}, run=runner({"sinfo": SINFO}))


# ---- jobs of an earlier run -------------------------------------------------------------------------------


def squeue_line(jobid, state, workdir, comment, name="0b5e-run"):
    return f"{jobid}|{state}|{name}|{workdir}|{comment}"


def test_plugin_comment_is_what_the_plan_predicts():
    # the plugin's own wildcard string (2.8.0: --comment rule_<rule>_wildcards_<get_job_wildcards(job)>)
    from snakemake_executor_plugin_slurm.utils import get_job_wildcards

    job = PlannedJob("generate_shard", {"method": "sdd@1000", "promptset": "i2p/sexual", "shard": "0003"})
    stand_in = types.SimpleNamespace(wildcards=list(job.wildcards.values()))
    assert job.comment == f"rule_generate_shard_wildcards_{get_job_wildcards(stand_in)}"
    assert PlannedJob("prompts").comment == "rule_prompts"


def test_orphans_of_this_workdir_refuse_in_one_line_with_their_scancel(tmp_path):
    plan = [PlannedJob("erase", {"world": "toy", "run": "sdd"}), PlannedJob("erase", {"world": "toy", "run": "esd"}),
            PlannedJob("report_table", {})]
    other = tmp_path / "other"
    other.mkdir()
    out = "\n".join([
        squeue_line("4711", "RUNNING", tmp_path, "rule_erase_wildcards_toy_sdd"),
        squeue_line("4712", "PENDING", tmp_path, "rule_erase_wildcards_toy_esd"),
        squeue_line("4713", "RUNNING", other, "rule_erase_wildcards_toy_sdd"),  # another checkout's run
        squeue_line("4714", "CANCELLED", tmp_path, "rule_erase_wildcards_toy_sdd"),  # ended (MinJobAge)
        squeue_line("4715", "RUNNING", tmp_path, "rule_erase_wildcards_toy_uce"),  # not in this plan
        squeue_line("4716", "RUNNING", tmp_path, "interactive", name="bash"),
    ]) + "\n"
    calls: list = []
    with pytest.raises(ErasureError) as err:
        slurm_start.check_orphans(plan, tmp_path, env={}, run=runner({"squeue": (0, out)}, calls))
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("2 SLURM jobs of an earlier run of this workflow")
    assert "4711 RUNNING erase (world=toy, run=sdd); 4712 PENDING erase (world=toy, run=esd)" in msg
    assert "scancel 4711 4712 (" in msg
    assert "ERASURE_SLURM_ORPHANS=ignore" in msg
    assert calls[0][:2] == ["squeue", "--me"]
    # the override, and nothing queued
    slurm_start.check_orphans(plan, tmp_path, env={"ERASURE_SLURM_ORPHANS": "ignore"},
                              run=runner({"squeue": (0, out)}))
    slurm_start.check_orphans(plan, tmp_path, env={}, run=runner({"squeue": (0, "")}))


def test_many_orphans_are_counted_but_all_cancelled(tmp_path):
    plan = [PlannedJob("generate_shard", {"shard": f"{i:04d}"}) for i in range(17)]
    queued = [QueuedJob(str(100 + i), "PENDING", "r", str(tmp_path), plan[i].comment) for i in range(17)]
    msg = slurm_start.orphans_message(slurm_start.orphans(plan, queued, tmp_path), tmp_path)
    assert msg.startswith("17 SLURM jobs") and "and 11 more" in msg
    assert "scancel " + " ".join(str(100 + i) for i in range(17)) in msg


# ---- through the real profile and plugin, with fake SLURM commands ------------------------------------------

TINY = """import sys
sys.path.insert(0, {root!r})
from erasure import slurm_start, slurm_states
from erasure.errors import ErasureError

if workflow.is_main_process:
    slurm_states.install()

rule all:
    input: "out/a.txt"

rule make:
    output: "out/{{x}}.txt"
    log: "logs/{{x}}.log"
    resources: mem_mb=100, runtime=1
    shell: "echo made > {{output}} 2> {{log}}"

onstart:  # as the repository's Snakefile does
    try:
        slurm_start.on_start(workflow)
    except ErasureError as error:
        sys.exit(f"error: {{error}}")
"""


@pytest.fixture
def fake_slurm(tmp_path):
    bin_dir, answers = tmp_path / "bin", tmp_path / "answers"
    bin_dir.mkdir()
    answers.mkdir()
    (bin_dir / "fake").write_text(FAKE)
    (bin_dir / "fake").chmod(0o755)
    for name in ("sbatch", "squeue", "sinfo", "sacct", "sacctmgr", "sshare", "scontrol", "scancel"):
        (bin_dir / name).symlink_to("fake")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_DIR": str(answers),
           "PYTHONPATH": str(ROOT)}
    env.pop("SLURM_PARTITION", None)
    env.pop("SLURM_ACCOUNT", None)
    env.pop("ERASURE_SLURM_ORPHANS", None)
    (answers / "sinfo.out").write_text("debug*\ngpu\n")
    return answers, env


def snakemake(workdir: Path, env: dict, *args: str, timeout: int = 120, profile: bool = True
              ) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-d", str(workdir), *args]
    if profile:
        cmd += ["--profile", str(PROFILE), "--seconds-between-status-checks", "1",
                "--slurm-init-seconds-before-status-checks", "1"]
    if "-s" not in args:
        cmd += ["-s", str(workdir / "Snakefile")]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def sbatch_calls(answers: Path) -> list[str]:
    log = answers / "calls.log"
    return [c for c in log.read_text().splitlines() if c.startswith("sbatch")] if log.exists() else []


@pytest.mark.slow
def test_workflow_missing_partition_is_one_line_before_any_sbatch(tmp_path, fake_slurm):
    # the example, through the repository's Snakefile and smoke config
    answers, env = fake_slurm
    (answers / "sbatch.rc").write_text("1")
    (answers / "sbatch.err").write_text("sbatch: error: invalid partition specified: nosuch\n")
    work = tmp_path / "run"
    proc = snakemake(work, {**env, "SLURM_PARTITION": "nosuch"}, "all", "-s", str(ROOT / "Snakefile"),
                     "--configfile", str(ROOT / "config" / "smoke.yaml"), timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    errors = [line for line in out.splitlines() if "nosuch" in line]
    assert len(errors) == 1, out[-3000:]
    assert errors[0].startswith("error: SLURM partition 'nosuch' (from SLURM_PARTITION=nosuch")
    assert "partitions here: debug*, gpu" in errors[0]
    assert sbatch_calls(answers) == []
    assert "sbatch call" not in out


def test_orphans_of_a_killed_run_stop_the_rerun_before_sbatch(tmp_path, fake_slurm):
    answers, env = fake_slurm
    work = tmp_path / "w"
    work.mkdir()
    (work / "Snakefile").write_text(TINY.format(root=str(ROOT)))
    (answers / "squeue.out").write_text(f"4711|RUNNING|old-run-uuid|{work}|rule_make_wildcards_a\n")
    proc = snakemake(work, env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    line = out.strip().splitlines()[-1]
    assert line.startswith("error: 1 SLURM job of an earlier run of this workflow"), out[-3000:]
    assert "4711 RUNNING make (x=a)" in line and "scancel 4711 " in line
    assert sbatch_calls(answers) == []
    # ended (here: no longer listed): the same command submits
    (answers / "squeue.out").write_text("")
    (answers / "sbatch.rc").write_text("1")  # stop right after the submission
    (answers / "sbatch.err").write_text("sbatch: error: stop here\n")
    proc = snakemake(work, env)
    (call,) = sbatch_calls(answers)
    # what the check looks for is what the plugin submits: this job's comment, this working directory
    assert f"--comment {PlannedJob('make', {'x': 'a'}).comment} " in call, call
    assert f" -D {work}" in call, call


def test_local_run_on_a_cluster_node_is_stopped_by_the_orphans_too(tmp_path, fake_slurm):
    # second instance: after a killed SLURM run, the same workflow started with --cores (say on a GPU node)
    answers, env = fake_slurm
    work = tmp_path / "w"
    work.mkdir()
    (work / "Snakefile").write_text(TINY.format(root=str(ROOT)))
    (answers / "squeue.out").write_text(f"4711|PENDING|old-run-uuid|{work}|rule_make_wildcards_a\n")
    proc = snakemake(work, env, "--cores", "1", profile=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "4711 PENDING make (x=a)" in out and "scancel 4711 " in out
    assert not (work / "out" / "a.txt").exists()
    # off a cluster (no squeue on PATH) the local run checks nothing and runs
    env_off = {**env, "PATH": os.environ["PATH"]}
    proc = snakemake(work, env_off, "--cores", "1", profile=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert (work / "out" / "a.txt").read_text() == "made\n"


# the state our correction reports (cancelled before it started) and one the plugin reports itself
@pytest.mark.parametrize("state", ["CANCELLED by 0", "FAILED"])
def test_job_cancelled_while_pending_shows_no_earlier_runs_rule_log(tmp_path, fake_slurm, state):
    answers, env = fake_slurm
    work = tmp_path / "w"
    (work / "logs").mkdir(parents=True)
    (work / "Snakefile").write_text(TINY.format(root=str(ROOT)))
    # the rule log an earlier run's job (SLURM job 4000) left behind
    (work / "logs" / "a.log").write_text("SLURM_JOB_ID=4000  host=n1\nearlier run: step 300 of 1000\n")
    (answers / "sbatch.out").write_text("4711\n")
    (answers / "sacct.out").write_text(f"4711|{state}\n")  # ended before it started
    proc = snakemake(work, env, timeout=90)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "SLURM-job '4711' failed" in out, out[-3000:]
    assert "SLURM_JOB_ID=4000" not in out and "earlier run" not in out
