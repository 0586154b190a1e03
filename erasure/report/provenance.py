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

from erasure import paths, sources
from erasure.errors import ErasureError
from erasure.io import sha256_file, write_json_atomic
from erasure.methods import specs
from erasure.metrics import catalog
from erasure.paths import MethodId
from erasure.report.frontier import frontier_cells
from erasure.plan import n_shards, reference_method
from erasure.prompts.kinds import source_file_kind
from erasure.prompts.paths import prompt_source
from erasure.worlds import built_stages, get_world, world_for

SCHEMA_VERSION = 2  # 2: only the job's inputs are hashed; base-model files, scorer and prompt sources as nodes
PACKAGES = ("erasure", "snakemake", "torch", "diffusers", "transformers", "nudenet", "clean-fid", "lpips",
            "numpy", "pandas", "matplotlib", "pillow")
DIR_HASH_LIMIT = 5000  # directories with more files are fingerprinted by (name, size), not content
STAGE_RULE_PREFIXES = {
    "score": ("score",),
    "generate": ("generate", "merge", "manifest", "shard"),
    "erase": ("erase", "train"),
    "prompts": ("prompt", "fetch_prompts"),
    "q16_prompts": ("q16_prompts",),
    **{rule: (rule,) for rule in built_stages()},  # the worlds' own rules (a base they train, reference sets)
    "report": ("report",),
}
_BUILT_BY = {folder: rule for rule, folder in built_stages().items()}  # results/{world}/<folder> -> its rule
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


BASE_PREFIX = "base_model:"


def base_model_files(config: Mapping, root: str | Path) -> list[str]:
    """The files that pin the base model, as its world gives them (erasure.worlds: a shipped base's checksum
    list, the folder of a base the DAG trains, or a local directory's / cached hub snapshot's weights and configs).
    The same list is the DAG input of every rule that loads the base (rules/common.smk)."""
    return [str(f) for f in sources.base_model_files(config.get("base_model", ""), root, sources.built_roots(config))]


def metric_settings(config: Mapping, metric: str, promptset: str) -> dict:
    """metrics.<metric> with the prompt set's metric_settings.<metric> on top (as the score rule resolves them)."""
    settings = dict(config.get("metrics", {}).get(metric) or {})
    spec = config.get("prompt_sets", {}).get(promptset) or {}
    settings.update((spec.get("metric_settings") or {}).get(metric) or {})
    return settings


def upstream(key: str, *, root: str | Path, world: str, config: Mapping,
             resolved: Mapping[str, list[str]] | None = None) -> list[str]:
    """The artifacts the rule that made `key` read, by the results layout and the config alone; files from
    outside results/ (base model, scorer backbones) are looked up by erasure.sources, or taken from
    `resolved` ({key: files}, `resolve_sources` at planning time) so that a job on another machine walks
    exactly the files its rule was given. The provenance rule's inputs are the closure of this
    (erasure.report.targets.provenance_inputs), so provenance hashes only its inputs.

    `key` is a path, or `base_model:<source>` (the base model, whose upstream is its pinning files)."""
    found = _internal(key, root=root, world=world, config=config)
    external = _external(key, root=root, world=world, config=config) if resolved is None else resolved.get(key, [])
    return found + [f for f in external if f not in found]


def _external(key: str, *, root, world: str, config: Mapping) -> list[str]:
    """The files from outside results/ that the rule making `key` reads and that are found by looking."""
    if key.startswith(BASE_PREFIX):
        return base_model_files(config, root)
    rel = _relative(key, root, world)
    if len(rel) == 4 and rel[0] == "scores" and rel[3].endswith(".csv") and not rel[3].endswith(".summary.csv"):
        metric, promptset = rel[1], rel[3][:-4]
        return [str(f) for f in sources.metric_files(metric, metric_settings(config, metric, promptset),
                                                     config.get("world", world), paths.listings(root, world),
                                                     sources.built_roots(config))]
    return []


def _relative(key: str, root, world: str) -> tuple[str, ...]:
    try:
        return Path(key).relative_to(paths.world_dir(root, world)).parts
    except ValueError:
        return ()


