"""What every report job does around its work: thread limits, and a log that records the SLURM job id.

Report jobs only read CSVs and draw with matplotlib, so they limit BLAS/OpenMP threads through the
environment instead of erasure.runtime.set_threads, which imports torch (seconds per job; the report env
has no torch).
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def logged(log: str | Path, threads: int = 1) -> Iterator[None]:
    """Send stdout/stderr to `log`; its first line names the SLURM job (provenance reads it back)."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(max(1, int(threads)))
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as handle, contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
        print(f"SLURM_JOB_ID={os.environ.get('SLURM_JOB_ID', '')}  host={os.uname().nodename}  "
              f"python={sys.version.split()[0]}")
        try:
            yield
        except BaseException:
            traceback.print_exc()
            raise
