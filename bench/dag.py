"""Snakemake scale: DAG build and dry-run time for config/paper.yaml; no-op rerun time for the toy config.

    python bench/dag.py [--results DIR] [--repeats 3]

Each timing is a fresh `python -m snakemake ...` process from the repo root (what a user waits for),
with --nolock so that it can run beside a live workflow:

    startup      `snakemake --version`: interpreter + snakemake import, the fixed cost inside every figure
    paper_dag    `--dag` with config/paper.yaml: parse, validate the config, build the whole DAG (dot to /dev/null)
    paper_dryrun `-n --quiet rules` with config/paper.yaml: the DAG plus the file-state and rerun checks
    toy_dryrun   `-n` with the toy config
    toy_noop     `--cores 1` on the toy config over `--results DIR` holding a COMPLETED toy run: the DAG
                 and every rerun trigger (mtime, params, code, input checksums) find nothing to do. Skipped
                 with a note when no DIR is given or its dry run still has jobs (it would run them).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import _models as M  # noqa: E402

PAPER = M.REPO / "config" / "paper.yaml"
TOY = M.REPO / "config" / "config.yaml"


def snakemake(*args: str, results: Path | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "snakemake", "--nolock", *args]
    if results is not None:
        cmd += ["--config", f"results={results}"]
    return cmd


def run_timed(cmd: list[str], repeats: int, warmup: int) -> tuple[dict, str]:
    out = ""
    times = []
    for i in range(warmup + repeats):
        tick = time.perf_counter()
        proc = subprocess.run(cmd, cwd=M.REPO, capture_output=True, text=True)
        elapsed = time.perf_counter() - tick
        out = proc.stdout + proc.stderr
        if proc.returncode != 0:
            tail = " | ".join(line for line in out.strip().splitlines()[-3:])
            raise RuntimeError(f"exit {proc.returncode}: {tail[:400]}")
        if i >= warmup:
            times.append(elapsed)
    return C.summarize(times, warmup=warmup), out


def job_count(text: str) -> int | None:
    """The 'total' of snakemake's job-stats table."""
    match = re.search(r"^total\s+(\d+)", text, re.MULTILINE)
    return int(match.group(1)) if match else (0 if "Nothing to be done" in text else None)


def main(argv=None) -> dict:
    parser = C.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, help="a results dir holding a completed toy run (for toy_noop)")
    parser.set_defaults(repeats=3)
    args = parser.parse_args(argv)
    if args.reduced:
        args.repeats, args.warmup = 1, 0
    rows, notes = [], []
    cases = [
        ("startup", ["--version"], None),
        ("paper_dag", ["--dag", "--configfile", str(PAPER)], None),
        ("paper_dryrun", ["-n", "--quiet", "rules", "--configfile", str(PAPER)], None),
        ("toy_dryrun", ["-n", "--quiet", "rules", "--configfile", str(TOY)], None),
    ]
    for name, extra, results in cases:
        try:
            timing, out = run_timed(snakemake(*extra, results=results), args.repeats, args.warmup)
        except RuntimeError as exc:
            rows.append({"name": name, "error": str(exc)})
            notes.append(f"{name}: {exc}")
            continue
        row = {"name": name, **timing}
        if name.endswith("dryrun"):
            row["jobs"] = job_count(out)
        if name == "paper_dag":
            row["dag_nodes"] = len(re.findall(r"^\s*\d+\[label", out, re.MULTILINE))
        rows.append(row)
    if args.results is None:
        notes.append("toy_noop skipped: no --results DIR with a completed toy run given")
    elif not args.results.is_dir():
        notes.append(f"toy_noop skipped: {args.results} does not exist")
    else:
        results = args.results.resolve()
        probe = subprocess.run(snakemake("-n", "--configfile", str(TOY), results=results), cwd=M.REPO,
                               capture_output=True, text=True)
        pending = job_count(probe.stdout + probe.stderr)
        if probe.returncode != 0 or pending != 0:
            notes.append(f"toy_noop skipped: {results} is not a completed toy run (dry run: exit "
                         f"{probe.returncode}, {pending} jobs pending); a real run would execute them")
        else:
            timing, out = run_timed(snakemake("--cores", "1", "--configfile", str(TOY), results=results),
                                    args.repeats, args.warmup)
            rows.append({"name": "toy_noop", **timing, "jobs": job_count(out), "results": str(results)})
    doc = C.document("dag", args, rows, notes)
    C.emit(doc, ["name", "median_s", "iqr_s", "repeats", "jobs", "dag_nodes"], args.json)
    return doc


if __name__ == "__main__":
    main()
