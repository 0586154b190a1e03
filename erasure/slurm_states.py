"""How a SLURM job's final state ends its Snakemake job, and a version-guarded correction of the SLURM
executor plugin where it reads a finished job as still running.

snakemake-executor-plugin-slurm 2.8.0 (`check_active_jobs`) compares each state string from
`sacct --parsable2 -o State` with a fixed tuple by equality, and treats a job missing from its sacct answer
as not yet recorded. Three kinds of finished job are therefore polled forever, and Snakemake never exits:

- ``CANCELLED by <uid>``: sacct's form of CANCELLED whenever the canceller is known (always, for
  `scancel`): not equal to ``"CANCELLED"``.
- ``PREEMPTED``: the plugin warns once ("We leave it to SLURM to resume your job(s)") and then reads it as
  running; but a preempted job that SLURM does not requeue (``--no-requeue``, or ``PreemptMode=CANCEL``)
  never runs again.
- a job cancelled before it became eligible (seen with a `--begin` time ahead; a held job is likely the
  same): the plugin asks sacct for the jobs *eligible* in a time window ending now
  (`-S ... -E now --name <run>`), which never lists it.

`install()` (called from the Snakefile) corrects all three, only for the plugin versions in `BROKEN_PLUGIN`,
by wrapping two names of the plugin: the module's `query_job_status` (unchanged, its raw state strings
are remembered) and `Executor.check_active_jobs`: a job the plugin still yields as running whose state
is a failure per `outcome` is reported as failed, naming its SLURM job id, state and log (every state the
plugin handles itself, e.g. TIMEOUT or FAILED, never reaches this check); a job missing from the plugin's
answer is looked up by id (one extra sacct call, only while such jobs exist); and the poll interval is kept
at most MAX_POLL_INTERVAL_S, and reset when a job failed (the plugin resets it on success only). For any
other plugin version it does nothing, so an upgrade that fixes the plugin switches the correction off;
the live tests in tests/cluster/test_slurm_live.py then show whether the new version needs it. The upstream fix (compare the state code, `base_state`):
docs/slurm-plugin-cancelled-state.md.

State names: SLURM's `sacct(1)` / `squeue(1)` "JOB STATE CODES" (22.05).
"""

from __future__ import annotations

import importlib.metadata
import time

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

PLUGIN_DIST = "snakemake-executor-plugin-slurm"
PLUGIN_MODULE = "snakemake_executor_plugin_slurm"
# Verified broken by reading its source and on the CI cluster (docs/slurm-plugin-cancelled-state.md).
# Widen only after checking a version's `check_active_jobs` by hand; never open-ended.
BROKEN_PLUGIN = SpecifierSet("==2.8.0")

SUCCESS = "success"
FAILED = "failed"
RUNNING = "running"

# Job state codes after which the job never runs again, other than COMPLETED (REVOKED: a federated
# sibling ran the job elsewhere).
FAILURE_STATES = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "REVOKED",
        "TIMEOUT",
    }
)
# With --requeue SLURM puts a preempted job back in the queue (PENDING, then RUNNING), but with
# PreemptMode=CANCEL it does not: a job still PREEMPTED after this long is failed all the same.
PREEMPTED_GRACE_S = 600.0

# At most this long between two status polls (the plugin's own cap is 180 s): one sacct call a minute.
MAX_POLL_INTERVAL_S = 60

MEANING = {
    "BOOT_FAIL": "its node failed to boot",
    "CANCELLED": "cancelled by a user or an administrator",
    "DEADLINE": "it reached its --deadline",
    "FAILED": "its command exited non-zero",
    "NODE_FAIL": "its node failed",
    "OUT_OF_MEMORY": "it used more memory than it asked for (mem_mb)",
    "PREEMPTED": "preempted by a higher-priority job, and not requeued",
    "REVOKED": "revoked by the federation",
    "TIMEOUT": "it ran past its time limit (runtime)",
}


def base_state(raw: str) -> str:
    """The job state code in one state string from sacct or squeue.

    'CANCELLED by 1000' -> 'CANCELLED' (sacct names the canceller), 'CANCELLED+' -> 'CANCELLED' (sacct
    without --parsable truncates to the column width and marks it with '+'), ' TIMEOUT ' -> 'TIMEOUT'.
    """
    words = raw.split()
    return words[0].rstrip("+") if words else ""


def outcome(raw: str, *, requeue: bool = False, preempted_for_s: float = 0.0) -> str:
    """What a job in state `raw` means for its Snakemake job: SUCCESS, FAILED or RUNNING (keep polling).

    `requeue`: the plugin's `requeue` setting (sbatch --requeue). PREEMPTED is FAILED without it; with
    it, SLURM requeues the job, so it is RUNNING (waited for) until it has been PREEMPTED for
    `preempted_for_s` >= PREEMPTED_GRACE_S seconds. Every state not terminal (PENDING, RUNNING,
    REQUEUED, SUSPENDED, COMPLETING, ...) and anything unrecognised is RUNNING, as in the plugin.
    """
    state = base_state(raw)
    if state == "COMPLETED":
        return SUCCESS
    if state == "PREEMPTED" and requeue and preempted_for_s < PREEMPTED_GRACE_S:
        return RUNNING
    if state in FAILURE_STATES:
        return FAILED
    return RUNNING


