"""Shared test settings: one torch thread per test process, and the end-to-end files first.

The suite runs on pytest-xdist workers (pyproject's addopts: `-n auto --dist loadfile`, at most 4), one
test file per worker at a time, so a file's module-scoped fixture (a whole smoke run) is made once. Most tests
use one core; the end-to-end fixtures run Snakemake with `--cores 2`. Starting those files first keeps both
cores busy to the end instead of leaving a multi-minute smoke run alone at the tail (`-p no:xdist` or `-n 0`
runs the suite in one process, in the same order).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach for a hub

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    import torch

    torch.set_num_threads(1)


def pytest_collection_modifyitems(session, config, items):
    """The files marked slow (module-level `pytestmark = pytest.mark.slow`) first, longest known first; the
    rest in collection order; with ERASURE_SMOKE_RUN, tests/test_smoke.py last. xdist's loadfile scheduling hands files to workers in this order."""
    first = {"test_sd_smoke.py": 0, "test_smoke.py": 1}
    # CI makes the smoke run through SLURM alongside the suite (.ci/run): its checks wait for that run, last
    last = {"test_smoke.py"} if os.environ.get("ERASURE_SMOKE_RUN") else set()

    def rank(item):
        if item.path.name in last:
            return (2, 0)
        slow = item.get_closest_marker("slow") is not None
        return (0, first.get(item.path.name, 2)) if slow else (1, 0)

    items.sort(key=rank)  # stable: within a rank, collection order


@pytest.fixture
def repo() -> Path:
    return REPO
