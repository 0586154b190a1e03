"""One wrapper around every rule's job (erasure.runtime.job): threads, the log and its SLURM header, and a
user-fixable ErasureError as one line."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch

from erasure.errors import ErasureError
from erasure.runtime import THREAD_VARIABLES, job

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def restore_threads(monkeypatch):
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_an_erasure_error_is_one_line_in_the_log_and_on_stderr(tmp_path, capsys, restore_threads):
    log = tmp_path / "logs" / "job.log"
    with pytest.raises(SystemExit) as exit_info, job(log):
        print("working")
        raise ErasureError("prompts.csv: column 'prompt' missing")
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.splitlines() == ["ErasureError: prompts.csv: column 'prompt' missing"]
    lines = log.read_text().splitlines()
    assert lines[0].startswith("SLURM_JOB_ID=") and lines[2:] == ["working", "ErasureError: prompts.csv: column "
                                                                 "'prompt' missing"]
    # the startup line bench/frontdoor.py reads: this test process has run for more than zero seconds
    startup = re.search(r"erasure\.job: startup_s=([0-9.]+)$", lines[1])
    assert startup and float(startup.group(1)) > 0


def test_without_a_log_the_error_is_still_one_line(capsys, restore_threads):
    with pytest.raises(SystemExit), job(None):
        raise ErasureError("bad")
    assert capsys.readouterr().err.splitlines() == ["ErasureError: bad"]


def test_other_errors_keep_their_traceback_in_the_log_and_attempts_append(tmp_path, monkeypatch, restore_threads):
    log = tmp_path / "job.log"
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    with pytest.raises(ZeroDivisionError), job(log):
        1 / 0  # noqa: B018
    with job(log):
        print("second attempt")
    text = log.read_text()
    assert "Traceback" in text and "ZeroDivisionError" in text
    assert text.count("SLURM_JOB_ID=4242") == 2 and text.rstrip().endswith("second attempt")


def test_threads_reach_blas_openmp_and_torch(restore_threads):
    with job(None, threads=3):
        assert all(os.environ[name] == "3" for name in THREAD_VARIABLES)
        assert torch.get_num_threads() == 3


def test_every_shim_runs_in_the_one_wrapper():
    # preflight is the one exception: its report is for the terminal, and it writes its log itself on failure
    shims = sorted(p for p in (ROOT / "workflow_scripts").glob("*.py") if p.name != "preflight.py")
    assert shims
    missing = [p.name for p in shims if "from erasure.runtime import job" not in p.read_text()]
    assert missing == []


def test_ready_marks_where_the_work_starts_after_the_startup(tmp_path, restore_threads):
    """erasure.runtime.ready: the line bench/frontdoor.py splits a job's time at (startup <= ready <= now)."""
    import time

    from erasure.runtime import ready, seconds_since_start

    log = tmp_path / "job.log"
    with job(log):
        time.sleep(0.05)
        ready()
        now = seconds_since_start()
    text = log.read_text()
    startup = float(re.search(r"startup_s=([0-9.]+)", text).group(1))
    ready_s = float(re.search(r"erasure\.job: ready_s=([0-9.]+)", text).group(1))
    assert startup + 0.04 <= ready_s <= now + 0.01
