"""The front door: the README's main command (`snakemake --cores all`, the default toy DAG) from a fresh clone.

    python bench/frontdoor.py [--pip] [--scratch DIR] [--keep] [--json PATH]   # clone HEAD, run, analyse
    python bench/frontdoor.py --analyse RUN_DIR                                 # analyse a finished run only

Steps (each timed with the wall clock; CPU seconds from the OS's accounting of the step's child processes):
    clone        `git clone` of this repository's HEAD into a scratch folder (committed files only, as a user gets)
    pip          (--pip) `pip install -e .` there: the README line is `pip install -e . && snakemake --cores all`;
                 without --pip the clone is put first on PYTHONPATH instead, which imports exactly what an
                 editable install of it would, without re-pointing this machine's installed `erasure`
    run          `snakemake --cores all` there: wall seconds and the CPU seconds of every process it started
    noop         the same command again: nothing to do (target: <= 3 s)

Per rule, from the `benchmark:` TSV every job writes (results/toy/benchmarks/<rule>/...): jobs, wall seconds
(sum, mean), CPU seconds (sum). Per job, from its log, the split of its wall time into startup and work:
`ready_s` (erasure.runtime.ready: process start to the start of the work — interpreter, Snakemake's script
preamble, imports, model loading), else `startup_s` + `load_s` (older logs). Jobs whose log has neither count
as all work, so the startup share is a lower bound.
Whole run: `run_cpu_s` (all processes), `jobs_cpu_s` (the benchmarked jobs), `other_cpu_s` = the difference
(Snakemake's own process and jobs without a benchmark file), and `floor_s` = run_cpu_s / cores, the wall time
the same CPU work would take with both cores busy throughout. Wall times are only comparable between runs on
the same idle machine: the JSON records the load average before and after.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TIMING = re.compile(r"\b(ready_s|startup_s|load_s)['\"]?[=:]\s*([0-9.]+)")


def _run(cmd: str, cwd: Path, env: dict, log: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of every process it started) of shell command `cmd`."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    tick = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.run(cmd, shell=True, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    elapsed = time.perf_counter() - tick
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
        raise SystemExit(f"frontdoor: `{cmd}` failed in {cwd} (exit {proc.returncode}): {tail[:400]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _job_log(results: Path, rule: str, bench_file: Path, bench_root: Path) -> Path:
    """The job's log beside its benchmark file: logs/{rule}/{wildcards...}.log, or logs/{rule}.log for a rule
    without wildcards (benchmarks/{rule}.tsv)."""
    if bench_file.parent == bench_root:
        return results / "logs" / bench_file.with_suffix(".log").name
    relative = bench_file.relative_to(bench_root / rule).with_suffix(".log")
    return results / "logs" / rule / relative


def analyse(run_dir: Path) -> dict:
    """Per-rule and per-job breakdown of a finished run in `run_dir` (its `results/<world>/benchmarks`)."""
    per_rule: dict[str, dict] = defaultdict(lambda: {"jobs": 0, "wall_s": 0.0, "cpu_s": 0.0, "startup_s": 0.0,
                                                     "load_s": 0.0, "jobs_with_split": 0})
    for bench_root in sorted(run_dir.glob("results/*/benchmarks")):
        results = bench_root.parent
        for tsv in sorted(bench_root.rglob("*.tsv")):
            rule = tsv.relative_to(bench_root).parts[0].removesuffix(".tsv")
            with open(tsv) as handle:
                row = next(csv.DictReader(handle, delimiter="\t"), None)
            if row is None:
                continue
            entry = per_rule[rule]
            entry["jobs"] += 1
            entry["wall_s"] += float(row["s"])
            entry["cpu_s"] += float(row.get("cpu_time") or 0.0)
            log = _job_log(results, rule, tsv, bench_root)
            found = dict(TIMING.findall(log.read_text(errors="replace"))) if log.is_file() else {}
            if "ready_s" in found:
                entry["jobs_with_split"] += 1
                entry["startup_s"] += min(float(found["ready_s"]), float(row["s"]))
            elif found:
                entry["jobs_with_split"] += 1
                entry["startup_s"] += float(found.get("startup_s", 0.0))
                entry["load_s"] += float(found.get("load_s", 0.0))
    rows = []
    for rule, e in sorted(per_rule.items(), key=lambda kv: -kv[1]["wall_s"]):
        overhead = e["startup_s"] + e["load_s"]
        rows.append({"name": rule, **{k: round(v, 2) if isinstance(v, float) else v for k, v in e.items()},
                     "mean_wall_s": round(e["wall_s"] / e["jobs"], 2),
                     "startup_share": round(overhead / e["wall_s"], 3) if e["wall_s"] else None})
    total_wall = sum(r["wall_s"] for r in rows)
    total_overhead = sum(r["startup_s"] + r["load_s"] for r in rows)
    summary = {"jobs": sum(r["jobs"] for r in rows), "job_wall_s": round(total_wall, 1),
               "job_cpu_s": round(sum(r["cpu_s"] for r in rows), 1),
               "startup_and_load_s": round(total_overhead, 1),
               "startup_share": round(total_overhead / total_wall, 3) if total_wall else None}
    return {"rules": rows, "summary": summary}


def main(argv=None) -> dict:
    parser = C.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--analyse", type=Path, help="only analyse this finished run folder (a clone that ran)")
    parser.add_argument("--scratch", type=Path, help="clone into this folder (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch clone (default: removed at the end)")
    parser.add_argument("--pip", action="store_true", help="run `pip install -e . && snakemake --cores all` verbatim")
    parser.add_argument("--command", default="snakemake --cores all", help="the run command (default: the README's)")
    args = parser.parse_args(argv)
    notes, timings = [], {}
    load_before = os.getloadavg()
    if args.analyse:
        run_dir = args.analyse.resolve()
    else:
        run_dir = (args.scratch or Path(tempfile.mkdtemp(prefix="frontdoor-"))).resolve()
        if run_dir.exists() and any(run_dir.iterdir()):
            raise SystemExit(f"frontdoor: --scratch {run_dir} is not empty")
        env = dict(os.environ, PYTHONPATH=str(run_dir))
        tick = time.perf_counter()
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(run_dir)], check=True)
        commit = subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=run_dir, text=True).strip()
        timings["clone_s"] = time.perf_counter() - tick
        logs = Path(tempfile.mkdtemp(prefix="frontdoor-logs-"))
        if args.pip:  # the README's `pip install -e . && ...`, timed apart from the run
            env.pop("PYTHONPATH")
            timings["pip_s"] = _run("pip install -e . --quiet", run_dir, env, logs / "pip.log")[0]
        timings["run_s"], timings["run_cpu_s"] = _run(args.command, run_dir, env, logs / "run.log")
        timings["noop_s"] = _run(args.command, run_dir, env, logs / "noop.log")[0]
        command = f"pip install -e . && {args.command}" if args.pip else args.command
        notes.append(f"command: {command} (in a fresh clone of {REPO} at {commit})")
    breakdown = analyse(run_dir)
    if "run_cpu_s" in timings:
        cores = os.cpu_count() or 1
        jobs_cpu = breakdown["summary"]["job_cpu_s"]
        breakdown["summary"].update(run_cpu_s=round(timings["run_cpu_s"], 1), jobs_cpu_s=jobs_cpu,
                                    other_cpu_s=round(timings["run_cpu_s"] - jobs_cpu, 1), cores=cores,
                                    floor_s=round(timings["run_cpu_s"] / cores, 1))
    results = [{"name": name, "wall_s": round(value, 1)} for name, value in timings.items()] + breakdown["rules"]
    notes.append(f"loadavg before {load_before}, after {os.getloadavg()} (wall times need an idle machine)")
    notes.append(f"summary: {breakdown['summary']}")
    doc = C.document("frontdoor", args, results, notes, summary=breakdown["summary"], **timings)
    C.emit(doc, ["name", "wall_s", "jobs", "mean_wall_s", "cpu_s", "startup_s", "load_s", "startup_share"], args.json)
    if not args.analyse and not args.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return doc


if __name__ == "__main__":
    main()
