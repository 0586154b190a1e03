"""The SLURM profile against a real scheduler: jobs go through sbatch, a GPU job is scheduled on a GPU,
successful job logs are kept, a failing job makes snakemake exit non-zero within a minute, naming the
job's log, and so does every cluster fault this cluster can produce (a job cancelled while running or
while pending, a job past its time limit): the run exits non-zero within a stated bound, naming the SLURM
job, its state and its log, and the same command run again finishes the DAG without rerunning what had
finished; after Snakemake itself was SIGKILLed, the rerun refuses while the killed run's job still runs.
(OUT_OF_MEMORY, NODE_FAIL, PREEMPTED, BOOT_FAIL, DEADLINE: tests/cluster/test_slurm_states.py,
against the plugin's real status code: this cluster does not enforce memory and has no preemption.)

Runs only where a cluster is up and ERASURE_SLURM_TESTS=1, e.g. in CI:

    .ci/slurm/up.sh && source /tmp/erasure-slurm/env.sh
    ERASURE_SLURM_TESTS=1 python -m pytest tests/cluster -q
    .ci/slurm/down.sh

The cluster from .ci/slurm/up.sh has one node with a fake GPU (gres.conf File=/dev/null).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = Path(__file__).resolve().parent / "workflow" / "Snakefile"


REQUESTED = os.environ.get("ERASURE_SLURM_TESTS") == "1"


def cluster_problem() -> str | None:
    """Why no usable SLURM answers here, or None when a node is up."""
    if not shutil.which("sbatch"):
        return "sbatch is not on PATH"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"sinfo failed: {err}"
    if out.returncode != 0 or not any(s.startswith(("idle", "mix", "alloc")) for s in out.stdout.split()):
        return f"sinfo shows no usable node: {(out.stdout + out.stderr).strip()!r}"
    return None


pytestmark = pytest.mark.skipif(not REQUESTED, reason="needs ERASURE_SLURM_TESTS=1 and a running SLURM")


@pytest.fixture(autouse=True, scope="module")
def _cluster():
    # Asked for explicitly (CI), a cluster that is not there is a failure: a skip would pass CI silently.
    problem = cluster_problem()
    if problem:
        pytest.fail(f"ERASURE_SLURM_TESTS=1 but {problem} (start one with .ci/slurm/up.sh)", pytrace=False)


def command(workdir: Path, *args: str) -> list[str]:
    """The snakemake command line for the test workflow through the repository's profile."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--profile",
        str(ROOT / "slurm"),
        "--snakefile",
        str(workdir / "Snakefile"),
        "--directory",
        str(workdir),
        "--seconds-between-status-checks",
        "3",
        "--slurm-init-seconds-before-status-checks",
        "3",
        *args,
    ]


def env() -> dict[str, str]:
    # the test Snakefile imports erasure (its SLURM correction) from this checkout
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }


def snakemake(workdir: Path, *args: str, timeout: int = 300) -> tuple[int, str, float]:
    """Run the test workflow through the repository's profile; (exit status, output, seconds)."""
    t0 = time.monotonic()
    proc = subprocess.run(command(workdir, *args), capture_output=True, text=True, timeout=timeout, env=env())
    out = proc.stdout + proc.stderr
    print(out)  # shown by pytest on failure: the CI log then has the job ids
    return proc.returncode, out, time.monotonic() - t0


@pytest.fixture()
def workdir(tmp_path):
    shutil.copy(WORKFLOW, tmp_path / "Snakefile")
    return tmp_path


def submitted(out: str) -> dict[str, tuple[str, Path]]:
    """snakemake job id -> (SLURM job id, SLURM log) from 'Job N has been submitted with SLURM jobid M (log: L).'"""
    found = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.", out)
    return {job: (slurm_id, Path(log)) for job, slurm_id, log in found}


def sacct_tres(slurm_id: str) -> str:
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-j", slurm_id, "-o", "AllocTRES,State"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout


def test_dag_runs_through_sbatch_with_a_gpu_job(workdir):
    rc, out, seconds = snakemake(workdir, "--config", 'cluster={"gpus": True}')
    assert rc == 0, out
    jobs = submitted(out)
    assert len(jobs) == 2, "cpu_step and gpu_step each go through sbatch"
    for slurm_id, log in jobs.values():
        assert log.exists(), f"SLURM log {log} kept for a successful job (slurm-keep-successful-logs)"
        assert "COMPLETED" in sacct_tres(slurm_id)
    text = (workdir / "out" / "gpu.txt").read_text()
    gpu_job = re.search(r"gpu_step job=(\d+)", text)[1]
    assert "gres/gpu=1" in sacct_tres(gpu_job), "gpu_step was allocated the node's GPU"
    cpu_job = re.search(r"cpu_step job=(\d+)", text)[1]
    assert "gres/gpu" not in sacct_tres(cpu_job), "cpu_step asked for no GPU"
    print(f"DAG of 2 sbatch jobs finished in {seconds:.1f} s")


def test_failing_job_fails_the_run_within_a_minute_naming_its_log(workdir):
    rc, out, seconds = snakemake(workdir, "out/never.txt", timeout=120)
    assert rc != 0
    assert seconds < 60, f"failure took {seconds:.0f} s to surface"
    (job,) = submitted(out).values()
    slurm_id, log = job
    assert f"SLURM-job '{slurm_id}' failed" in out
    assert str(log) in out, "the error names the SLURM job's log"
    assert log.exists() and "about to fail on purpose" in out  # the rule's log is shown too
    print(f"failure surfaced after {seconds:.1f} s")


# ---- cluster faults -----------------------------------------------------------------------------------------
# Bounds, from the profile and the cluster (.ci/slurm/up.sh): a poll at most every 60 s
# (erasure.slurm_states.MAX_POLL_INTERVAL_S; these runs start at 3 s and grow by 10 s per idle poll), plus
# the plugin's sacct calls and Snakemake's shutdown.
CANCEL_BOUND_S = 75  # scancel -> snakemake has exited
# a 1-minute time limit: slurmctld enforces limits on a ~30 s sweep, then KillWait=5 s, then the next poll
TIMEOUT_BOUND_S = 60 + 30 + 5 + 60 + 15  # fault_timeout RUNNING -> snakemake has exited


