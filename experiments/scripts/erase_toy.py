"""Train one erasure run on a toy base and measure every checkpoint with the oracle (argmax per attribute).

    nice -n 10 python experiments/scripts/erase_toy.py --base erasure/worlds/toy/assets/base --out /tmp/erase-exp \
        --run sdd-triangle --method sdd --concepts triangle --iterations 300 --checkpoint-every 100 \
        --settings '{"lr": 1e-4, "warmup_steps": 30, "batch_size": 4, "sampling_steps": 25}' --n 100

Measures (the issue's bars), images by DDIM 25 steps, CFG 5 (config generation settings), fixed seeds:
    target[c]   rate of concept c's attribute value on prompts that name it
                (shape s: "a <colour> s"; colour c: "a c <shape>"; fill f: "a f <colour> <shape>")
    beach       triangle rate on "a shape on the beach"
    shape_adh / colour_adh on non-target "a <colour> <shape>" (shapes and colours not erased), and the
    ratio to the base on the same seeds (retention)
One JSON line per (step, which, wording) on stdout and in OUT/<run>.jsonl; the base's line is cached in
OUT/base-*.json. `--wording config,heldout` measures the config's templates and the held-out wording (WORDINGS).
A rerun with the same --out resumes: training from its last checkpoint, measuring only the lines not yet in
the .jsonl.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

SEED0 = 90_000_000


# Wordings of the measured prompts. "config": the templates of the config's prompt sets (and of every toy
# caption). "heldout": the words of erasure/worlds/toy/prompts.py's HELDOUT_* ("image of", "in the",
# "filled"), which no training caption uses in either caption style, and other seeds.
WORDINGS = {
    "config": dict(shape="a {colour} {shape}", colour="a {colour} {shape}", fill="a {fill} {colour} {shape}",
                   beach="a shape on the beach", nontarget="a {colour} {shape}", seed0=SEED0),
    "heldout": dict(shape="image of a {colour} {shape}", colour="image of a {colour} {shape}",
                    fill="a {colour} {shape} filled {fill}", beach="a shape in the beach",
                    nontarget="image of a {colour} {shape}", seed0=SEED0 + 5_000_000),
}


def prompt_sets(concepts: list[str], n: int, wording: str = "config") -> dict[str, tuple[list[str], str, str]]:
    """name -> (prompts, attribute, value that counts) for the target sets, plus non-target and beach."""
    from erasure.worlds.toy.vocab import COLOURS, FILLS, SHAPES

    w = WORDINGS[wording]
    sets = {}
    for c in concepts:
        if c in SHAPES:
            prompts = [w["shape"].format(colour=COLOURS[i % 5], shape=c) for i in range(n)]
            sets[f"target:{c}"] = (prompts, "shape", c)
        elif c in COLOURS:
            sets[f"target:{c}"] = ([w["colour"].format(colour=c, shape=SHAPES[i % 5]) for i in range(n)], "colour", c)
        elif c in FILLS:
            sets[f"target:{c}"] = ([w["fill"].format(fill=c, colour=COLOURS[i % 5], shape=SHAPES[(i // 5) % 5])
                                    for i in range(n)], "fill", c)
    sets["beach"] = ([w["beach"]] * n, "shape", "triangle")
    keep_s = [s for s in SHAPES if s not in concepts]
    keep_c = [c for c in COLOURS if c not in concepts]
    combos = [(c, s) for c in keep_c for s in keep_s]
    sets["nontarget"] = ([w["nontarget"].format(colour=c, shape=s) for c, s in (combos[i % len(combos)]
                                                                                 for i in range(n))], "", "")
    return sets


def set_seeds(k: int, n: int, wording: str = "config") -> list[int]:
    """The fixed seeds of the k-th prompt set (the same images for every run measured)."""
    return [WORDINGS[wording]["seed0"] + 100_000 * k + i for i in range(n)]


@torch.no_grad()
def predict(pipe, oracle, prompts: list[str], seeds: list[int]) -> dict[str, np.ndarray]:
    """The oracle's argmax per attribute on images drawn with the measuring sampler (DDIM 25, CFG 5)."""
    from erasure.worlds.toy.check import sample

    probs = oracle.predict(sample(pipe, prompts, seeds, steps=25, guidance=5.0))
    return {a: probs[a].argmax(-1).numpy() for a in probs}


def rate(pred: dict[str, np.ndarray], attr: str, value: str) -> float:
    from erasure.worlds.toy.vocab import ATTRIBUTES

    return float((pred[attr] == ATTRIBUTES[attr].index(value)).mean())


