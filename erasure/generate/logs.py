"""What the generate / prompt shims share: everything (warnings, progress) goes to the rule's log file,
and a user-fixable error ends the job with its one-line message instead of a traceback."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from erasure.errors import ErasureError


@contextlib.contextmanager
def logged(log_file: str | Path | None) -> Iterator[None]:
    real_stderr = sys.stderr
    handle = open(log_file, "a") if log_file else None  # noqa: SIM115 - closed below
    try:
        if handle is not None:
            logging.basicConfig(stream=handle, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                                force=True)
        with contextlib.redirect_stderr(handle or sys.stderr), contextlib.redirect_stdout(handle or sys.stdout):
            try:
                yield
            except ErasureError as exc:
                print(f"ErasureError: {exc}", file=handle or real_stderr)
                print(f"ErasureError: {exc}", file=real_stderr)
                raise SystemExit(1) from None
    finally:
        if handle is not None:
            handle.close()
