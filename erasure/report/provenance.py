"""The audit trail of a report artifact (a table or figure): every artifact upstream of it, walked
through the results layout (docs/architecture.md), with its sha256, the stage and wildcards that made it
(run, step, method, prompt set, scorer), the config it depends on, the job's log / benchmark / SLURM job ids
where those files exist, plus the git commit and package versions.

    table -> score summaries -> per-image scores -> image manifests -> shard manifests
          -> checkpoints (complete.json) + training log -> base model
                             -> prompt tables, FID reference images, the reference method's manifest

The walk reads only files (no Snakemake import): it is the same code for a fresh run, a SLURM run and an
old results folder. SLURM job ids come from the report job's environment (SLURM_JOB_ID), from `SLURM_JOB_ID=`
or `Submitted batch job N` lines in upstream logs, and from the SLURM executor's log files
(.snakemake/slurm_logs/rule_<rule>/<wildcards>/<jobid>.log); where none exist the list is empty.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path

from erasure import paths
from erasure.io import sha256_file, write_json_atomic
from erasure.paths import MethodId
from erasure.plan import PAIRED_METRICS

SCHEMA_VERSION = 1
PACKAGES = ("erasure", "snakemake", "torch", "diffusers", "transformers", "nudenet", "clean-fid", "lpips",
            "numpy", "pandas", "matplotlib", "pillow")
DIR_HASH_LIMIT = 5000  # directories with more files are fingerprinted by (name, size), not content
STAGE_RULE_PREFIXES = {
    "score": ("score",),
    "generate": ("generate", "merge", "manifest", "shard"),
    "erase": ("erase", "train"),
    "prompts": ("prompt",),
    "toy_reference": ("toy_reference",),
    "toy_base": ("toy_base",),
    "report": ("report",),
}
SLURM_PATTERNS = (re.compile(r"SLURM_JOB_ID[=:\s]+(\d+)"), re.compile(r"Submitted batch job (\d+)"))


def sha256_dir(directory: Path) -> tuple[str, str, int]:
    """(digest, what was hashed, file count) of a directory's files, in sorted relative-path order."""
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    by_content = len(files) <= DIR_HASH_LIMIT
    for file in files:
        rel = file.relative_to(directory).as_posix()
        part = sha256_file(file) if by_content else str(file.stat().st_size)
        digest.update(f"{rel}\0{part}\n".encode())
    return digest.hexdigest(), ("relative paths + file sha256" if by_content else "relative paths + sizes"), len(files)


