"""What a run through the SLURM profile checks once, after planning and before its first `sbatch`.

1. The partitions its jobs will be submitted to exist (`sinfo`). Without this, a wrong `SLURM_PARTITION`
   surfaces as one sbatch error per ready job, each with its 1.6k-character sbatch command line.
2. No job of an earlier run of this workflow is still queued or running for an output this run is about to
   build. After the main Snakemake process is killed (SIGKILL, a lost login node), its SLURM jobs keep
   running; `--unlock` and the same command would submit those very jobs again, and two copies would write
   the same checkpoints and outputs. Such jobs are found with `squeue --me`: the SLURM plugin submits every
   job with `--comment rule_<rule>_wildcards_<values>` and `-D <working directory>`, so a job of this
   workflow is one whose working directory is ours and whose comment is that of a job in our plan.
   The run refuses in one line naming them and the `scancel` that ends them. It does not wait for them:
   Snakemake has planned before this check, so what they finish meanwhile would be rebuilt all the same;
   the next run after they end plans only what is left. `ERASURE_SLURM_ORPHANS=ignore` submits anyway.

And 3. the rule `log:` files of the planned jobs are removed before anything is submitted. Snakemake
removes a job's `log:` files when the job starts (`Job.prepare`), which on SLURM happens inside the SLURM
job; a job cancelled while still pending never starts, so its `log:` path -- the same file for every run
of that rule and wildcards -- would still hold an earlier run's log, and `show-failed-logs` would print it
as this job's. Removed here, a rule log only ever holds what a job of this run wrote.

1 and 3 only for the `slurm` executor. 2 also for any other executor on a machine with `squeue` on PATH:
a run started with `--cores` on a cluster node after a killed SLURM run races its orphans just the same.
Never in a dry run (`on_start` is called from the Snakefile's `onstart`, which Snakemake runs only for a
real run, and never inside a job: jobs are spawned with `--no-hooks`). Off a cluster, a local run pays one
PATH lookup. Library code: it reads the workflow object it is given (duck-typed, as erasure.slurm_states
reads the plugin) and never imports snakemake.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from erasure.errors import ErasureError
from erasure.slurm_states import FAILURE_STATES, base_state

ORPHANS_ENV = "ERASURE_SLURM_ORPHANS"  # unset: refuse; "ignore": submit anyway
PARTITION_ENV = "SLURM_PARTITION"  # read by slurm/config.yaml's default-resources: slurm_partition
CPU_PARTITION_ENV = "SLURM_CPU_PARTITION"  # the partition of every rule without a GPU (the Snakefile's last lines)
SHOWN = 6  # jobs named in the one line; the rest are counted (every id is in the scancel command)

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=60, check=False)


@dataclass(frozen=True)
class PlannedJob:
    """One job of the plan, as the SLURM plugin will submit it.

    rule: the rule's name; wildcards: name -> value, in the rule's order; partition: its resource
    `slurm_partition` ("" = the cluster's default; "a,b" = either); cluster: its `clusters` resource, if any;
    logs: its `log:` files.
    """

    rule: str
    wildcards: Mapping[str, str] = field(default_factory=dict)
    partition: str = ""
    cluster: str = ""
    logs: tuple[str, ...] = ()

    @property
    def comment(self) -> str:
        """The `--comment` snakemake-executor-plugin-slurm (2.x, `run_job`) gives this job's sbatch call."""
        values = "_".join(str(v) for v in self.wildcards.values()).replace("/", "_")
        return f"rule_{self.rule}_wildcards_{values}" if values else f"rule_{self.rule}"

    def describe(self) -> str:
        """'erase (world=toy, run=sdd)'."""
        wildcards = ", ".join(f"{k}={v}" for k, v in self.wildcards.items())
        return f"{self.rule} ({wildcards})" if wildcards else self.rule


@dataclass(frozen=True)
class QueuedJob:
    """One line of `squeue --me`: SLURM job id, state, job name (the plugin's run id), working directory,
    comment."""

    jobid: str
    state: str
    name: str
    workdir: str
    comment: str


# ---- 1. partitions ----------------------------------------------------------------------------------------


def _query(command: list[str], run: Runner) -> str | None:
    """stdout of a SLURM client command; None when it is not installed or fails (then nothing is checked)."""
    if run is _run and shutil.which(command[0]) is None:
        return None
    try:
        proc = run(command)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def existing_partitions(run: Runner = _run) -> list[str] | None:
    """The partitions SLURM knows here (hidden ones included), the default one marked with '*'; None when
    `sinfo` is missing or fails (then nothing is checked: the plugin reports what sbatch says)."""
    listing = _query(["sinfo", "--all", "--noheader", "--format=%P"], run)
    if listing is None:
        return None
    return list(dict.fromkeys(line.strip() for line in listing.splitlines() if line.strip()))


def check_partitions(jobs: Iterable[PlannedJob], env: Mapping[str, str] = os.environ,
                     run: Runner = _run) -> None:
    """Refuse, before anything is submitted, a partition that does not exist.

    Every partition named by a job's `slurm_partition` (comma-separated names count one by one) must be one
    `sinfo` lists. Jobs with a `clusters` resource are skipped (their partitions live on another cluster).

    Raises:
        ErasureError: one line naming the missing partition, where it came from (the SLURM_PARTITION
            environment variable, read by slurm/config.yaml, or the rules whose `slurm_partition` resource
            names it) and the partitions that exist.
    """
    wanted: dict[str, list[str]] = {}  # partition -> rules asking for it
    for job in jobs:
        if job.cluster:
            continue
        for name in job.partition.split(","):
            if name.strip():
                rules = wanted.setdefault(name.strip(), [])
                if job.rule not in rules:
                    rules.append(job.rule)
    if not wanted:
        return
    listed = existing_partitions(run)
    if listed is None:
        return
    names = {p.rstrip("*") for p in listed}
    missing = [p for p in wanted if p not in names]
    if not missing:
        return
    from_env = {p.strip(): name for name in (CPU_PARTITION_ENV, PARTITION_ENV)
                for p in env.get(name, "").split(",") if p.strip()}
    what = []
    for p in missing:
        if p in from_env:
            name = from_env[p]
            role = "the profile's slurm_partition" if name == PARTITION_ENV else "the partition of jobs without a GPU"
            what.append(f"'{p}' (from {name}={env[name]} in the environment: {role})")
        else:
            rules = wanted[p]
            shown = ", ".join(rules[:3]) + (f" and {len(rules) - 3} more" if len(rules) > 3 else "")
            what.append(f"'{p}' (resource slurm_partition of rule {shown}: --set-resources or a profile)")
    names = sorted({from_env[p] for p in missing if p in from_env}, reverse=True)
    fix = (f"set {' / '.join(names)} to one of them, or unset it for the cluster's default"
           if names else "name one of them in slurm_partition")
    raise ErasureError(
        f"SLURM partition{'s' if len(missing) > 1 else ''} {', '.join(what)} "
        f"{'do' if len(missing) > 1 else 'does'} not exist on this cluster; partitions here: "
        f"{', '.join(listed) or 'none'} ('*': the default); {fix}. Nothing was submitted"
    )


# ---- 2. jobs of an earlier run ----------------------------------------------------------------------------


def queued_jobs(run: Runner = _run) -> list[QueuedJob] | None:
    """Your jobs SLURM still lists (`squeue --me`), without those in a final state; None when `squeue` is
    missing or fails (then nothing is checked)."""
    # the comment last: a working directory may hold '|', the plugin's comments (our wildcard values) not
    listing = _query(["squeue", "--me", "--noheader", "--format=%i|%T|%j|%Z|%k"], run)
    if listing is None:
        return None
    jobs = []
    for line in listing.splitlines():
        head = line.strip().split("|", 3)
        if len(head) != 4:
            continue
        jobid, state, name, rest = head
        workdir, _, comment = rest.rpartition("|")
        if base_state(state) in FAILURE_STATES | {"COMPLETED"}:
            continue  # squeue shows finished jobs for MinJobAge seconds
        jobs.append(QueuedJob(jobid.strip(), state.strip(), name.strip(), workdir.strip(), comment.strip()))
    return jobs


def _same_dir(a: str, b: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def orphans(jobs: Iterable[PlannedJob], queued: Iterable[QueuedJob], workdir: str | os.PathLike
            ) -> list[tuple[QueuedJob, PlannedJob]]:
    """The queued or running SLURM jobs submitted from `workdir` for a job of the plan, each with it."""
    by_comment = {job.comment: job for job in jobs}
    return [(q, by_comment[q.comment]) for q in queued
            if q.comment in by_comment and q.workdir and _same_dir(q.workdir, workdir)]


def orphans_message(found: Sequence[tuple[QueuedJob, PlannedJob]], workdir: str | os.PathLike) -> str:
    """The one line that refuses to submit next to `found`."""
    n = len(found)
    named = "; ".join(f"{q.jobid} {q.state} {p.describe()}" for q, p in found[:SHOWN])
    if n > SHOWN:
        named += f"; and {n - SHOWN} more"
    ids = " ".join(q.jobid for q, _ in found)
    return (
        f"{n} SLURM job{'s' if n > 1 else ''} of an earlier run of this workflow (working directory {workdir}) "
        f"{'are' if n > 1 else 'is'} still queued or running for outputs this run would build: {named}; "
        f"a second copy would write the same files. Wait until `squeue --me` no longer lists "
        f"{'them' if n > 1 else 'it'} and run again, or end {'them' if n > 1 else 'it'}: scancel {ids} "
        f"({ORPHANS_ENV}=ignore goes ahead anyway). Nothing was started"
    )


def check_orphans(jobs: Sequence[PlannedJob], workdir: str | os.PathLike, env: Mapping[str, str] = os.environ,
                  run: Runner = _run) -> None:
    """Refuse to submit while a job of an earlier run of this workflow builds one of the same outputs.

    Raises:
        ErasureError: `orphans_message` (unless ERASURE_SLURM_ORPHANS=ignore).
    """
    if env.get(ORPHANS_ENV, "").strip().lower() == "ignore":
        return
    queued = queued_jobs(run)
    if not queued:
        return
    found = orphans(jobs, queued, workdir)
    if found:
        raise ErasureError(orphans_message(found, workdir))


# ---- 3. stale rule logs -----------------------------------------------------------------------------------


def remove_rule_logs(jobs: Iterable[PlannedJob], workdir: str | os.PathLike) -> int:
    """Remove the planned jobs' `log:` files (what Snakemake does for each job when it starts); the count."""
    removed = 0
    for job in jobs:
        for log in job.logs:
            path = Path(workdir, log)
            if path.is_file() or path.is_symlink():
                path.unlink()
                removed += 1
    return removed


# ---- the Snakefile's entry point --------------------------------------------------------------------------


def planned_jobs(workflow, submitted_only: bool = True) -> list[PlannedJob]:
    """The jobs Snakemake will run (`workflow.dag.needrun_jobs()`), as the plugin would submit them;
    `submitted_only`: without the jobs of local rules (they run in Snakemake's own process)."""
    out = []
    for job in workflow.dag.needrun_jobs():
        if getattr(job, "is_group", lambda: False)():
            members = list(job.jobs)
        else:
            members = [job]
        for member in members:
            if submitted_only and getattr(member, "is_local", False):
                continue  # runs in this process (localrules): never submitted
            resources = member.resources
            out.append(PlannedJob(
                rule=member.rule.name,
                wildcards={k: str(v) for k, v in member.wildcards_dict.items()},
                partition=str(resources.get("slurm_partition", "") or ""),
                cluster=str(resources.get("clusters", "") or resources.get("cluster", "")
                            or resources.get("slurm_cluster", "") or ""),
                logs=tuple(str(f) for f in member.log),
            ))
    return out


def uses_slurm(workflow) -> bool:
    plugin = getattr(workflow, "executor_plugin", None)
    return plugin is not None and getattr(plugin, "name", "") == "slurm"


def on_start(workflow, env: Mapping[str, str] = os.environ, run: Runner = _run) -> None:
    """Checks 1, 2 and 3 for a run through the slurm executor; check 2 alone for any other executor where
    `squeue` is on PATH; nothing in a dry run.

    Raises:
        ErasureError: from `check_partitions` or `check_orphans`; nothing was submitted or run.
    """
    if getattr(workflow, "dryrun", False):
        return
    workdir = os.getcwd()  # Snakemake has changed into --directory; the plugin submits with -D <this>
    if not uses_slurm(workflow):
        if run is _run and shutil.which("squeue") is None:
            return  # not a cluster machine: no SLURM job can race this run
        check_orphans(planned_jobs(workflow, submitted_only=False), workdir, env=env, run=run)
        return
    jobs = planned_jobs(workflow)
    check_partitions(jobs, env=env, run=run)
    check_orphans(jobs, workdir, env=env, run=run)
    remove_rule_logs(jobs, workdir)
