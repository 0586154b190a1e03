"""Print the lineage of a report output as a readable tree, from its provenance JSON.

    python -m erasure.report.lineage results/toy/tables/table1.csv
    python -m erasure.report.lineage results/toy/figures/training-curves.png --depth 3
    python -m erasure.report.lineage results/toy/provenance/table1.json --json     # the raw record
    erasure-lineage results/toy/tables/table1.md                                   # same, console script

The provenance file is found by scanning results/{world}/provenance/*.json for one whose outputs include
the given path (make them with `snakemake --cores 1 <that json>` or `snakemake all`). The record is the
closure over the job records each job wrote beside its outputs (erasure.records, erasure.report.provenance).
Each line shows the file, the rule and wildcards of the job that made it, the first 12 hex digits of the
sha256 RECORDED for it by the jobs (never the file as it is now), and the job's seconds and SLURM job id
where known; `unrecorded` is a file under results/ made before jobs wrote records, `source` one from outside
results/ that no job made. An artifact reached a second time prints as "(see above)".

    python -m erasure.report.lineage results/toy/tables/table1.csv --verify

checks every recorded sha256 against the file now (`verify`): one line per file that differs (or is gone),
naming it with both hashes and the fix, and exit code 1; exit 0 when all match. A per-image score edited
by hand after the record was made is named there until snakemake has remade what depends on it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from erasure.errors import ErasureError


def find_record(output: str | Path) -> tuple[Path, dict]:
    output = Path(output)
    if output.suffix == ".json" and output.parent.name == "provenance":
        return output, json.loads(output.read_text())
    world_dir = output.resolve().parent.parent
    directory = world_dir / "provenance"
    if not directory.is_dir():
        raise ErasureError(f"{output}: no provenance folder at {directory}; run `snakemake all` (or the provenance rule)")
    wanted = output.parts[-2:]  # tables/table1.csv: unique within the world's provenance folder
    for file in sorted(directory.glob("*.json")):
        if file.name.endswith((".prov.json", ".job.json")):  # the PROV export; the provenance job's own record
            continue
        record = json.loads(file.read_text())
        if any(isinstance(o, str) and Path(o).parts[-2:] == wanted for o in record.get("outputs", [])):
            return file, record
    raise ErasureError(f"{output}: no provenance record in {directory} lists this output; "
                       "run `snakemake all` to make the provenance files")


def describe(node: Mapping) -> str:
    bits = [] if node.get("jobs") else [node.get("stage", "?")]  # a recorded node: its job's rule, below
    wildcards = node.get("wildcards", {})
    if wildcards:
        bits.append(" ".join(f"{k}={v}" for k, v in wildcards.items()))
    if node.get("type") == "directory":
        bits.append(f"{node.get('files')} files")
    for job in node.get("jobs", []):
        text = f"rule {job['rule']}"
        if job.get("seconds") is not None:
            text += f" {job['seconds']:.1f}s"
        if job.get("slurm_job_ids"):
            text += f" slurm {','.join(job['slurm_job_ids'])}"
        bits.append(text)
    if node.get("conflict"):
        bits.append(f"READ AS {len(node['conflict'])} DIFFERENT FILES by the jobs behind this record")
    sha = node.get("sha256")
    digest = f"recorded sha256 {sha[:12]}" if sha else ("MISSING" if node.get("exists") is False else "no hash")
    return f"[{'; '.join(bits)}]  {digest}"


def render(record: Mapping, *, depth: int | None = None, collapse: int = 6) -> str:
    """The tree under the record's first output. Runs of more than `collapse` siblings of one stage whose
    subtrees are leaves (e.g. shard manifests) are shown as the first few plus a count."""
    nodes = record["artifacts"]
    lines: list[str] = []
    seen: set[str] = set()

    def walk(key: str, prefix: str, last: bool, level: int, root: bool = False) -> None:
        node = nodes.get(key, {"path": key, "stage": "?"})
        connector = "" if root else ("└── " if last else "├── ")
        again = key in seen and node.get("inputs")
        lines.append(f"{prefix}{connector}{key}  {describe(node)}{'  (see above)' if again else ''}")
        if again or (depth is not None and level >= depth):
            return
        seen.add(key)
        children = list(node.get("inputs", []))
        children = _collapse(children, nodes, collapse)
        child_prefix = prefix if root else prefix + ("    " if last else "│   ")
        for i, child in enumerate(children):
            if isinstance(child, str) and child.startswith("… "):
                lines.append(f"{child_prefix}{'└── ' if i == len(children) - 1 else '├── '}{child}")
            else:
                walk(child, child_prefix, i == len(children) - 1, level + 1)

    outputs = record["outputs"]
    walk(outputs[0], "", True, 0, root=True)
    header = [f"# {record['kind']} {record['artifact']!r} (rule {record['rule']}), outputs: {', '.join(outputs)}",
              f"# git {record['git'].get('commit')} dirty={record['git'].get('dirty')}; "
              f"{record['summary']['artifacts']} artifacts by stage {record['summary']['by_stage']}"]
    if record["summary"].get("missing"):
        header.append(f"# MISSING upstream: {', '.join(record['summary']['missing'])}")
    if record["summary"].get("unrecorded"):
        header.append(f"# {len(record['summary']['unrecorded'])} file(s) under results/ have no job record (made "
                      "before jobs wrote records): the lineage stops there; `snakemake --forcerun RULE` records them")
    return "\n".join(header + lines) + "\n"


def _collapse(children: list[str], nodes: Mapping, keep: int) -> list[str]:
    leaves = [c for c in children if not nodes.get(c, {}).get("inputs")]
    if len(leaves) <= keep + 1:
        return children
    stage_leaves = {}
    for child in leaves:
        stage_leaves.setdefault(nodes.get(child, {}).get("stage"), []).append(child)
    drop = set()
    for stage, group in stage_leaves.items():
        if len(group) > keep + 1:
            drop.update(group[keep:])
    out, noted = [], set()
    for child in children:
        if child in drop:
            stage = nodes[child]["stage"]
            if stage not in noted:
                noted.add(stage)
                out.append(f"… {sum(1 for c in drop if nodes[c]['stage'] == stage)} more {stage} artifacts "
                           "(all listed in the provenance JSON)")
            continue
        out.append(child)
    # keep the count line after the shown siblings of its stage
    return [c for c in out if not c.startswith("… ")] + [c for c in out if c.startswith("… ")]


@dataclass(frozen=True)
class Mismatch:
    """An artifact whose file is not what its record says: `current` is None when the file is gone."""

    path: str
    recorded: str
    current: str | None

    def line(self) -> str:
        now = f"now {self.current[:16]}…" if self.current else "now missing"
        return (f"{self.path}: recorded sha256 {self.recorded[:16]}…, {now}; the record and what was made from "
                f"this file are stale: `touch {self.path}` (if it is there) and rerun snakemake, which remakes "
                "everything made from it, then this record")


def verify(record: Mapping, *, workdir: str | Path = ".") -> list[Mismatch]:
    """Every artifact of `record` (a provenance record, erasure.report.provenance.build) whose recorded sha256
    is not its file's now, in record order. Files and folders are hashed as the job records hashed them
    (erasure.records: a file's bytes; a folder's relative paths + file sha256, or + sizes past DIR_HASH_LIMIT
    files). Relative keys are resolved against `workdir` (where Snakemake ran); artifacts recorded without a
    hash (missing then, or unrecorded and read by no recorded job) are skipped."""
    from erasure.io import sha256_file
    from erasure.records import sha256_dir

    found = []
    for key, node in checked_artifacts(record):
        recorded = node["sha256"]
        path = Path(workdir) / key
        if node["type"] == "file":
            current = sha256_file(path) if path.is_file() else None
        else:
            current = sha256_dir(path)[0] if path.is_dir() else None
        if current != recorded:
            found.append(Mismatch(key, recorded, current))
    return found


def checked_artifacts(record: Mapping) -> list[tuple[str, Mapping]]:
    """(key, node) of the artifacts `verify` checks: files and folders recorded with a sha256."""
    return [(key, node) for key, node in record.get("artifacts", {}).items()
            if node.get("sha256") and node.get("type") in ("file", "directory")]


def workdir_of(record_file: Path, record: Mapping) -> Path:
    """Where the record's relative keys are rooted: the record lives at {workdir}/{results}/{world}/provenance/,
    its first output at {results}/{world}/{tables|figures}/{name}."""
    parts = Path(record["outputs"][0]).parts
    world_dir = record_file.resolve().parent.parent
    return world_dir.parents[len(parts) - 3] if len(parts) >= 3 else Path(".")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="erasure-lineage", description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="a table, figure, or provenance JSON under results/{world}/")
    parser.add_argument("--depth", type=int, default=None, help="stop after this many levels")
    parser.add_argument("--json", action="store_true", help="print the provenance record itself")
    parser.add_argument("--verify", action="store_true",
                        help="check every recorded sha256 against the file now; name each that differs (exit 1)")
    args = parser.parse_args(argv)
    try:
        file, record = find_record(args.output)
    except ErasureError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.verify:
        stale = verify(record, workdir=workdir_of(file, record))
        for mismatch in stale:
            print(mismatch.line())
        if not stale:
            print(f"# {file}: all {len(checked_artifacts(record))} recorded sha256 match the files")
        return 1 if stale else 0
    if args.json:
        print(json.dumps(record, indent=2, sort_keys=True))
    else:
        print(f"# provenance: {file} (sha256 as recorded when it was made; --verify checks them against the files)")
        print(render(record, depth=args.depth), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
