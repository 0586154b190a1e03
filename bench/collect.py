"""Merge benchmark JSON documents into one file: python bench/collect.py OUT.json IN.json...

    {"schema": 1, "machine": <machine at collection time>, "benchmarks": {"<benchmark>[:<file stem>]": doc, ...}}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def collect(out: Path, inputs: list[Path]) -> dict:
    benchmarks = {}
    for path in inputs:
        doc = json.loads(Path(path).read_text())
        benchmarks[f"{doc['benchmark']}:{Path(path).stem}"] = doc
    merged = {"schema": C.SCHEMA, "machine": C.machine(), "benchmarks": benchmarks}
    C.write_json(merged, out)
    return merged


if __name__ == "__main__":
    collect(Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]])