class Walker:
    """Builds the artifact graph: {key: node}; a node's `inputs` are keys of other nodes."""

    def __init__(self, root: str | Path, world: str, config: Mapping, *, workdir: str | Path = "."):
        self.root, self.world, self.config = Path(root), world, config
        self.world_dir = paths.world_dir(root, world)
        self.workdir = Path(workdir)
        self.nodes: dict[str, dict] = {}
        self._jobs = _JobIndex(self.world_dir, self.workdir / ".snakemake" / "slurm_logs")

    # -- nodes ----------------------------------------------------------------------------------------
    def add(self, path: str | Path) -> str:
        """Add the artifact at `path` and everything upstream of it; return its key."""
        path = Path(path)
        key = path.as_posix()
        if key in self.nodes:
            return key
        node = {"path": key, "stage": "input", "wildcards": {}, "inputs": []}
        self.nodes[key] = node
        node.update(_fingerprint(path))
        self._identify(path, node)
        self._jobs.attach(node)
        return key

    def add_base_model(self) -> str:
        source = self.config.get("base_model", "")
        key = f"base_model:{source}"
        if key in self.nodes:
            return key
        node = {"path": key, "stage": "base model", "wildcards": {"base_model": source}, "inputs": []}
        self.nodes[key] = node
        if source == "toy:shipped":
            sums = Path(__file__).resolve().parents[1] / "worlds" / "toy" / "assets" / "base" / "SHA256SUMS"
        elif source == "toy:trained":
            sums = paths.toy_base_dir(self.root, "toy") / "SHA256SUMS"
            node["stage"] = "toy_base"
            self._jobs.attach(node, key=())
        else:
            local = Path(source).expanduser()
            sums = local / "model_index.json" if local.is_dir() else None
            if sums is None:
                node.update({"hub_id": source, "sha256": None,
                             "note": "hub model: identified by id (pin a revision or use a local copy to hash it)"})
                return key
        node["fingerprint_file"] = str(sums)
        node.update({"sha256": sha256_file(sums) if sums.is_file() else None, "exists": sums.is_file()})
        return key

    def _identify(self, path: Path, node: dict) -> None:
        try:
            rel = path.resolve().relative_to(self.world_dir.resolve()).parts
        except ValueError:
            return
        config = self.config
        if len(rel) == 4 and rel[0] == "scores":
            metric, method = rel[1], rel[2]
            if rel[3].endswith(".summary.csv"):
                promptset = rel[3][: -len(".summary.csv")]
                node.update(stage="score", wildcards=_method_wildcards(metric=metric, method=method,
                                                                       promptset=promptset))
                node["scorer"] = _scorer(path)
                node["inputs"].append(self.add(paths.score_csv(self.root, self.world, metric, method, promptset)))
            elif rel[3].endswith(".csv"):
                promptset = rel[3][:-4]
                node.update(stage="score", wildcards=_method_wildcards(metric=metric, method=method,
                                                                       promptset=promptset))
                node["params"] = {"metric": metric, "settings": config.get("metrics", {}).get(metric) or {}}
                node["scorer"] = _scorer(path)
                node["inputs"] += [self.add(paths.manifest(self.root, self.world, method, promptset)),
                                   self.add(paths.prompt_table(self.root, self.world, promptset))]
                for reference in self._score_references(metric, promptset):
                    node["inputs"].append(self.add(reference))
        elif len(rel) == 4 and rel[0] == "images" and rel[3] == "manifest.csv":
            method, promptset = rel[1], rel[2]
            node.update(stage="generate", wildcards=_method_wildcards(method=method, promptset=promptset))
            node["n_images"] = _count_rows(path)
            node["params"] = self._method_params(method)
            shards = sorted((path.parent / "shards").glob("*.csv"))
            node["inputs"] += [self.add(s) for s in shards]
            node["inputs"].append(self.add(paths.prompt_table(self.root, self.world, promptset)))
            parsed = MethodId.parse(method)
            if parsed.finetuned:
                node["inputs"].append(self.add(paths.run_complete(self.root, self.world, parsed.run)))
            else:
                node["inputs"].append(self.add_base_model())
        elif len(rel) == 5 and rel[0] == "images" and rel[3] == "shards":
            node.update(stage="generate", wildcards=_method_wildcards(method=rel[1], promptset=rel[2],
                                                                      shard=Path(rel[4]).stem))
            node["n_images"] = _count_rows(path)
        elif len(rel) == 3 and rel[0] == "models" and rel[2] == "complete.json":
            run = rel[1]
            node.update(stage="erase", wildcards={"run": run}, params=config.get("runs", {}).get(run, {}))
            node["checkpoints"] = _checkpoints(path)
            node["inputs"] += [self.add(paths.train_log(self.root, self.world, run)), self.add_base_model()]
        elif len(rel) == 3 and rel[0] == "models" and rel[2] == "train_log.csv":
            node.update(stage="erase", wildcards={"run": rel[1]})
        elif len(rel) == 2 and rel[0] == "prompts":
            promptset = Path(rel[1]).stem
            node.update(stage="prompts", wildcards={"promptset": promptset},
                        params=config.get("prompt_sets", {}).get(promptset, {}))
            from erasure.prompts.paths import prompt_source

            source = prompt_source(self.root, self.world, promptset)  # a fetched upstream file (I2P: count-checked,
            if source.is_file():                                       # not pinned): its sha256 is recorded here
                node["inputs"].append(self.add(source))
        elif len(rel) == 3 and rel[:2] == ("prompts", "sources"):
            node.update(stage="fetch_prompts", wildcards={"promptset": Path(rel[2]).stem})
        elif rel == ("reference",):
            node.update(stage="toy_reference")
        elif rel == ("base",):
            node.update(stage="toy_base")
        elif len(rel) == 2 and rel[0] in ("tables", "figures"):
            node.update(stage="report", wildcards={"name": Path(rel[1]).name.split(".")[0]})

    def _score_references(self, metric: str, promptset: str) -> list[Path]:
        if metric in PAIRED_METRICS:
            method = self.config.get("generation", {}).get("reference_method", "sd")
            return [paths.manifest(self.root, self.world, method, promptset)]
        if metric == "fid-toy":
            return [paths.reference_dir(self.root, self.world)]
        reference = (self.config.get("metrics", {}).get(metric) or {}).get("reference")
        return [Path(reference)] if reference else []

    def _method_params(self, method: str) -> dict:
        parsed = MethodId.parse(method)
        generation = dict(self.config.get("generation", {}))
        if parsed.finetuned:
            return {"run": parsed.run, "step": parsed.step, "which": parsed.which, "generation": generation}
        return {"inference_method": self.config.get("inference_methods", {}).get(method, {}),
                "generation": generation}