class Scenario:
    """One fault scenario in its own working directory: `out/<name>/first.txt` finishes, then the rule's
    second job waits while the file `hold` exists (tests/cluster/workflow/Snakefile)."""

    def __init__(self, root: Path, name: str):
        self.name, self.dir = name, root / name
        self.dir.mkdir()
        shutil.copy(WORKFLOW, self.dir / "Snakefile")
        (self.dir / "hold").touch()
        self.cmd = command(self.dir, f"out/{name}/second.txt")
        self.log = self.dir / "run1.out"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT, text=True, env=env())
        self.exited_at: float | None = None  # time.time() when snakemake ended
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        self.proc.wait()
        self.exited_at = time.time()

    def output(self) -> str:
        return self.log.read_text()

    def wait_for_second_job(self, state: str | None, timeout: float = 120) -> tuple[str, Path]:
        """(SLURM job id, SLURM log) of the waiting job, once squeue shows it in `state` (None: submitted)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for slurm_id, log in submitted(self.output()).values():
                if f"rule_fault_{self.name}" in str(log) and state in (None, squeue_state(slurm_id)):
                    return slurm_id, log
            assert self.proc.poll() is None, f"snakemake ended early:\n{self.output()}"
            time.sleep(1)
        raise AssertionError(f"no fault_{self.name} job reached {state} in {timeout} s:\n{self.output()}")

    def wait_for_exit(self, since: float, bound: float) -> tuple[int, float]:
        """(exit status, seconds from `since` (a time.time()) to snakemake's exit); kills snakemake and fails
        if it is still running `bound` s after `since`."""
        try:
            rc = self.proc.wait(timeout=max(0.0, since + bound - time.time()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"snakemake still running {bound} s later (the hang of issue 22):\n{self.output()}")
        while self.exited_at is None:
            time.sleep(0.05)
        print(self.output())
        return rc, self.exited_at - since

    def rerun(self) -> tuple[int, str]:
        """The same command again, with `hold` gone (what a user does after fixing the cause)."""
        (self.dir / "hold").unlink()
        proc = subprocess.run(self.cmd, capture_output=True, text=True, timeout=300, env=env())
        out = proc.stdout + proc.stderr
        print(out)
        return proc.returncode, out


def squeue_state(slurm_id: str) -> str:
    out = subprocess.run(
        ["squeue", "-h", "-j", slurm_id, "-o", "%T"], capture_output=True, text=True, timeout=30
    )
    return out.stdout.strip()


def sacct_state(slurm_id: str) -> str:
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-j", slurm_id, "-o", "State"], capture_output=True, text=True, timeout=30
    )
    return out.stdout.strip()


def job_start(slurm_id: str, timeout: float = 120) -> float:
    """When the SLURM job started running (time.time() scale), from sacct."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["sacct", "-X", "-n", "-P", "-j", slurm_id, "-o", "Start"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        if out and out not in ("Unknown", "None"):
            return datetime.fromisoformat(out).timestamp()
        time.sleep(1)
    raise AssertionError(f"SLURM job {slurm_id} did not start in {timeout} s")


def assert_failed_naming(out: str, slurm_id: str, log: Path, state: str) -> None:
    assert f"SLURM-job '{slurm_id}' failed" in out, "the error names the SLURM job"
    assert re.search(rf"SLURM-job '{slurm_id}' failed, SLURM status is: '{state}", out), "... and its state"
    assert str(log) in out, "... and its SLURM log"
    assert "Exiting because a job execution failed" in out


def assert_rerun_finishes_only_what_was_left(scenario: Scenario, first_before: str) -> None:
    rc, out = scenario.rerun()
    assert rc == 0, "the same command finishes the DAG (no --unlock needed)"
    rules = sorted(re.findall(r"rule_(\w+)", " ".join(str(log) for _, log in submitted(out).values())))
    assert rules == [f"fault_{scenario.name}"], f"only the unfinished job is resubmitted, got {rules}"
    assert (scenario.dir / "out" / scenario.name / "first.txt").read_text() == first_before
    assert (scenario.dir / "out" / scenario.name / "second.txt").exists()
    print(f"rerun: {len(rules)} job ({rules[0]}), exit status {rc}")


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory):
    # The three are started together by the first test that asks, so their waits overlap (the node has
    # 2 CPUs: the running and the timing-out job hold one each; the pending one holds none).
    root = tmp_path_factory.mktemp("faults")
    started = {name: Scenario(root, name) for name in ("running", "pending", "timeout")}
    yield started
    for scenario in started.values():
        if scenario.proc.poll() is None:
            scenario.proc.kill()


def cancel_and_check(scenario: Scenario, state: str) -> None:
    slurm_id, log = scenario.wait_for_second_job(state)
    first = (scenario.dir / "out" / scenario.name / "first.txt").read_text()
    cancelled_at = time.time()
    subprocess.run(["scancel", slurm_id], check=True, timeout=30)
    rc, seconds = scenario.wait_for_exit(cancelled_at, CANCEL_BOUND_S)
    assert rc != 0
    assert seconds < CANCEL_BOUND_S
    assert sacct_state(slurm_id).startswith("CANCELLED")
    assert_failed_naming(scenario.output(), slurm_id, log, "CANCELLED")
    print(
        f"cancelled while {state}: SLURM job {slurm_id} ({sacct_state(slurm_id)}) -> snakemake exit {rc} "
        f"{seconds:.1f} s after scancel"
    )
    assert_rerun_finishes_only_what_was_left(scenario, first)


def test_job_cancelled_while_running_fails_the_run_and_the_rerun_finishes(scenarios):
    cancel_and_check(scenarios["running"], "RUNNING")


def test_job_cancelled_while_pending_fails_the_run_and_the_rerun_finishes(scenarios):
    cancel_and_check(scenarios["pending"], "PENDING")


