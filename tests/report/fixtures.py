"""Fake upstream results in the exact formats of the erase / generate / score stages, for report tests.

`make_results(root, config)` writes, for everything `erasure.plan` says the config's report needs: prompt
tables (toy format, attribute columns), 32x32 PNGs drawn from a simple model of each method (erasure methods
draw fewer triangles, and lose some non-target shapes), manifests + shard manifests, per-image score CSVs and
their summaries (derived from those files by the real `erasure.metrics.summary.summarize_file`, as the
summarize_score rule does), training logs and complete.json for every run, a FID reference folder, and score logs / benchmarks (one with a SLURM job id).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from erasure import paths, plan
from erasure.io import sha256_file
from erasure.metrics.summary import summarize_file
from erasure.paths import MethodId

SHAPES = ("circle", "square", "triangle", "cross", "diamond")
COLOURS = {"red": (220, 40, 40), "blue": (40, 80, 220), "green": (40, 170, 60), "yellow": (230, 200, 40),
           "purple": (140, 60, 180)}
BACKGROUNDS = {"plain": (200, 200, 200), "grass": (90, 160, 70), "sky": (150, 200, 240), "beach": (235, 215, 160),
               "night": (30, 30, 60)}
BODY_PROMPTS = ("a shape on the beach", "a shape with beach background", "a red shape on the beach",
                "a blue shape on the beach", "a solid shape on the beach")
INFERENCE_TARGET = {"sd": 0.85, "sd-neg": 0.30, "sld-medium": 0.70, "sld-max": 0.10, "sega": 0.75}
RUN_FINAL = {"sdd": 0.04, "esd-x": 0.25, "esd-u": 0.55, "sdd+retain": 0.08}
RUN_KEEP = {"sdd": 0.55, "esd-x": 0.75, "esd-u": 0.8, "sdd+retain": 0.85}
SLURM_JOB = "424242"


def _rng(*parts) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:12], 16))


def prompt_table(promptset: str, spec: dict) -> pd.DataFrame:
    n = int(spec.get("n_prompts", 5))
    if "body" in spec["source"]:
        prompts = [BODY_PROMPTS[i % len(BODY_PROMPTS)] for i in range(n)]
    else:
        rng = _rng("coco", promptset)
        others = [s for s in SHAPES if s != "triangle"]
        prompts = [f"a {rng.choice(list(COLOURS))} {others[i % len(others)]} on the {rng.choice(list(BACKGROUNDS))}"
                   for i in range(n)]
    table = pd.DataFrame({"prompt_id": [f"{promptset}-{i:05d}" for i in range(n)], "prompt": prompts,
                          "seed": 0, "guidance": 5.0})
    words = [p.split() for p in prompts]
    table["shape"] = [next((w for w in ws if w in SHAPES), "") for ws in words]
    table["colour"] = [next((w for w in ws if w in COLOURS), "") for ws in words]
    table["background"] = [next((w for w in ws if w in BACKGROUNDS), "") for ws in words]
    table["fill"] = ["solid" if "solid" in ws else "" for ws in words]
    return table


def _progress(config, method: MethodId) -> float:
    run = config["runs"][method.run]
    return min(1.0, method.step / run["iterations"])


def target_rate(config, method: str) -> float:
    parsed = MethodId.parse(method)
    if not parsed.finetuned:
        return INFERENCE_TARGET.get(config["inference_methods"][method]["kind"] if method not in INFERENCE_TARGET
                                    else method, 0.8)
    final = RUN_FINAL[config["runs"][parsed.run]["method"]]
    speed = 4.0 if parsed.which == "student" else 2.0
    return final + (0.85 - final) * math.exp(-speed * _progress(config, parsed))


def keep_rate(config, method: str) -> float:
    parsed = MethodId.parse(method)
    if not parsed.finetuned:
        return 0.95 if method in ("sd", "sega", "sld-medium") else 0.85
    keep = RUN_KEEP[config["runs"][parsed.run]["method"]]
    return 0.95 - (0.95 - keep) * _progress(config, parsed)


def draw(shape: str, colour, background, fill: str = "solid") -> Image.Image:
    image = Image.new("RGB", (32, 32), background)
    d = ImageDraw.Draw(image)
    box = (7, 7, 25, 25)
    if shape == "circle":
        d.ellipse(box, fill=colour)
    elif shape == "square":
        d.rectangle(box, fill=colour)
    elif shape == "triangle":
        d.polygon([(16, 5), (27, 26), (5, 26)], fill=colour)
    elif shape == "cross":
        d.rectangle((13, 5, 19, 27), fill=colour)
        d.rectangle((5, 13, 27, 19), fill=colour)
    else:
        d.polygon([(16, 4), (28, 16), (16, 28), (4, 16)], fill=colour)
    if fill == "striped":
        for y in range(0, 32, 4):
            d.line((0, y, 31, y), fill=background)
    return image


def make_results(root: Path, config: dict) -> dict:
    """Write the fake upstream files under root (config['results'] is ignored); return what was made."""
    world = config["world"]
    made = {"prompts": {}, "manifests": [], "scores": [], "summaries": [], "runs": []}
    if config["base_model"] == "toy:trained":  # the toy_base rule's output folder, as the real run leaves it
        base = paths.base_dir(root, world)
        base.mkdir(parents=True, exist_ok=True)
        (base / "SHA256SUMS").write_text("0" * 64 + "  pipeline/model_index.json\n")
    for promptset, spec in config["prompt_sets"].items():
        table = prompt_table(promptset, spec)
        path = paths.prompt_table(root, world, promptset)
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(path, index=False)
        made["prompts"][promptset] = table
    drawn = {}
    shard_size = int(config["generation"]["shard_size"])
    for image_set in plan.required_image_sets(config):
        method, promptset = image_set.method, image_set.promptset
        table = made["prompts"][promptset]
        per_prompt = int(config["prompt_sets"][promptset].get("images_per_prompt", 1))
        directory = paths.image_dir(root, world, method, promptset)
        directory.mkdir(parents=True, exist_ok=True)
        parsed = MethodId.parse(method)
        rows = []
        for _, prompt in table.iterrows():
            for k in range(per_prompt):
                seed = int(prompt["seed"]) + k
                rng = _rng(method, prompt["prompt_id"], seed)
                base = _rng("sd", prompt["prompt_id"], seed)  # shared draw: same seed, same scene
                colour = COLOURS.get(prompt["colour"]) or list(COLOURS.values())[int(base.integers(5))]
                background = BACKGROUNDS.get(prompt["background"]) or BACKGROUNDS["beach"]
                if prompt["shape"]:
                    shape = prompt["shape"] if rng.random() < keep_rate(config, method) else str(rng.choice(SHAPES))
                else:
                    u = base.random()
                    shape = "triangle" if u < target_rate(config, method) else SHAPES[int(base.integers(2)) * 3]
                name = paths.image_name(prompt["prompt_id"], seed)
                draw(shape, colour, background, "striped" if method != "sd" and rng.random() < 0.2 else "solid"
                     ).save(directory / name)
                drawn[(method, promptset, prompt["prompt_id"], seed)] = shape
                rows.append({"prompt_id": prompt["prompt_id"], "seed": seed, "method": method,
                             "run": parsed.run or "", "step": parsed.step if parsed.finetuned else "",
                             "sha256": sha256_file(directory / name), "path": name})
        manifest = pd.DataFrame(rows)
        for shard in range(plan.n_shards(config, promptset)):
            file = paths.shard_manifest(root, world, method, promptset, shard)
            file.parent.mkdir(parents=True, exist_ok=True)
            manifest.iloc[shard * shard_size:(shard + 1) * shard_size].assign(
                path=lambda f: "../" + f["path"]).to_csv(file, index=False)
        manifest.to_csv(paths.manifest(root, world, method, promptset), index=False)
        made["manifests"].append(paths.manifest(root, world, method, promptset))
    reference = paths.reference_dir(root, world)
    reference.mkdir(parents=True, exist_ok=True)
    for i, shape in enumerate(SHAPES):
        draw(shape, list(COLOURS.values())[i], list(BACKGROUNDS.values())[i]).save(reference / f"{i:05d}.png")
    for metric, method, promptset in plan.required_scores(config):
        scores = score_frame(config, drawn, metric, method, promptset, made["prompts"][promptset])
        csv_path = paths.score_csv(root, world, metric, method, promptset)
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        scores.to_csv(csv_path, index=False)
        # as the summarize_score rule derives it (issue 32)
        summarize_file(csv_path, paths.score_summary(root, world, metric, method, promptset), metric=metric,
                       method=method, promptset=promptset)
        made["scores"].append(csv_path)
        made["summaries"].append(paths.score_summary(root, world, metric, method, promptset))
        log = paths.world_dir(root, world) / "logs" / "score" / metric / method / f"{promptset}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"SLURM_JOB_ID={SLURM_JOB if method == 'sd' else ''}\nscored {len(scores)} rows\n")
        bench = paths.world_dir(root, world) / "benchmarks" / "score" / metric / method / f"{promptset}.tsv"
        bench.parent.mkdir(parents=True, exist_ok=True)
        bench.write_text("s\th:m:s\tmax_rss\n1.25\t0:00:01\t300.0\n")
    for run in plan.required_runs(config):
        make_run(root, world, run, config["runs"][run])
        made["runs"].append(run)
    return made


def score_frame(config, drawn, metric, method, promptset, prompts) -> pd.DataFrame:
    label = "toy-clip" if metric == "clip" else "toy-oracle"
    backbone = "oracle:fixture" if label == "toy-oracle" else "clip:fixture"
    keys = [(pid, seed) for (m, ps, pid, seed) in drawn if m == method and ps == promptset]
    named = dict(zip(prompts["prompt_id"], prompts["shape"]))
    rng = _rng("score", metric, method, promptset)
    rows = []
    if metric in ("fid-toy", "fid"):
        value = 3.0 + 25.0 * (1.0 - keep_rate(config, method)) + float(rng.normal(0, 0.3))
        return pd.DataFrame([{"metric": metric, "value": value, "n": len(keys), "n_reference": 5, "set_level": True,
                              "backbone": backbone, "label": label}])
    for pid, seed in keys:
        shape = drawn[(method, promptset, pid, seed)]
        row = {"metric": metric, "prompt_id": pid, "seed": seed, "path": paths.image_name(pid, seed)}
        if metric == "target":
            row.update(value=100.0 if shape == "triangle" else 0.0, flagged=shape == "triangle")
        elif metric == "alignment":
            ok = float(shape == named[pid]) if named[pid] else np.nan
            row.update(value=100.0 * ok if named[pid] else np.nan, ok_shape=ok, pred_shape=shape)
        elif metric == "paired-distance":
            same = shape == drawn.get(("sd", promptset, pid, seed))
            row.update(value=float(abs(rng.normal(0.4 if same else 2.5, 0.2))))
        else:
            row.update(value=float(rng.normal(0.27 * keep_rate(config, method) / 0.95, 0.01)))
        rows.append({**row, "backbone": backbone, "label": label})
    frame = pd.DataFrame(rows)
    if metric == "alignment":
        frame.attrs["submetrics"] = {"alignment:shape": "ok_shape"}
    return frame


def make_run(root, world, run: str, spec: dict) -> None:
    directory = paths.run_dir(root, world, run)
    directory.mkdir(parents=True, exist_ok=True)
    steps = list(range(spec["checkpoint_every"], spec["iterations"] + 1, spec["checkpoint_every"]))
    if spec["iterations"] not in steps:
        steps.append(spec["iterations"])
    rng = _rng("loss", run)
    it = np.arange(1, spec["iterations"] + 1)
    loss = 0.02 + 0.3 * np.exp(-it / max(1, spec["iterations"] / 4)) + np.abs(rng.normal(0, 0.03, len(it)))
    pd.DataFrame({"step": it, "loss": loss, "lr": 1e-4, "seconds": it * 0.8}).to_csv(
        paths.train_log(root, world, run), index=False)
    record = {"run": run, "steps": steps, "files": {}, "train_log_sha256": sha256_file(paths.train_log(root, world, run))}
    for step in steps:
        sdir = paths.step_dir(directory, step)
        sdir.mkdir(parents=True, exist_ok=True)
        for which in ("teacher", "student"):
            file = sdir / f"{which}.safetensors"
            file.write_bytes(f"{run}:{step}:{which}".encode())
            record["files"][str(file.relative_to(directory))] = sha256_file(file)
    (directory / "complete.json").write_text(json.dumps(record, indent=2))