class _JobIndex:
    """Logs, benchmarks and SLURM executor logs, indexed once, matched to nodes by wildcard values."""

    def __init__(self, world_dir: Path, slurm_dir: Path):
        self.entries: dict[tuple, list[dict]] = {}
        for kind, base, suffix in (("log", world_dir / "logs", ".log"), ("benchmark", world_dir / "benchmarks", ".tsv")):
            if not base.is_dir():
                continue
            for file in base.rglob(f"*{suffix}"):
                parts = file.relative_to(base).with_suffix("").parts
                rule, key = (parts[0], parts[1:]) if len(parts) > 1 else (parts[0], ())
                self.entries.setdefault(key, []).append({"kind": kind, "rule": rule, "path": file.as_posix()})
        self.slurm = [p for p in slurm_dir.rglob("*.log")] if slurm_dir.is_dir() else []

    def attach(self, node: dict, key: tuple | None = None) -> None:
        values = tuple(str(v) for k, v in node["wildcards"].items() if k in _KEY_ORDER) if key is None else key
        prefixes = STAGE_RULE_PREFIXES.get(node["stage"])
        if prefixes is None:
            return
        jobs: dict[str, dict] = {}
        for entry in self.entries.get(values, []):
            if not entry["rule"].startswith(prefixes):
                continue
            job = jobs.setdefault(entry["rule"], {"rule": entry["rule"], "slurm_job_ids": []})
            job[entry["kind"]] = entry["path"]
            if entry["kind"] == "benchmark":
                job["benchmark_s"] = _benchmark_seconds(Path(entry["path"]))
            else:
                job["slurm_job_ids"] += _slurm_ids_in(Path(entry["path"]))
        for file in self.slurm:
            rule_dirs = [p[5:] for p in file.parts if p.startswith("rule_")]
            if rule_dirs and rule_dirs[0].startswith(prefixes) and values and all(v in file.as_posix() for v in values):
                job = jobs.setdefault(rule_dirs[0], {"rule": rule_dirs[0], "slurm_job_ids": []})
                if file.stem.isdigit():
                    job["slurm_job_ids"].append(file.stem)
                job.setdefault("slurm_logs", []).append(file.as_posix())
        for job in jobs.values():
            job["slurm_job_ids"] = sorted(set(job["slurm_job_ids"]))
        node["jobs"] = sorted(jobs.values(), key=lambda j: j["rule"])


_KEY_ORDER = ("metric", "method", "promptset", "shard", "run", "name")


def _method_wildcards(**wildcards) -> dict:
    """Wildcards in the order logs name them, plus run/step/which for fine-tuned method ids (not keys)."""
    out = {k: wildcards[k] for k in _KEY_ORDER if k in wildcards}
    if "method" in wildcards:
        parsed = MethodId.parse(wildcards["method"])
        if parsed.finetuned:
            out.update({"model_run": parsed.run, "model_step": parsed.step, "model_which": parsed.which})
    return out


def _fingerprint(path: Path) -> dict:
    if path.is_file():
        return {"type": "file", "exists": True, "sha256": sha256_file(path), "bytes": path.stat().st_size}
    if path.is_dir():
        digest, how, count = sha256_dir(path)
        return {"type": "directory", "exists": True, "sha256": digest, "sha256_of": how, "files": count}
    return {"type": "missing", "exists": False, "sha256": None}


def _scorer(path: Path) -> dict:
    if not path.is_file():
        return {}
    with open(path, newline="") as handle:
        row = next(csv.DictReader(handle), None) or {}
    return {k: row[k] for k in ("label", "backbone") if k in row}


def _count_rows(path: Path) -> int | None:
    if not path.is_file():
        return None
    with open(path, newline="") as handle:
        return max(0, sum(1 for _ in handle) - 1)