def _internal(key: str, *, root, world: str, config: Mapping) -> list[str]:
    if key.startswith(BASE_PREFIX):
        return []
    rel = _relative(key, root, world)
    base = [BASE_PREFIX + config.get("base_model", "")]
    kind = get_world(config.get("world", world))  # the world family: its reference sets, its scorers' backbones
    if len(rel) == 4 and rel[0] == "scores" and rel[3].endswith(".summary.csv"):
        return [str(paths.score_csv(root, world, rel[1], rel[2], rel[3][: -len(".summary.csv")]))]
    if len(rel) == 4 and rel[0] == "scores" and rel[3].endswith(".csv"):
        metric, method, promptset = rel[1], rel[2], rel[3][:-4]
        found = [str(paths.manifest(root, world, method, promptset)), str(paths.prompt_table(root, world, promptset))]
        spec = catalog.METRICS.get(metric)
        if catalog.is_paired(metric):
            found.append(str(paths.manifest(root, world, reference_method(config), promptset)))
        elif spec is not None and spec.reference_from_world:  # a reference set the world's own rule renders
            found.append(str(paths.world_dir(root, world) / kind.reference_sets[metric]))
        elif catalog.needs_q16(metric):
            found.append(str(paths.q16_prompts(root, world)))
        return found + (base if kind.scorers_read_base else [])  # backbones that live in the base
    if len(rel) == 4 and rel[0] == "images" and rel[3] == "manifest.csv":
        method, promptset = rel[1], rel[2]
        # a set of one shard is drawn by one job (rules/generate.smk: generate_set) from the shard's own inputs
        count = n_shards(config, promptset)
        shards = [str(paths.shard_manifest(root, world, method, promptset, shard)) for shard in range(count)] \
            if count > 1 else []
        parsed = MethodId.parse(method)
        model = [str(paths.run_complete(root, world, parsed.run))] if parsed.finetuned else base
        return shards + [str(paths.prompt_table(root, world, promptset))] + model
    if len(rel) == 3 and rel[0] == "models" and rel[2] == "complete.json":
        return base
    if len(rel) == 2 and rel[0] == "prompts":
        return _prompt_source(config, root, world, Path(rel[1]).stem)
    if len(rel) == 3 and rel[:2] == ("prompts", "sources"):
        local = sources.local_file((config.get("prompt_sets", {}).get(Path(rel[2]).stem) or {}).get("path"))
        return [str(local)] if local else []
    if rel and Path(key) == paths.q16_prompts(root, world):
        value = (config.get("metrics", {}).get("harm") or {}).get("q16_source")
        local = sources.built_root(value, sources.built_roots(config)) or sources.local_file(value)
        return [str(local)] if local else []
    return []


def _prompt_source(config: Mapping, root, world: str, promptset: str) -> list[str]:
    spec = config.get("prompt_sets", {}).get(promptset) or {}
    if "source" not in spec:
        return []
    kind, shipped = source_file_kind(spec, promptset)
    if kind == "fetched":
        return [str(prompt_source(root, world, promptset))]
    if kind == "shipped":
        return [str(sources.dag_path(spec.get("path") or Path(__file__).resolve().parents[2] / "config" / "prompts" / shipped))]
    return []


def closure(keys: Iterable[str], *, root: str | Path, world: str, config: Mapping) -> list[str]:
    """Every file upstream of `keys` (breadth first, each once), base-model pseudo keys resolved to files."""
    return [k for k in _walk(keys, root=root, world=world, config=config) if not k.startswith(BASE_PREFIX)]


def resolve_sources(keys: Iterable[str], *, root: str | Path, world: str, config: Mapping) -> dict[str, list[str]]:
    """{key: files from outside results/ it was made from} over the closure of `keys`, looked up now (planning
    time) for the provenance job to walk (`upstream(..., resolved=)`)."""
    walked = [*keys, *_walk(keys, root=root, world=world, config=config)]
    found = {k: _external(k, root=root, world=world, config=config) for k in dict.fromkeys(walked)}
    return {k: files for k, files in found.items() if files}


def _walk(keys: Iterable[str], *, root, world: str, config: Mapping) -> list[str]:
    seen: dict[str, None] = {}
    queue = list(keys)
    while queue:
        key = queue.pop(0)
        for item in upstream(key, root=root, world=world, config=config):
            if item not in seen:
                seen[item] = None
                queue.append(item)
    return list(seen)


