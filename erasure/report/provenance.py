"""The audit trail of a report artifact (a table or figure): the closure over the job records
(erasure.records) from its outputs back to files no job made.

Every job writes, beside each output, what it read and made (sha256, rule, wildcards, params, software,
SLURM job id, start / end: erasure.runtime.job). The provenance of an artifact is found by following those
records from its outputs: a file with a record is a node with the job that made it and that job's inputs as
children; a file without one is a leaf, hashed as the job that read it recorded it. Nothing here knows the
results layout or the rules, so a new rule or path needs no change here.

    table -> its report job -> score summaries -> summarize_score jobs -> per-image scores -> score jobs
          -> manifests, prompt tables, backbones, reference sets -> generate jobs -> complete.json
          -> erase jobs -> base model ... -> source files (shipped prompts, fetched files, weights)

Leaves inside results/ (`unrecorded`) are files made before jobs wrote records: an old results folder gives
a record that stops at the first file made before this change; rerun its rule (`snakemake --forcerun RULE`)
to record it. The export for readers outside this project is a W3C PROV document (`to_prov`).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from erasure.io import dag_path, write_json_atomic
from erasure.metrics import catalog
from erasure.paths import MethodId
from erasure.plan import REPORT_KINDS
from erasure.records import package_versions, read_record, git_state

SCHEMA_VERSION = 3  # 3: the closure over job records (erasure.records); 2: a walk of the results layout
UNRECORDED, SOURCE = "unrecorded", "source"


def closure(outputs: Iterable[str | os.PathLike], *, workdir: str | os.PathLike = ".",
            root: str | os.PathLike = "results") -> dict[str, dict]:
    """{path: node} of every file upstream of `outputs` (breadth first, each once), by their job records.

    A recorded node: `stage` and `rule` (its job's rule), `wildcards`, `params`, `inputs` (paths), `jobs`
    ([{rule, slurm_job_ids, started, ended, seconds, log}]), `software`, and its own `type` / `sha256` /
    `bytes` as its job recorded them. A leaf (no record): `stage` "unrecorded" inside `root`, "source"
    outside, with the `type` / `sha256` its first reader recorded; `conflict` lists the digests where two
    records saw different bytes under one path (a file changed between the jobs that read it)."""
    workdir = Path(workdir)
    root_key = dag_path(root).as_posix().rstrip("/") + "/"
    nodes: dict[str, dict] = {}
    seen: dict[str, list[dict]] = {}
    queue = [dag_path(o).as_posix() for o in outputs]
    while queue:
        key = queue.pop(0)
        if key in nodes:
            continue
        record = read_record(key if Path(key).is_absolute() else workdir / key)
        if record is None:
            nodes[key] = {"path": key, "stage": UNRECORDED if key.startswith(root_key) else SOURCE}
            continue
        own = next((o for o in record.get("outputs", []) if o.get("path") == key), {})
        nodes[key] = {
            "path": key, "stage": record.get("rule"), "rule": record.get("rule"),
            "wildcards": record.get("wildcards", {}), "params": record.get("params", {}),
            "inputs": [entry["path"] for entry in record.get("inputs", [])],
            "jobs": [_job(record)], "software": record.get("software", {}),
            **{k: own[k] for k in ("type", "sha256", "bytes", "sha256_of", "files") if k in own},
        }
        for entry in record.get("inputs", []):
            seen.setdefault(entry["path"], []).append(entry)
            queue.append(entry["path"])
    for key, node in nodes.items():
        readers = seen.get(key, [])
        if "sha256" not in node and readers:
            node.update({k: readers[0][k] for k in ("type", "sha256", "bytes", "sha256_of", "files") if k in readers[0]})
        digests = sorted({e["sha256"] for e in readers if e.get("sha256")} | ({node["sha256"]} if node.get("sha256") else set()))
        if len(digests) > 1:
            node["conflict"] = digests
        node["exists"] = None if node.get("type") is None else node["type"] != "missing"
    return nodes


def _job(record: Mapping) -> dict:
    seconds = None
    try:
        seconds = (_dt.datetime.fromisoformat(record["ended"]) - _dt.datetime.fromisoformat(record["started"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        pass
    return {"rule": record.get("rule"), "slurm_job_ids": [record["slurm_job_id"]] if record.get("slurm_job_id") else [],
            "started": record.get("started"), "ended": record.get("ended"), "seconds": seconds,
            "host": record.get("host"), "log": record.get("log", []),
            "outputs": [entry["path"] for entry in record.get("outputs", [])]}


def config_snapshot(config: Mapping, kind: str, spec: Mapping) -> dict:
    """The config sections an artifact depends on: its report spec and the runs, inference methods,
    prompt sets and metrics behind it (not the whole config, so that editing one plot leaves the
    provenance of the others untouched)."""
    entry = next(k for k in REPORT_KINDS.values() if k.kind == kind)  # what the kind shows and reads
    shown = entry.image_sets(spec, config)
    methods, promptsets = {s.method for s in shown}, {s.promptset for s in shown}
    metrics = {metric for metric, _, _ in entry.scores(spec, config)}
    runs = {MethodId.parse(m).config_run for m in methods} - {None}  # a replicate X.r{r}: run X's config
    inference = {m for m in methods if not MethodId.parse(m).finetuned}
    reference = config.get("generation", {}).get("reference_method", "sd")
    if any(catalog.is_paired(m) for m in metrics):
        inference.add(reference)
    return {
        "world": config.get("world"), "base_model": config.get("base_model"), "results": config.get("results"),
        # the stand-in folder, where set, pins every source inside it (erasure.external_inputs.built_roots)
        **({"standins": config["standins"]} if config.get("standins") else {}),
        "generation": config.get("generation"),
        "runs": {r: config.get("runs", {}).get(r) for r in sorted(runs)},
        "inference_methods": {m: config.get("inference_methods", {}).get(m) for m in sorted(inference)},
        "prompt_sets": {p: config.get("prompt_sets", {}).get(p) for p in sorted(promptsets)},
        "metrics": {m: config.get("metrics", {}).get(m) for m in sorted(metrics)},
        "report": {kind: spec},
        **_plugins(config, runs, inference),
    }


def _plugins(config: Mapping, runs: Iterable[str], inference: Iterable[str]) -> dict:
    """{"plugins": {method: {package, version, entry_point}}} for the methods behind an artifact that come from a
    plug-in package (erasure.methods.specs: entry-point group `erasure.methods`); {} when all are built in, so
    the records of built-in methods are what they were."""
    from erasure.methods import specs

    names = [(config.get("runs", {}).get(r) or {}).get("method") for r in runs]
    names += [(config.get("inference_methods", {}).get(m) or {}).get("kind") for m in inference]
    found = {}
    for name in sorted(n for n in names if n):
        spec = specs.SPECS.get(name)
        if spec is not None and spec.plugin is not None:
            package, version, entry_point = spec.plugin
            found[name] = {"package": package, "version": version, "entry_point": entry_point}
    return {"plugins": found} if found else {}


def build(*, artifact: str, kind: str, outputs: Iterable[str | os.PathLike], config: Mapping, spec: Mapping,
          rule: str, workdir: str | os.PathLike = ".", root: str | os.PathLike = "results") -> dict:
    """The provenance record of one report artifact: its outputs (made by `rule`) and the closure over the job
    records behind them, with the config sections it depends on and this job's git state and packages."""
    nodes = closure(outputs, workdir=workdir, root=root)
    output_keys = [dag_path(o).as_posix() for o in outputs]
    return {
        "schema": SCHEMA_VERSION,
        "artifact": artifact,
        "kind": kind,
        "rule": rule,
        "outputs": output_keys,
        "params": spec,
        "inputs": nodes[output_keys[0]].get("inputs", []),
        "artifacts": nodes,
        "summary": _summary(nodes),
        "config": config,
        "git": git_state(),  # the checkout whose code ran this job; each node's job records its own
        "packages": package_versions(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
    }


def _summary(nodes: Mapping[str, dict]) -> dict:
    by_stage: dict[str, int] = {}
    for node in nodes.values():
        by_stage[node["stage"]] = by_stage.get(node["stage"], 0) + 1
    return {"artifacts": len(nodes), "by_stage": dict(sorted(by_stage.items())),
            "missing": sorted(k for k, n in nodes.items() if n.get("type") == "missing"),
            "unrecorded": sorted(k for k, n in nodes.items() if n["stage"] == UNRECORDED),
            "conflicts": sorted(k for k, n in nodes.items() if n.get("conflict"))}


def write(out: str | os.PathLike, record: Mapping) -> None:
    write_json_atomic(out, record)


PROV_NAMESPACE = ("erasure", "https://w3id.org/erasure/")


def to_prov(record: Mapping):
    """The provenance record as a W3C PROV document (`prov.model.ProvDocument`): each file an entity
    (`erasure:sha256`, `erasure:bytes`), each job an activity (start / end time, rule, wildcards, SLURM job
    id) that `used` its inputs and generated its outputs, associated with the software agent (git commit,
    package versions) that ran it. PROV-JSON (`.serialize(format="json")`) is read by the `prov` package,
    ProvToolbox and ProvStore."""
    from prov.model import ProvDocument

    doc = ProvDocument()
    doc.add_namespace(*PROV_NAMESPACE)
    doc.add_namespace("file", "file:")  # relative paths: rooted at the working directory (results/ moves with it)
    entities, activities, agents = {}, {}, {}

    def entity(key: str):
        if key not in entities:
            node = record["artifacts"].get(key, {})
            attributes = {"prov:label": key, "erasure:stage": node.get("stage") or "?"}
            for name in ("sha256", "bytes", "type", "files"):
                if node.get(name) is not None:
                    attributes[f"erasure:{name}"] = node[name]
            entities[key] = doc.entity(f"file:{key}", attributes)
        return entities[key]

    for key, node in record["artifacts"].items():
        ent = entity(key)
        if not node.get("jobs"):
            continue
        job = node["jobs"][0]
        job_id = f"erasure:job/{node['rule']}/{(job.get('outputs') or [key])[0]}"  # a job is its rule + first output
        if job_id not in activities:
            activity = doc.activity(job_id, job.get("started"), job.get("ended"), {
                "erasure:rule": node["rule"], "erasure:wildcards": json.dumps(node.get("wildcards", {}), sort_keys=True),
                "erasure:params": json.dumps(node.get("params", {}), sort_keys=True, default=str),
                "erasure:slurm_job_id": ",".join(job.get("slurm_job_ids", [])) or "none",
                "erasure:host": job.get("host") or "?"})
            activities[job_id] = activity
            for child in node.get("inputs", []):
                doc.used(activity, entity(child))
            git = (node.get("software") or {}).get("git") or {}
            agent_id = f"erasure:software/{git.get('commit') or 'unknown'}{'-dirty' if git.get('dirty') else ''}"
            if agent_id not in agents:
                agents[agent_id] = doc.agent(agent_id, {
                    "prov:type": "prov:SoftwareAgent", "erasure:git_commit": git.get("commit") or "unknown",
                    "erasure:packages": json.dumps((node.get("software") or {}).get("packages", {}), sort_keys=True)})
            doc.wasAssociatedWith(activity, agents[agent_id])
        doc.wasGeneratedBy(ent, activities[job_id])
    return doc


def write_prov(out: str | os.PathLike, record: Mapping) -> None:
    """The PROV-JSON export of `record` (`to_prov`), written atomically."""
    from erasure.io import atomic_write

    with atomic_write(out) as handle:
        handle.write(to_prov(record).serialize(format="json", indent=2))
        handle.write("\n")
