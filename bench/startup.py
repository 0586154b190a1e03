"""A job's start-up, stage by stage: what a generate / score / summarize job spends before its first useful line.

    python bench/startup.py [--repeats 3] [--json PATH]

Each repeat runs a fresh interpreter (as every Snakemake `script:` job is one) that performs a job's start-up
stages in order and reports, per stage, the CPU seconds (user + system of the process: robust to a busy
machine, unlike wall time) and the wall seconds:

    interpreter   python -c '' (the interpreter and site, measured as its own process)
    snakemake     `snakemake.script` (what the script preamble Snakemake writes into each job imports)
    pandas        pandas (the prompt table, manifests, score files)
    torch         torch
    diffusers     diffusers, whose `utils.torch_utils` imports torch._dynamo unconditionally
    sd_pipeline   `from diffusers import StableDiffusionPipeline` (transformers' CLIP classes and the
                  pipeline's image processors, which import scipy)
    erasure       the project's generation stack (erasure.generate.shard, pipelines, models, checkpoints)
    base_sha256   the shipped toy base's checksums (erasure.worlds.toy.assets.verify_base_dir)
    load_base     the shipped toy base's pipeline from disk (`from_pretrained`, safetensors)

A score job stops after `erasure` (its scorers load as work); a summarize job after `pandas`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
def clock():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime, time.perf_counter()
rows, (cpu, wall) = [], clock()
def stage(name):
    global cpu, wall
    now_cpu, now_wall = clock()
    rows.append({"stage": name, "cpu_s": now_cpu - cpu, "wall_s": now_wall - wall})
    cpu, wall = clock()
from snakemake import script; stage("snakemake")
import pandas; stage("pandas")
import torch; stage("torch")
import diffusers; stage("diffusers")
from diffusers import StableDiffusionPipeline; stage("sd_pipeline")
import erasure.generate.shard, erasure.generate.pipelines, erasure.models, erasure.checkpoints; stage("erasure")
from erasure.worlds.toy.assets import SHIPPED_BASE, verify_base_dir
verify_base_dir(SHIPPED_BASE); stage("base_sha256")
StableDiffusionPipeline.from_pretrained(SHIPPED_BASE / "pipeline", local_files_only=True); stage("load_base")
print(json.dumps(rows))
"""


def one_run() -> list[dict]:
    tick_cpu = _children_cpu()
    import time

    tick = time.perf_counter()
    subprocess.run([sys.executable, "-c", ""], check=True)
    interpreter = {"stage": "interpreter", "cpu_s": _children_cpu() - tick_cpu, "wall_s": time.perf_counter() - tick}
    out = subprocess.run([sys.executable, "-c", CHILD], check=True, capture_output=True, text=True, cwd=REPO,
                         env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    return [interpreter] + json.loads(out.stdout.strip().splitlines()[-1])


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main(argv=None) -> dict:
    parser = C.base_parser(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    runs = [one_run() for _ in range(args.repeats)]
    results = []
    for i, first in enumerate(runs[0]):
        cpu = [run[i]["cpu_s"] for run in runs]
        wall = [run[i]["wall_s"] for run in runs]
        results.append({"name": first["stage"], "cpu_s": statistics.median(cpu), "wall_s": statistics.median(wall),
                        "repeats": len(runs)})
    total = {"name": "total (generate job)", "cpu_s": sum(r["cpu_s"] for r in results),
             "wall_s": sum(r["wall_s"] for r in results), "repeats": len(runs)}
    notes = ["median over repeats of a fresh interpreter each; CPU seconds are the process's own (user + system)",
             "a score job's start-up ends after `erasure` (minus diffusers / sd_pipeline when its scorers need no "
             "diffusers), a summarize job's after `pandas`"]
    doc = C.document("startup", args, results + [total], notes)
    C.emit(doc, ["name", "cpu_s", "wall_s", "repeats"], args.json)
    return doc


if __name__ == "__main__":
    main()