def test_job_past_its_time_limit_fails_the_run_and_the_rerun_finishes(scenarios):
    scenario = scenarios["timeout"]
    slurm_id, log = scenario.wait_for_second_job(None)  # by now it may have timed out already
    first = (scenario.dir / "out" / "timeout" / "first.txt").read_text()
    started = job_start(slurm_id)
    rc, seconds = scenario.wait_for_exit(started, TIMEOUT_BOUND_S)
    assert rc != 0
    assert seconds < TIMEOUT_BOUND_S
    assert sacct_state(slurm_id) == "TIMEOUT"
    assert_failed_naming(scenario.output(), slurm_id, log, "TIMEOUT")
    print(
        f"time limit: SLURM job {slurm_id} (TIMEOUT) -> snakemake exit {rc} {seconds:.1f} s after the job started"
    )
    assert_rerun_finishes_only_what_was_left(scenario, first)


def test_rerun_after_snakemake_was_killed_refuses_while_its_job_still_runs(tmp_path):
    # Issue 32: after SIGKILL of the main process its SLURM job runs on (correctly); `--unlock` and the same
    # command submitted that very job again. Now the rerun refuses in one line naming it and its scancel.
    scenario = Scenario(tmp_path, "running")
    slurm_id, _ = scenario.wait_for_second_job("RUNNING")
    scenario.proc.kill()  # SIGKILL: no cleanup, the lock stays
    scenario.proc.wait()
    assert squeue_state(slurm_id) == "RUNNING", "the killed run's job runs on"
    rc, out, _ = snakemake(scenario.dir, "--unlock")
    assert rc == 0, out
    proc = subprocess.run(scenario.cmd, capture_output=True, text=True, timeout=300, env=env())
    out = proc.stdout + proc.stderr
    print(out)
    assert proc.returncode == 1
    errors = [line for line in out.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and f"{slurm_id} RUNNING fault_running" in errors[0], out
    assert f"scancel {slurm_id} " in errors[0]
    assert not submitted(out), "nothing was submitted next to the running job"
    subprocess.run(["scancel", slurm_id], check=True, timeout=30)
    deadline = time.monotonic() + 60
    while squeue_state(slurm_id) in ("RUNNING", "COMPLETING", "PENDING") and time.monotonic() < deadline:
        time.sleep(1)
    rc, out = scenario.rerun()
    assert rc == 0, "once it has ended, the same command finishes the DAG"
    print(f"killed run's job {slurm_id} still RUNNING: rerun refused ({errors[0][:80]}...); after scancel: exit 0")


def test_preempted_job_fails_the_run_and_the_rerun_finishes(tmp_path):
    # Last in the file: the urgent job takes the whole node, so it would preempt the other tests' jobs too.
    partition = os.environ.get("SLURM_PARTITION", "debug")
    scenario = Scenario(tmp_path, "preempted")
    slurm_id, log = scenario.wait_for_second_job("RUNNING")
    first = (scenario.dir / "out" / "preempted" / "first.txt").read_text()
    preempted_at = time.time()
    urgent = subprocess.run(
        [
            "sbatch",
            "--parsable",
            f"--partition={partition}-urgent",
            "--exclusive",
            "--time=1",
            "--output=/dev/null",  # no slurm-<id>.out in the working directory
            "--wrap=sleep 1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert urgent.returncode == 0, urgent.stderr
    rc, seconds = scenario.wait_for_exit(preempted_at, CANCEL_BOUND_S)
    assert rc != 0
    assert seconds < CANCEL_BOUND_S
    assert sacct_state(slurm_id) == "PREEMPTED"
    assert_failed_naming(scenario.output(), slurm_id, log, "PREEMPTED")
    print(
        f"preempted: SLURM job {slurm_id} (PREEMPTED) -> snakemake exit {rc} {seconds:.1f} s after the urgent sbatch"
    )
    # The run exits once its job is PREEMPTED, which can be before the urgent job has even started (the
    # preempted job's grace time first): a rerun submitted then is preempted by it in turn (seen once in CI,
    # the rerun's own job PREEMPTED). A user reruns after the urgent work has gone; so does the test.
    urgent_id = urgent.stdout.strip().split(";")[0]
    deadline = time.monotonic() + 90
    while squeue_state(urgent_id) and time.monotonic() < deadline:
        time.sleep(1)
    assert not squeue_state(urgent_id), f"the urgent job {urgent_id} still queued 90 s later"
    assert_rerun_finishes_only_what_was_left(scenario, first)