def _checkpoints(path: Path) -> object:
    """What complete.json records about the checkpoints (steps, sha256 per file), as written by `erase`."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {"error": "complete.json is not valid JSON"}


def _benchmark_seconds(path: Path) -> float | None:
    try:
        with open(path, newline="") as handle:
            row = next(csv.DictReader(handle, delimiter="\t"), None)
        return float(row["s"]) if row and row.get("s") not in (None, "", "NA") else None
    except (OSError, ValueError, KeyError):
        return None


def _slurm_ids_in(path: Path) -> list[str]:
    try:
        text = path.read_text(errors="replace")[:200_000]
    except OSError:
        return []
    return [m for pattern in SLURM_PATTERNS for m in pattern.findall(text)]


def git_state(repo: str | Path) -> dict:
    def run(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30)

    try:
        head = run("rev-parse", "HEAD")
        status = run("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None, "note": "git not available"}
    if head.returncode != 0:
        return {"commit": None, "dirty": None, "note": "not a git checkout"}
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def package_versions(names: Iterable[str] = PACKAGES) -> dict:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def config_snapshot(config: Mapping, kind: str, spec: Mapping) -> dict:
    """The config sections an artifact depends on: its report spec and the runs, inference methods,
    prompt sets and metrics behind it (not the whole config, so that editing one plot leaves the
    provenance of the others untouched)."""
    methods, promptsets, metrics = set(spec.get("methods", [])), set(), set()
    if kind == "table":
        for column in spec["columns"]:
            promptsets.add(column["promptset"])
            metrics.add(column["metric"])
    else:
        promptsets.add(spec["promptset"])
        if spec.get("metric"):
            metrics.add(spec["metric"])
    for series in spec.get("series", []):
        for step in series["steps"]:
            methods.add(MethodId.of(series["run"], step, student=series.get("which") == "student").name)
    if spec.get("baseline"):
        methods.add(spec["baseline"])
    runs = {MethodId.parse(m).run for m in methods} - {None}
    inference = {m for m in methods if not MethodId.parse(m).finetuned}
    reference = config.get("generation", {}).get("reference_method", "sd")
    if metrics & PAIRED_METRICS:
        inference.add(reference)
    return {
        "world": config.get("world"), "base_model": config.get("base_model"), "results": config.get("results"),
        "generation": config.get("generation"),
        "runs": {r: config.get("runs", {}).get(r) for r in sorted(runs)},
        "inference_methods": {m: config.get("inference_methods", {}).get(m) for m in sorted(inference)},
        "prompt_sets": {p: config.get("prompt_sets", {}).get(p) for p in sorted(promptsets)},
        "metrics": {m: config.get("metrics", {}).get(m) for m in sorted(metrics)},
        "report": {kind: spec},
    }


def build(*, artifact: str, kind: str, outputs: Iterable[str | Path], inputs: Iterable[str | Path], root: str | Path,
          world: str, config: Mapping, spec: Mapping, rule: str, repo: str | Path | None = None,
          workdir: str | Path = ".") -> dict:
    """The provenance record of one report artifact (its outputs made by `rule` from `inputs`)."""
    walker = Walker(root, world, config, workdir=workdir)
    output_keys = [walker.add(o) for o in outputs]
    input_keys = [walker.add(i) for i in inputs]
    for key in output_keys:
        walker.nodes[key]["inputs"] = list(input_keys)
        walker.nodes[key]["stage"] = "report"
        walker.nodes[key]["rule"] = rule
    first = walker.nodes[output_keys[0]]
    walker._jobs.attach(first, key=(artifact,))
    first["jobs"] = [job for job in first["jobs"] if job["rule"] == rule]  # not this provenance job's own log
    return {
        "schema": SCHEMA_VERSION,
        "artifact": artifact,
        "kind": kind,
        "rule": rule,
        "outputs": output_keys,
        "params": spec,
        "inputs": input_keys,
        "artifacts": walker.nodes,
        "summary": _summary(walker.nodes),
        "config": config,
        "git": git_state(repo or Path(__file__).resolve().parents[2]),  # the checkout whose code ran
        "packages": package_versions(),
        "packages_note": "versions in the environment of the provenance job; producing jobs ran in the pinned "
                         "envs/*.yaml of their rules",
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
    }


def _summary(nodes: Mapping[str, dict]) -> dict:
    by_stage: dict[str, int] = {}
    for node in nodes.values():
        by_stage[node["stage"]] = by_stage.get(node["stage"], 0) + 1
    return {"artifacts": len(nodes), "by_stage": dict(sorted(by_stage.items())),
            "missing": sorted(k for k, n in nodes.items() if n.get("exists") is False)}


def write(out: str | Path, record: Mapping) -> None:
    write_json_atomic(out, record)


def score_files(record: Mapping) -> list[str]:
    """Every score file (summary or per-image) in a provenance record."""
    return sorted(k for k, n in record["artifacts"].items() if n["stage"] == "score")