class Walker:
    """Builds the artifact graph: {key: node}; a node's `inputs` are keys of other nodes.

    Edges come from `upstream` (the results layout and the config); fingerprints are taken only of files in
    `allowed`, the inputs of the provenance job: a file upstream that is not one is an error, not a stale hash."""

    def __init__(self, root: str | Path, world: str, config: Mapping, *, workdir: str | Path = ".",
                 allowed: Iterable[str | Path] | None = None, resolved: Mapping[str, list[str]] | None = None):
        self.root, self.world, self.config = Path(root), world, config
        self.world_dir = paths.world_dir(root, world)
        self.workdir = Path(workdir)
        self.nodes: dict[str, dict] = {}
        self.allowed = None if allowed is None else {Path(p).as_posix() for p in allowed}
        self.resolved = resolved
        self._jobs = _JobIndex(self.world_dir, self.workdir / ".snakemake" / "slurm_logs")

    # -- nodes ----------------------------------------------------------------------------------------
    def add(self, path: str | Path) -> str:
        """Add the artifact at `path` and everything upstream of it; return its key."""
        if str(path).startswith(BASE_PREFIX):
            return self.add_base_model()
        path = Path(path)
        key = path.as_posix()
        if key in self.nodes:
            return key
        self._check_allowed(key)
        node = {"path": key, "stage": "input", "wildcards": {}, "inputs": []}
        self.nodes[key] = node
        node.update(_fingerprint(path))
        self._identify(path, node)
        node["inputs"] = [self.add(k) for k in upstream(key, root=self.root, world=self.world,
                                                         config=self.config, resolved=self.resolved)]
        self._jobs.attach(node)
        return key

    def _check_allowed(self, key: str) -> None:
        if self.allowed is not None and key not in self.allowed:
            raise ErasureError(f"provenance: {key} is upstream of the artifact but not an input of the provenance "
                               "job (erasure.report.targets.provenance_inputs must list it)")

    def add_base_model(self) -> str:
        """The base model: its pinning files as input nodes (sha256 each), the digest of them, and for a hub
        id the snapshot revision resolved from the Hugging Face cache."""
        source = self.config.get("base_model", "")
        key = f"{BASE_PREFIX}{source}"
        if key in self.nodes:
            return key
        node = {"path": key, "stage": "base model", "wildcards": {"base_model": source}, "inputs": []}
        self.nodes[key] = node
        model_world = world_for(source)
        if rule := model_world.base_rule(source):  # a base the DAG trains: its rule's job
            node["stage"] = rule
            self._jobs.attach(node, key=())
        files = upstream(key, root=self.root, world=self.world, config=self.config, resolved=self.resolved)
        node["inputs"] = [self.add(f) for f in files]
        if source and model_world.hub_id(source):
            snapshot = sources.hub_snapshot(source)
            node.update({"hub_id": source, "revision": snapshot[1].name if snapshot else None})
        digest = hashlib.sha256()
        for f in node["inputs"]:
            digest.update(f"{f}\0{self.nodes[f].get('sha256')}\n".encode())
        node.update({"sha256": digest.hexdigest() if files else None, "exists": bool(files),
                     "sha256_of": "paths + sha256 of the pinning files (inputs)"})
        if not files:
            node["note"] = "base model not found on this machine: nothing pins it"
        return key

    def _identify(self, path: Path, node: dict) -> None:
        try:
            rel = path.resolve().relative_to(self.world_dir.resolve()).parts
        except ValueError:
            node["stage"] = "source"  # a file from outside results/: a model, scorer or prompt file
            return
        config = self.config
        if len(rel) == 4 and rel[0] == "scores":
            metric, method = rel[1], rel[2]
            if rel[3].endswith(".summary.csv"):
                promptset = rel[3][: -len(".summary.csv")]
                node.update(stage="score", wildcards=_method_wildcards(metric=metric, method=method,
                                                                       promptset=promptset))
                node["scorer"] = _scorer(path)
            elif rel[3].endswith(".csv"):
                promptset = rel[3][:-4]
                node.update(stage="score", wildcards=_method_wildcards(metric=metric, method=method,
                                                                       promptset=promptset))
                node["params"] = {"metric": metric, "settings": metric_settings(config, metric, promptset)}
                node["scorer"] = _scorer(path)
        elif len(rel) == 4 and rel[0] == "images" and rel[3] == "manifest.csv":
            method, promptset = rel[1], rel[2]
            node.update(stage="generate", wildcards=_method_wildcards(method=method, promptset=promptset))
            node["n_images"] = _count_rows(path)
            node["params"] = self._method_params(method)
        elif len(rel) == 5 and rel[0] == "images" and rel[3] == "shards":
            node.update(stage="generate", wildcards=_method_wildcards(method=rel[1], promptset=rel[2],
                                                                      shard=Path(rel[4]).stem))
            node["n_images"] = _count_rows(path)
        elif len(rel) == 3 and rel[0] == "models" and rel[2] == "complete.json":
            run = rel[1]
            node.update(stage="erase", wildcards={"run": run}, params=config.get("runs", {}).get(run, {}))
            node["checkpoints"] = _checkpoints(path)
            # written by the same job, not an output of it (a resumed run appends to it): its digest is
            # recorded in complete.json by that job, not re-hashed here
            node["train_log"] = {"path": paths.train_log(self.root, self.world, run).as_posix(),
                                 "sha256": (node["checkpoints"] or {}).get("train_log_sha256")}
        elif len(rel) == 2 and rel[0] == "prompts":
            promptset = Path(rel[1]).stem
            node.update(stage="prompts", wildcards={"promptset": promptset},
                        params=config.get("prompt_sets", {}).get(promptset, {}))
        elif len(rel) == 3 and rel[:2] == ("prompts", "sources"):
            node.update(stage="fetch_prompts", wildcards={"promptset": Path(rel[2]).stem})
        elif path == paths.q16_prompts(self.root, self.world):
            node.update(stage="q16_prompts")
        elif len(rel) == 1 and rel[0] in _BUILT_BY:
            node.update(stage=_BUILT_BY[rel[0]])
        elif len(rel) == 2 and rel[0] in ("tables", "figures"):
            node.update(stage="report", wildcards={"name": Path(rel[1]).name.split(".")[0]})

    def _method_params(self, method: str) -> dict:
        parsed = MethodId.parse(method)
        generation = dict(self.config.get("generation", {}))
        if parsed.finetuned:
            run = self.config.get("runs", {}).get(parsed.run) or {}
            spec = specs.SPECS.get(run.get("method"))
            # the method's kind and the checkpoint role its images come from (erasure.methods.specs)
            kind = spec.kind if spec else None
            weights = "student" if parsed.which == "student" else (spec.deliverable if spec else None)
            return {"run": parsed.run, "step": parsed.step, "which": parsed.which, "kind": kind, "weights": weights,
                    "generation": generation, **_plugin(spec)}
        entry = self.config.get("inference_methods", {}).get(method, {})
        return {"inference_method": entry, "generation": generation,
                **_plugin(specs.SPECS.get(entry.get("kind")) if isinstance(entry, Mapping) else None)}