def failure_message(slurm_jobid: str, raw: str, log: str | None) -> str:
    """One line naming the SLURM job, its state (as SLURM wrote it, and what it means) and its SLURM log;
    it starts as the plugin's own failure messages do ("SLURM-job '<id>' failed, ...")."""
    state = base_state(raw)
    meaning = MEANING.get(state, "")
    return (
        f"SLURM-job '{slurm_jobid}' failed, SLURM status is: '{raw.strip()}'"
        + (f" ({meaning})" if meaning else "")
        + f"; SLURM log: {log or 'unknown'}; "  # Snakemake appends "For further error details ..."
    )


def plugin_version() -> str | None:
    try:
        return importlib.metadata.version(PLUGIN_DIST)
    except importlib.metadata.PackageNotFoundError:
        return None


def needs_correction(version: str | None) -> bool:
    """True only for a plugin version in BROKEN_PLUGIN (an unparsable or missing version: False)."""
    if version is None:
        return False
    try:
        return Version(version) in BROKEN_PLUGIN
    except InvalidVersion:
        return False


def _lookup_ids(external_jobid: str) -> list[str]:
    # An array task '<id>_<task>' may be listed under its parent id only (sacct -X), as in the plugin.
    parent, _, task = external_jobid.partition("_")
    return [external_jobid, parent] if task.isdigit() and parent.isdigit() else [external_jobid]


def _judge(executor, job, raw: str, requeue: bool, preempted_since: dict[str, float]) -> bool:
    """True if `job` (state `raw`) is still to be polled; else report it to Snakemake as failed."""
    jobid = job.external_jobid
    now = time.monotonic()
    if base_state(raw) == "PREEMPTED":
        since = preempted_since.setdefault(jobid, now)
    else:  # e.g. requeued: PENDING again
        since = preempted_since.pop(jobid, now)
    verdict = outcome(raw, requeue=requeue, preempted_for_s=now - since)
    if verdict != FAILED:
        # COMPLETED never gets here (the plugin reports it); anything else is polled again
        return True
    preempted_since.pop(jobid, None)
    log = job.aux.get("slurm_logfile")
    log = str(log) if log is not None else None
    executor.report_job_error(job, msg=failure_message(jobid, raw, log), aux_logs=[log] if log else [])
    return False


def install(module=None, version: str | None = None) -> bool:
    """Correct the plugin in place when its version needs it; True if it did (idempotent).

    `module` and `version` default to the installed plugin (tests pass a stand-in). The correction
    announces itself once, through the plugin's logger, the first time the plugin polls SLURM.
    """
    version = plugin_version() if version is None else version
    if not needs_correction(version):
        return False
    if module is None:
        import importlib

        module = importlib.import_module(PLUGIN_MODULE)
    executor_cls = module.Executor
    if getattr(executor_cls, "_erasure_corrected", False):
        return True
    query = module.query_job_status
    check = executor_cls.check_active_jobs
    last_states: dict[str, str] = {}  # SLURM job id -> raw state from the latest query

    async def query_job_status(command, logger):
        # unchanged for the plugin; the raw strings are kept for the check below
        states, seconds = await query(command, logger)
        if states is not None:
            last_states.clear()
            last_states.update(states)
        return states, seconds

    async def check_active_jobs(self, active_jobs):
        if not getattr(self, "_erasure_announced", False):
            self._erasure_announced = True
            self.logger.info(
                f"erasure.slurm_states: correcting {PLUGIN_DIST} {version} (it polls a job cancelled as "
                "'CANCELLED by <uid>', cancelled before it could start, or PREEMPTED, forever): every failed "
                "SLURM state fails its job; see docs/cluster.md"
            )
        preempted_since = self.__dict__.setdefault("_erasure_preempted_since", {})
        requeue = bool(getattr(self.workflow.executor_settings, "requeue", False))
        unseen = []  # still active per the plugin, but absent from its sacct answer
        still_active = 0
        async for job in check(self, active_jobs):
            raw = next((last_states[i] for i in _lookup_ids(job.external_jobid) if i in last_states), None)
            if raw is None:
                unseen.append(job)
            elif _judge(self, job, raw, requeue, preempted_since):
                still_active += 1
                yield job
        if unseen:
            # The plugin's sacct query lists jobs *eligible* in its time window: a job whose start time
            # (--begin) lies ahead is missing, also once cancelled. Ask for these by id.
            ids = ",".join(sorted({job.external_jobid.partition("_")[0] for job in unseen}))
            states, _ = await query(
                f"sacct -X --parsable2 --noheader --clusters all -j {ids} --format=JobIdRaw,State",
                self.logger,
            )
            for job in unseen:
                raw = (
                    next((states[i] for i in _lookup_ids(job.external_jobid) if i in states), None)
                    if states
                    else None
                )
                if raw is None or _judge(self, job, raw, requeue, preempted_since):
                    still_active += 1
                    yield job
        # The plugin lengthens the poll interval by 10 s per poll in which no job *succeeded*, up to 180 s:
        # a job cancelled hours into its run would be noticed only up to 3 min later, and after a failure
        # Snakemake's shutdown waits out that interval once more. So: at most MAX_POLL_INTERVAL_S, and back
        # to the first interval whenever a job ended, however it ended.
        if still_active < len(active_jobs):
            self.next_seconds_between_status_checks = getattr(
                self.workflow.executor_settings, "init_seconds_before_status_checks", 40
            )
        self.next_seconds_between_status_checks = min(
            self.next_seconds_between_status_checks, MAX_POLL_INTERVAL_S
        )

    module.query_job_status = query_job_status
    executor_cls.check_active_jobs = check_active_jobs
    executor_cls._erasure_corrected = True
    return True
