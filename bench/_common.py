"""Shared timing and reporting for the benchmarks in bench/.

Every benchmark script prints a readable table to stderr and one JSON document to stdout (and to
`--json PATH` when given). The JSON has the same top level in every script:

    {"benchmark": str, "schema": 1, "machine": {...}, "args": {...}, "results": [ {...}, ... ], "notes": [str]}

Each result row has at least `name` and, when it is a timing, `median_s`, `q1_s`, `q3_s`, `iqr_s`,
`min_s`, `repeats`, `warmup` (see `timeit`). Nothing here imports the workflow or Snakemake.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import torch

SCHEMA = 1
TIMING_KEYS = ("median_s", "q1_s", "q3_s", "iqr_s", "min_s", "repeats", "warmup")


def reduced_env() -> bool:
    return os.environ.get("BENCH_REDUCED", "0") not in ("", "0")


def sync(device) -> None:
    """Wait for queued GPU work so a wall-clock timer measures it (no-op on CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def quantiles(times: list[float]) -> dict:
    xs = sorted(times)
    if len(xs) == 1:
        q1 = q3 = xs[0]
    else:
        q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return {"median_s": statistics.median(xs), "q1_s": q1, "q3_s": q3, "iqr_s": q3 - q1, "min_s": xs[0]}


def timeit(fn: Callable[[], object], *, warmup: int = 1, repeats: int = 5, device="cpu") -> dict:
    """Run `fn` `warmup` times untimed, then `repeats` times timed (GPU synchronised around each call)."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        sync(device)
        tick = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - tick)
    return {**quantiles(times), "repeats": repeats, "warmup": warmup, "times_s": times}


def summarize(times: list[float], *, warmup: int = 0) -> dict:
    """The same keys as `timeit` for times measured elsewhere."""
    return {**quantiles(times), "repeats": len(times), "warmup": warmup, "times_s": list(times)}


class Stopwatch:
    """Accumulates named, synchronised intervals: `with sw("name"): ...`."""

    def __init__(self, device="cpu"):
        self.device = device
        self.times: dict[str, list[float]] = {}

    @contextmanager
    def __call__(self, name: str):
        sync(self.device)
        tick = time.perf_counter()
        yield
        sync(self.device)
        self.times.setdefault(name, []).append(time.perf_counter() - tick)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # noqa: BLE001 - not installed
        return None


def machine() -> dict:
    """What the numbers were measured on (and how busy it was)."""
    info = {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "diffusers": _version("diffusers"),
        "transformers": _version("transformers"),
        "snakemake": _version("snakemake"),
        "loadavg_1_5_15": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cuda": None,
    }
    try:
        import psutil

        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["cuda"] = {"device": props.name, "memory_gb": round(props.total_memory / 2**30, 1),
                        "capability": f"{props.major}.{props.minor}", "cuda_version": torch.version.cuda}
    return info


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", type=Path, help="also write the JSON document here")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: leave as is)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--reduced", action="store_true", default=reduced_env(),
                        help="smallest sizes and repeats, for tests (also BENCH_REDUCED=1)")
    return parser


def apply_threads(n: int | None) -> None:
    if n:
        os.environ["OMP_NUM_THREADS"] = str(n)
        torch.set_num_threads(n)


def _fmt(value) -> str:
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1000 or abs(value) < 1e-3:
            return f"{value:.3g}"
        return f"{value:.4g}"
    if value is None:
        return "-"
    return str(value)


def table(rows: list[dict], columns: list[str]) -> str:
    """A plain-text table of `rows` restricted to `columns` (missing cells as '-')."""
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (torch.dtype, torch.device)):
        return str(obj)
    if isinstance(obj, float) and obj != obj:  # NaN -> null
        return None
    return obj


def document(benchmark: str, args, results: list[dict], notes: list[str] | None = None, **extra) -> dict:
    arg_dict = vars(args) if isinstance(args, argparse.Namespace) else dict(args or {})
    return _jsonable({"benchmark": benchmark, "schema": SCHEMA, "machine": machine(), "args": arg_dict,
                      "results": results, "notes": list(notes or []), **extra})


def emit(doc: dict, columns: list[str], path: Path | None = None) -> dict:
    """Print the table (stderr) and the JSON (stdout, and `path`)."""
    print(f"\n== {doc['benchmark']} ==  load average {doc['machine'].get('loadavg_1_5_15')}", file=sys.stderr)
    print(table(doc["results"], columns), file=sys.stderr)
    for note in doc.get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    if path is not None:
        write_json(doc, path)
    print(json.dumps(doc, indent=2))
    return doc


def write_json(doc: dict, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)


def peak_memory_gb(device) -> float | None:
    device = torch.device(device)
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**30


def reset_peak_memory(device) -> None:
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