def _plugin(spec) -> dict:
    """{"plugin": {package, version, entry_point}} for a method from a plug-in package; {} for a built-in (so
    the records of built-in methods are what they were)."""
    if spec is None or spec.plugin is None:
        return {}
    package, version, entry_point = spec.plugin
    return {"plugin": {"package": package, "version": version, "entry_point": entry_point}}


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
        if node["stage"] == "score" and node.get("path", "").endswith(".summary.csv") and any(
                e["rule"] == SUMMARY_RULE for e in self.entries.get(values, [])):
            prefixes = (SUMMARY_RULE,)  # derived by its own job (rules/score.smk); older runs: by the score job
        if node["stage"] == "score" and key is None and values not in self.entries:
            values = values[1:]  # a set's score job (erasure.plan.set_score_jobs) logs per (method, prompt set)
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


SUMMARY_RULE = "summarize_score"
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
    elif kind == "frontier":  # erasure.report.frontier
        for metric, method, promptset in frontier_cells(spec):
            metrics.add(metric), methods.add(method), promptsets.add(promptset)
    else:
        promptsets.add(spec["promptset"])
        if spec.get("metric"):
            metrics.add(spec["metric"])
    for series in spec.get("series", []):
        for step in series.get("steps", []):
            methods.add(MethodId.of(series["run"], step, student=series.get("which") == "student").name)
    if spec.get("baseline"):
        methods.add(spec["baseline"])
    runs = {MethodId.parse(m).run for m in methods} - {None}
    inference = {m for m in methods if not MethodId.parse(m).finetuned}
    reference = config.get("generation", {}).get("reference_method", "sd")
    if any(catalog.is_paired(m) for m in metrics):
        inference.add(reference)
    return {
        "world": config.get("world"), "base_model": config.get("base_model"), "results": config.get("results"),
        # the stand-in folder, where set, pins every source inside it (erasure.sources.built_roots)
        **({"standins": config["standins"]} if config.get("standins") else {}),
        "generation": config.get("generation"),
        "runs": {r: config.get("runs", {}).get(r) for r in sorted(runs)},
        "inference_methods": {m: config.get("inference_methods", {}).get(m) for m in sorted(inference)},
        "prompt_sets": {p: config.get("prompt_sets", {}).get(p) for p in sorted(promptsets)},
        "metrics": {m: config.get("metrics", {}).get(m) for m in sorted(metrics)},
        "report": {kind: spec},
    }


def build(*, artifact: str, kind: str, outputs: Iterable[str | Path], inputs: Iterable[str | Path], root: str | Path,
          world: str, config: Mapping, spec: Mapping, rule: str, repo: str | Path | None = None,
          workdir: str | Path = ".", upstream: Iterable[str | Path] | None = None,
          resolved: Mapping[str, list[str]] | None = None) -> dict:
    """The provenance record of one report artifact (its outputs made by `rule` from `inputs`).

    `upstream`: the rest of the provenance job's inputs (targets.provenance_inputs); given, every file the
    walk reaches must be among outputs + inputs + upstream (ErasureError otherwise), so that the record is
    never older than a file it hashes. None (library use outside the DAG): the walk is not restricted.
    `resolved`: the files from outside results/ as the DAG resolved them (`resolve_sources`)."""
    outputs, inputs = list(outputs), list(inputs)
    allowed = None if upstream is None else [*outputs, *inputs, *upstream]
    walker = Walker(root, world, config, workdir=workdir, allowed=allowed, resolved=resolved)
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
