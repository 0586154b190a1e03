"""SLURM job states -> Snakemake outcome, and the correction of snakemake-executor-plugin-slurm 2.8.0
(erasure.slurm_states), without a cluster: the plugin's real `check_active_jobs` is driven with canned
`sacct` answers. The live counterparts (a real scancel, a real time limit) are in test_slurm_live.py."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import types
from pathlib import Path

import pytest

from erasure import slurm_states
from erasure.slurm_states import FAILED, RUNNING, SUCCESS, base_state, outcome

# (state string as sacct/squeue print it, outcome without requeue, outcome with requeue)
STATES = [
    ("COMPLETED", SUCCESS, SUCCESS),
    ("FAILED", FAILED, FAILED),
    ("CANCELLED", FAILED, FAILED),  # squeue's form
    ("CANCELLED by 0", FAILED, FAILED),  # sacct's form after `scancel` by root (the case)
    ("CANCELLED by 1000", FAILED, FAILED),
    ("CANCELLED+", FAILED, FAILED),  # sacct truncated to its column width
    ("TIMEOUT", FAILED, FAILED),
    ("OUT_OF_MEMORY", FAILED, FAILED),
    ("NODE_FAIL", FAILED, FAILED),
    ("BOOT_FAIL", FAILED, FAILED),
    ("DEADLINE", FAILED, FAILED),
    ("REVOKED", FAILED, FAILED),
    ("PREEMPTED", FAILED, RUNNING),  # with --requeue SLURM puts it back in the queue
    ("PENDING", RUNNING, RUNNING),
    ("RUNNING", RUNNING, RUNNING),
    ("REQUEUED", RUNNING, RUNNING),
    ("SUSPENDED", RUNNING, RUNNING),
    ("COMPLETING", RUNNING, RUNNING),
    ("", RUNNING, RUNNING),
]


@pytest.mark.parametrize(("raw", "plain", "requeued"), STATES)
def test_outcome_of_each_state(raw, plain, requeued):
    assert outcome(raw) == plain
    assert outcome(raw, requeue=True) == requeued


def test_base_state_strips_the_canceller_and_truncation_mark():
    assert base_state("CANCELLED by 0") == "CANCELLED"
    assert base_state(" CANCELLED+ ") == "CANCELLED"
    assert base_state("OUT_OF_MEMORY") == "OUT_OF_MEMORY"


def test_preempted_with_requeue_is_waited_for_only_up_to_the_grace():
    grace = slurm_states.PREEMPTED_GRACE_S
    assert outcome("PREEMPTED", requeue=True, preempted_for_s=grace - 1) == RUNNING
    assert outcome("PREEMPTED", requeue=True, preempted_for_s=grace) == FAILED


def test_failure_message_names_job_state_meaning_and_log():
    msg = slurm_states.failure_message("123", "CANCELLED by 0", "/x/.snakemake/slurm_logs/rule_a/123.log")
    assert msg.startswith("SLURM-job '123' failed")  # the plugin's own wording: one pattern for all
    assert "'CANCELLED by 0'" in msg and "cancelled by a user" in msg
    assert "SLURM log: /x/.snakemake/slurm_logs/rule_a/123.log; " in msg


@pytest.mark.parametrize(
    ("version", "needed"),
    [
        ("2.8.0", True),
        ("2.8.1", False),
        ("2.9.0", False),
        ("3.0.0", False),
        ("2.7.0", False),
        (None, False),
        ("x", False),
    ],
)
def test_correction_only_for_the_known_broken_version(version, needed):
    assert slurm_states.needs_correction(version) is needed


def test_installed_plugin_is_the_pinned_broken_version():
    # pyproject pins 2.8.0; bumping the pin must revisit BROKEN_PLUGIN (and run the live tests)
    pin = next(
        line
        for line in (Path(__file__).parents[2] / "pyproject.toml").read_text().splitlines()
        if "plugin-slurm==" in line
    )
    assert slurm_states.plugin_version() == pin.split("==")[1].strip(' ",')
    assert slurm_states.needs_correction(slurm_states.plugin_version())


# ---- the real plugin's check_active_jobs, fed canned sacct answers -----------------------------------------
plugin = pytest.importorskip("snakemake_executor_plugin_slurm")


class Harness:
    """An Executor of the installed plugin without Snakemake around it: records what it reports."""

    def __init__(self, states: dict[str, str], *, requeue: bool = False):
        ex = object.__new__(plugin.Executor)
        ex.workflow = types.SimpleNamespace(
            executor_settings=types.SimpleNamespace(
                init_seconds_before_status_checks=3,
                status_attempts=1,
                requeue=requeue,
                keep_successful_logs=True,
                status_command="sacct",
            )
        )
        ex.logger = types.SimpleNamespace(
            info=self._log, debug=lambda *a, **k: None, warning=self._log, error=self._log
        )
        ex.run_uuid = "run"
        ex.status_rate_limiter = contextlib.nullcontext()
        ex._status_query_calls = ex._status_query_failures = 0
        ex._status_query_total_seconds = ex._status_query_max_seconds = 0.0
        ex._status_query_min_seconds = None
        ex._status_query_cycle_rows = []
        ex._preemption_warning = False
        ex._failed_nodes = set()
        ex.next_seconds_between_status_checks = 170
        ex.report_job_error = self._error
        ex.report_job_success = lambda job: self.succeeded.append(job.external_jobid)
        self.executor, self.states = ex, states
        self.failed: dict[str, tuple[str, list]] = {}
        self.succeeded: list[str] = []
        self.logs: list[str] = []

    def _log(self, msg, *a, **k):
        self.logs.append(str(msg))

    def _error(self, job, msg=None, aux_logs=None, **kwargs):
        self.failed[job.external_jobid] = (msg, aux_logs)

    def poll(self, ids=None) -> list[str]:
        """One status check of the jobs `ids` (default: one per canned state); the SLURM ids still active."""
        jobs = [
            types.SimpleNamespace(external_jobid=jobid, aux={"slurm_logfile": Path(f"/logs/{jobid}.log")})
            for jobid in (self.states if ids is None else ids)
        ]

        async def run():
            return [j.external_jobid async for j in self.executor.check_active_jobs(jobs)]

        return asyncio.run(run())


class Answers(dict):
    by_id_only: dict[str, str]


@pytest.fixture()
def fake_sacct(monkeypatch):
    """Replace every SLURM call the plugin makes by canned answers; restore the plugin afterwards."""
    answers = Answers()
    by_id_only: dict[str, str] = {}  # jobs sacct lists for `-j <id>` but not for the plugin's `--name` query

    async def query_job_status(command, logger):
        if "--name" in command:
            return dict(answers), 0.01
        asked = command.split(" -j ", 1)[1].split()[0].split(",")
        return {i: s for i, s in {**answers, **by_id_only}.items() if i in asked}, 0.01

    answers.by_id_only = by_id_only

    monkeypatch.setattr(plugin, "query_job_status", query_job_status)
    monkeypatch.setattr(plugin, "get_min_job_age", lambda: 300)
    monkeypatch.setattr(plugin, "is_query_tool_available", lambda name: True)
    # the plugin asks sacct for each failed job's step reasons
    fake_subprocess = types.SimpleNamespace(
        check_output=lambda *a, **k: "",
        CalledProcessError=subprocess.CalledProcessError,
        PIPE=subprocess.PIPE,
    )
    monkeypatch.setattr(plugin, "subprocess", fake_subprocess)
    # install() replaces these two; monkeypatch puts the originals back
    monkeypatch.setattr(plugin.Executor, "check_active_jobs", plugin.Executor.check_active_jobs)
    monkeypatch.setattr(plugin.Executor, "_erasure_corrected", False, raising=False)
    return answers


TERMINAL = {
    "1": "CANCELLED by 0",
    "2": "TIMEOUT",
    "3": "OUT_OF_MEMORY",
    "4": "NODE_FAIL",
    "5": "FAILED",
    "6": "BOOT_FAIL",
    "7": "DEADLINE",
    "8": "PREEMPTED",
    "9": "COMPLETED",
    "10": "RUNNING",
    "11": "PENDING",
    "12": "CANCELLED+",
}


def test_plugin_alone_polls_a_cancelled_or_preempted_job_forever(fake_sacct):
    # the bug, on the installed 2.8.0: these two are never reported, whatever the number of polls
    fake_sacct.update(TERMINAL)
    h = Harness(TERMINAL)
    still = None
    for _ in range(3):
        still = h.poll(still)
    assert set(still) == {"1", "8", "10", "11", "12"}
    assert set(h.failed) == {"2", "3", "4", "5", "6", "7"} and h.succeeded == ["9"]


def test_corrected_plugin_fails_every_terminal_state_naming_job_state_and_log(fake_sacct):
    assert slurm_states.install(plugin, version="2.8.0")
    fake_sacct.update(TERMINAL)
    h = Harness(TERMINAL)
    assert sorted(h.poll(), key=int) == ["10", "11"]  # only RUNNING and PENDING are polled again
    assert h.succeeded == ["9"]
    assert set(h.failed) == set(TERMINAL) - {"9", "10", "11"}
    for jobid, (msg, aux_logs) in h.failed.items():
        assert f"SLURM-job '{jobid}' failed" in msg
        assert TERMINAL[jobid].split()[0].rstrip("+") in msg
        assert aux_logs == [f"/logs/{jobid}.log"]  # Snakemake prints it under "log:"
    assert "'CANCELLED by 0'" in h.failed["1"][0] and "SLURM log: /logs/1.log" in h.failed["1"][0]
    assert "not requeued" in h.failed["8"][0]
    assert sum("erasure.slurm_states: correcting" in line for line in h.logs) == 1
    assert h.executor.next_seconds_between_status_checks == 3, (
        "jobs ended: poll again soon (plugin: 170 + 10)"
    )
    h.poll(["10"])
    assert sum("erasure.slurm_states: correcting" in line for line in h.logs) == 1, "announced once"
    assert h.executor.next_seconds_between_status_checks == 13, "nothing ended: the plugin's +10 s"


def test_poll_interval_is_capped_while_nothing_ends(fake_sacct):
    slurm_states.install(plugin, version="2.8.0")
    fake_sacct.update({"10": "RUNNING"})
    h = Harness({"10": "RUNNING"})
    for _ in range(25):  # the plugin alone would reach 170 + 10 = 180 s
        h.poll()
    assert h.executor.next_seconds_between_status_checks == slurm_states.MAX_POLL_INTERVAL_S


def test_corrected_plugin_waits_for_a_preempted_job_when_requeue_is_set(fake_sacct):
    slurm_states.install(plugin, version="2.8.0")
    fake_sacct.update({"8": "PREEMPTED", "1": "CANCELLED by 1000"})
    h = Harness({"8": "PREEMPTED", "1": "CANCELLED by 1000"}, requeue=True)
    assert h.poll() == ["8"]
    assert set(h.failed) == {"1"}


def test_correction_is_off_for_a_version_that_is_not_the_broken_one(fake_sacct):
    original = plugin.Executor.check_active_jobs
    assert slurm_states.install(plugin, version="2.9.0") is False
    assert plugin.Executor.check_active_jobs is original
    fake_sacct.update({"1": "CANCELLED by 0"})
    assert Harness({"1": "CANCELLED by 0"}).poll() == ["1"]  # the plugin's own behaviour, untouched


def test_install_is_idempotent(fake_sacct):
    assert slurm_states.install(plugin, version="2.8.0")
    wrapped = plugin.Executor.check_active_jobs
    assert slurm_states.install(plugin, version="2.8.0")
    assert plugin.Executor.check_active_jobs is wrapped


def test_job_cancelled_before_it_could_start_is_found_by_id(fake_sacct):
    # sacct -S ... -E now lists eligible jobs only: one with --begin ahead never shows, even once cancelled
    assert slurm_states.install(plugin, version="2.8.0")
    fake_sacct.update({"20": "RUNNING"})
    fake_sacct.by_id_only.update({"21": "CANCELLED by 0", "22": "PENDING"})
    h = Harness({"20": "RUNNING", "21": "CANCELLED by 0", "22": "PENDING"})
    assert sorted(h.poll()) == ["20", "22"]
    assert set(h.failed) == {"21"} and "'CANCELLED by 0'" in h.failed["21"][0]


def test_plugin_alone_polls_a_job_cancelled_before_it_could_start_forever(fake_sacct):
    fake_sacct.by_id_only.update({"21": "CANCELLED by 0"})
    h = Harness({"21": "CANCELLED by 0"})
    assert h.poll() == ["21"] and h.poll(["21"]) == ["21"] and not h.failed


def test_poll_interval_is_reset_when_a_job_fails(fake_sacct):
    # the plugin resets it on success only; after a failure Snakemake's shutdown would wait out one more
    slurm_states.install(plugin, version="2.8.0")
    fake_sacct.update({"2": "TIMEOUT", "10": "RUNNING"})
    h = Harness({"2": "TIMEOUT", "10": "RUNNING"})
    assert h.poll() == ["10"]
    assert h.executor.next_seconds_between_status_checks == 3