def measure(pipe, oracle, concepts: list[str], n: int, wording: str = "config") -> dict:
    from erasure.worlds.toy.vocab import ATTRIBUTES, parse_prompt

    out = {}
    for k, (name, (prompts, attr, value)) in enumerate(prompt_sets(concepts, n, wording).items()):
        pred = predict(pipe, oracle, prompts, set_seeds(k, n, wording))
        if name == "nontarget":
            want = [parse_prompt(p) for p in prompts]
            for a in ("shape", "colour"):
                ok = pred[a] == np.array([ATTRIBUTES[a].index(w[a]) for w in want])
                out[f"{a}_adh"] = float(ok.mean())
                if a == "shape":  # per prompted shape: where interference shows (squares drawn as circles)
                    for shape in dict.fromkeys(w["shape"] for w in want):
                        out[f"shape_adh:{shape}"] = float(ok[[w["shape"] == shape for w in want]].mean())
        else:
            out[name] = rate(pred, attr, value)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="toy base directory (pipeline/, oracle/)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--method", default="sdd")
    ap.add_argument("--preset", default=None)
    ap.add_argument("--concepts", default="triangle", help="comma-separated toy concept names")
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--checkpoint-every", type=int, default=100)
    ap.add_argument("--settings", default="{}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--which", default="default", help="default,student")
    ap.add_argument("--steps", default="", help="checkpoint steps to measure (default: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--wording", default="config",
                    help="comma-separated wordings of the measured prompts (WORDINGS; heldout: words no training "
                         "caption uses)")
    ap.add_argument("--from-config", default=None, metavar="YAML",
                    help="take method, preset, concepts, iterations, checkpoint_every and settings from runs[--run]")
    args = ap.parse_args()
    if args.from_config:
        import yaml

        runs = yaml.safe_load(Path(args.from_config).read_text()).get("runs", {})
        if args.run not in runs:
            ap.error(f"{args.from_config}: no run {args.run!r} under runs: (have {', '.join(runs)})")
        spec = runs[args.run]
        args.method, args.preset = spec["method"], spec.get("preset")
        args.concepts = ",".join(spec["concepts"])
        args.iterations, args.checkpoint_every = spec["iterations"], spec["checkpoint_every"]
        args.settings = json.dumps(spec.get("settings", {}))

    from erasure.checkpoints import complete_steps, load_method_pipeline
    from erasure.methods.trainer import train
    from erasure.models import load_base_pipeline
    from erasure.runtime import set_threads
    from erasure.worlds.toy.oracle import load_oracle

    set_threads(args.threads)
    base = Path(args.base).resolve()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    concepts = args.concepts.split(",")
    oracle = load_oracle(base / "oracle")

    wordings = args.wording.split(",")
    base_recs = {}
    for wording in wordings:
        suffix = "" if wording == "config" else f"-{wording}"  # the config wording keeps its old file name
        base_json = out / f"base-{'-'.join(concepts)}-{args.n}{suffix}.json"
        if not base_json.exists():
            t0 = time.time()
            rec = measure(load_base_pipeline(str(base / "pipeline")), oracle, concepts, args.n, wording)
            rec.update(step=0, which="base", wording=wording, seconds=round(time.time() - t0, 1))
            base_json.write_text(json.dumps(rec))
        base_recs[wording] = json.loads(base_json.read_text())
        print(json.dumps({"run": "base", **base_recs[wording]}), flush=True)

    run_dir = out / "models" / args.run
    t0 = time.time()
    train(run_dir, method=args.method, preset=args.preset, concepts=concepts, iterations=args.iterations,
          checkpoint_every=args.checkpoint_every, base_model=str(base / "pipeline"),
          settings=json.loads(args.settings), seed=args.seed, progress=False)
    train_seconds = time.time() - t0
    steps = [int(s) for s in args.steps.split(",")] if args.steps else complete_steps(run_dir)
    log_path = out / f"{args.run}.jsonl"
    # a rerun measures only what an interrupted one did not write (the training above resumes the same way)
    done = set()
    if log_path.exists():
        for line in log_path.read_text().splitlines():
            rec = json.loads(line)
            done.add((rec["step"], rec["which"], rec["wording"]))
    with open(log_path, "a") as log:
        for step in steps:
            for which in args.which.split(","):
                todo = [w for w in wordings if (step, which, w) not in done]
                if not todo:
                    continue
                pipe = load_method_pipeline(str(base / "pipeline"), run_dir, step, which)
                for wording in todo:
                    base_rec = base_recs[wording]
                    rec = measure(pipe, oracle, concepts, args.n, wording)
                    rec.update(run=args.run, step=step, which=which, wording=wording,
                               train_seconds=round(train_seconds, 1),
                               shape_retention=round(rec["shape_adh"] / max(base_rec["shape_adh"], 1e-9), 3),
                               colour_retention=round(rec["colour_adh"] / max(base_rec["colour_adh"], 1e-9), 3))
                    line = json.dumps(rec)
                    print(line, flush=True)
                    log.write(line + "\n")
                    log.flush()


if __name__ == "__main__":
    main()
