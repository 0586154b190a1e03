"""The lent-GPU benchmark as rows: each row one bench/ script in its own process with its own time limit, and
`OUT/device.json` rewritten (atomically) after every row, so a row that fails, hangs or is cut off by the
device's limit loses only itself. Rows feed erasure/cost/throughput.csv's "measured" rows.

    python bench/device_rows.py --out DIR            # on a GPU (bench/device_run.sh: the device tool's entry)
    python bench/device_rows.py --out DIR --cpu      # CPU mode: tiny SD-architecture stand-ins, seconds a row

device.json: {"schema": 1, "mode": "gpu" | "cpu", "rows": [{"name", "what", "status": ok | failed | timeout |
not-implemented, "rc", "seconds", "limit_s", "command", "result" (the script's JSON document, or null),
"error" (stderr's last lines, or the reason)}], "machine"}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent


def rows(cpu: bool) -> list[dict]:
    """(name, what, script + args, limit) per row, in the order the issue lists them."""
    if cpu:  # the code paths at toy sizes: generation keeps its batch sizes (--reduced would clamp them to 2)
        sd = ["--world", "sd", "--arch", "tiny", "--latent", "8", "--device", "cpu", "--threads", "1"]
        io = ["--files", "3000", "--shard", "40", "--size", "64"]
        dtype, lim, steps, reduced = "fp32", 1.0, "4", ["--reduced"]
    else:
        sd = ["--world", "sd", "--arch", "sd14", "--latent", "64", "--device", "cuda"]
        io = ["--files", "30000", "--shard", "1000", "--size", "512"]
        dtype, lim, steps, reduced = "fp16", 1.0, "25", []
    out = [{"name": "shard_io", "what": "a run_images shard outside the UNet (listing, latents, PNG encode + "
            "atomic write) into a folder pre-filled with 30,000 files", "args": ["shard_io.py", *io, "--batch", "8",
                                                                                "--load-arch", "none"],
            "limit": 120 * lim}]
    out.append({"name": "load_dtype", "what": "a generate job's model load: float32 read + cast against a float16 read "
                "(random SD v1.4 weights saved once; moved to the GPU)",
                "args": ["shard_io.py", "--files", "0", "--shard", "8", "--size", "64", "--load-arch",
                         "tiny" if cpu else "sd14", "--load-repeats", "1" if cpu else "2"],
                "limit": 150 * lim})
    for method in ("sd", "sld-max"):
        for batch in (8, 16):
            out.append({"name": f"generation_{method}_pndm_b{batch}",
                        "what": f"{method} images/s, PNDM 25 steps, batch {batch}, {dtype}, 512 px (end to end: text, "
                                "denoising, VAE decode)",
                        "args": ["generation.py", *sd, "--only", method, "--sampler", f"pndm:{steps}",
                                 "--batch", str(batch), "--dtype", dtype, "--repeats", "1", "--warmup", "1"],
                        "limit": 90 * lim})
    out.append({"name": "sdd_iteration_precision", "what": "SDD iteration and peak memory: fp32 / TF32 / bf16 autocast",
                "args": ["sdd_iteration.py", *sd, *reduced, "--repeats", "2", "--warmup", "1", "--library-iters", "0",
                         "--no-components", "--variant", "fp32", "--variant", "fp32+tf32", "--variant", "bf16"],
                "limit": 150 * lim})
    wb = (["--arch", "tiny", "--latent", "8", "--device", "cpu", "--threads", "1", "--reduced"] if cpu else
          ["--arch", "sd14", "--latent", "64", "--device", "cuda", "--iterations", "10", "--repeats", "2"])
    out.append({"name": "whitebox_iteration_precision", "what": "white-box attack iteration and peak memory: fp32 / "
                "TF32 / bf16 autocast (ratio_to_fp32 derives the cost table's unlearndiffatk_prompt_bf16)",
                "args": ["whitebox_iteration.py", *wb], "limit": 120 * lim})
    esd = (["--arch", "tiny", "--latent", "8", "--device", "cpu", "--threads", "1", "--reduced"] if cpu else
           ["--arch", "sd14", "--latent", "64", "--device", "cuda", "--steps", "4", "--iterations", "2"])
    out.append({"name": "esd_u_memory_adamw", "what": "ESD-u (and SDD) training step: peak memory and seconds, AdamW "
                "foreach vs fused (the cost table's train_memory_* rows)", "args": ["esd_memory.py", *esd],
                "limit": 150 * lim})
    out.append({"name": "scorers_gpu", "what": "CLIP-L, Inception and LPIPS images/s on the GPU",
                "not_implemented": "bench/scorers.py runs on the CPU only (no --device yet)"})
    return out


def run_row(row: dict, out_dir: Path) -> dict:
    record = {"name": row["name"], "what": row["what"], "result": None, "error": None}
    if "not_implemented" in row:
        return {**record, "status": "not-implemented", "rc": None, "seconds": 0.0, "limit_s": 0,
                "command": None, "error": row["not_implemented"]}
    doc = out_dir / f"{row['name']}.json"
    command = [sys.executable, str(BENCH / row["args"][0]), *row["args"][1:], "--json", str(doc)]
    record.update(command=" ".join(command[1:]), limit_s=row["limit"])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    # each row's arguments say its sizes: BENCH_REDUCED would clamp them again (generation: 2 PNDM steps, which
    # diffusers' PNDM cannot take)
    env.pop("BENCH_REDUCED", None)
    started = time.perf_counter()
    try:
        proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=row["limit"])
        record.update(rc=proc.returncode, status="ok" if proc.returncode == 0 else "failed")
        if proc.returncode:
            record["error"] = " | ".join(proc.stderr.strip().splitlines()[-3:])[-600:]
    except subprocess.TimeoutExpired:
        record.update(rc=None, status="timeout", error=f"over its {row['limit']:.0f} s limit")
    record["seconds"] = round(time.perf_counter() - started, 2)
    if doc.is_file():
        try:
            record["result"] = json.loads(doc.read_text())
        except ValueError as exc:
            record.update(status="failed", error=f"{doc}: not JSON ({exc})")
    elif record["status"] == "ok":
        record.update(status="failed", error=f"{doc}: the script wrote no JSON")
    if record["status"] == "ok" and not (record["result"] or {}).get("results"):
        # the script caught its own failure (a method or variant that raised): no figure, say why
        record.update(status="failed", error=" | ".join((record["result"] or {}).get("notes", [])[-1:]) or "no rows")
    return record


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cpu", action="store_true", help="CPU mode: tiny stand-ins (also BENCH_REDUCED=1)")
    parser.add_argument("--only", action="append", help="row name (repeatable)")
    args = parser.parse_args(argv)
    cpu = args.cpu or C.reduced_env()
    args.out.mkdir(parents=True, exist_ok=True)
    document = {"schema": 1, "mode": "cpu" if cpu else "gpu", "machine": C.machine(), "rows": []}
    for row in rows(cpu):
        if args.only and row["name"] not in args.only:
            continue
        record = run_row(row, args.out)
        document["rows"].append(record)
        tmp = args.out / ".device.json.tmp"
        tmp.write_text(json.dumps(document, indent=1, default=str) + "\n")
        tmp.replace(args.out / "device.json")  # after every row: a cut-off run keeps what it measured
        print(f"{record['name']}: {record['status']} ({record['seconds']} s){' - ' + record['error'] if record['error'] else ''}",
              file=sys.stderr, flush=True)
    return document


if __name__ == "__main__":
    main()
