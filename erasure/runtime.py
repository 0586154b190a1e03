"""Process-wide runtime settings, and the one wrapper every workflow shim runs its job in.

torch is imported only by the functions that need it: report jobs run `job` in an env without torch.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from erasure.errors import ErasureError

if TYPE_CHECKING:
    import torch

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def set_threads(n: int) -> None:
    """Use exactly `n` CPU threads, so that parallel Snakemake jobs do not thrash two cores."""
    import torch

    n = max(1, int(n))
    os.environ["OMP_NUM_THREADS"] = str(n)
    torch.set_num_threads(n)


def limit_threads(n: int) -> None:
    """Limit BLAS / OpenMP to `n` threads without importing torch: through the environment, which torch
    reads when it is first imported, and torch.set_num_threads when it already is."""
    n = max(1, int(n))
    for name in THREAD_VARIABLES:
        os.environ[name] = str(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


def seconds_since_start() -> float | None:
    """Seconds since this process started (Linux /proc; None elsewhere): a job's startup, imports included."""
    try:
        # /proc/self/stat field 22 (starttime, clock ticks after boot); fields after "(comm)" start at field 3
        start = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
        return max(0.0, float(Path("/proc/uptime").read_text().split()[0]) - start)
    except (OSError, ValueError, IndexError):
        return None


def ready() -> None:
    """Mark where a job's work starts: logs `erasure.job: ready_s=…`, the seconds from process start to here
    (the interpreter, Snakemake's script preamble, imports and model loading). bench/frontdoor.py splits each
    job's time at this line into startup and work."""
    seconds = seconds_since_start()
    if seconds is not None:
        logging.getLogger("erasure.job").info("ready_s=%.2f", seconds)


def snakemake_job():
    """The Snakemake job this process runs, or None: the `snakemake` object Snakemake's script preamble puts
    in the script's globals, which is `__main__` for a `script:` rule (duck-typed; snakemake is not imported)."""
    found = getattr(sys.modules.get("__main__"), "snakemake", None)
    return found if all(hasattr(found, a) for a in ("rule", "input", "output")) else None


@contextlib.contextmanager
def job(log: str | os.PathLike | None, threads: int = 1, *, step: object | None = None) -> Iterator[None]:
    """What every rule's job does around its work (workflow_scripts/*.py).

    Args:
        log: the rule's log file, appended to (a rerun keeps the failed attempt's lines above its own); None
            leaves stdout / stderr where they are (tests, interactive calls).
        threads: the rule's `threads`: BLAS / OpenMP / torch threads (`limit_threads`).
        step: the Snakemake job (its `snakemake` object: rule, input, output, wildcards, params, log) whose
            record to write; None: the one this process runs (`snakemake_job`), if any.

    When the block succeeds inside a Snakemake job, its record (erasure.records: inputs and outputs with
    sha256, rule, wildcards, params, software versions, SLURM job id, start and end) is written beside each
    output; a failed job writes none. Outside a job (tests, library calls) nothing is recorded.

    Every attempt's first log line names its SLURM job and host (the job record holds the id too), the next
    its startup time (`erasure.job: startup_s=…`, seconds from process start to the job
    body; bench/frontdoor.py reads it); stdout, stderr and Python logging go to the log. An ErasureError (a user-fixable problem: a bad
    file, key or value) ends the job with its one line, in the log and on the real stderr, and exit code 1;
    any other exception's traceback is written to the log and re-raised.

    Raises:
        SystemExit: (code 1) on an ErasureError inside the block.
    """
    limit_threads(threads)
    step = step if step is not None else snakemake_job()
    started = _now() if step is not None else None
    real_stderr = sys.stderr
    handle = None
    if log is not None:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        handle = open(log, "a")  # noqa: SIM115 - closed below
        print(f"SLURM_JOB_ID={os.environ.get('SLURM_JOB_ID', '')}  host={os.uname().nodename}  "
              f"python={sys.version.split()[0]}", file=handle, flush=True)
        logging.basicConfig(stream=handle, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", force=True)
        startup = seconds_since_start()
        if startup is not None:
            logging.getLogger("erasure.job").info("startup_s=%.2f", startup)
    try:
        with contextlib.redirect_stderr(handle or sys.stderr), contextlib.redirect_stdout(handle or sys.stdout):
            try:
                yield
                if step is not None:
                    from erasure.records import write_job_record

                    write_job_record(step, started=started)
            except ErasureError as exc:
                print(f"ErasureError: {exc}", file=handle or real_stderr)
                if handle is not None:
                    print(f"ErasureError: {exc}", file=real_stderr)
                raise SystemExit(1) from None
            except BaseException as exc:
                if handle is not None and not isinstance(exc, SystemExit):
                    traceback.print_exc(file=handle)
                raise
    finally:
        if handle is not None:
            handle.close()


def _now() -> str:
    from erasure.records import now

    return now()


def pick_device(name: str = "auto") -> "torch.device":
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        raise ErasureError(f"device: {name!r} but this machine has no usable CUDA GPU; set device: auto or cpu")
    return torch.device(name)
