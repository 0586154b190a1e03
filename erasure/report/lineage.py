"""Print the lineage of a report output as a readable tree, from its provenance JSON.

    python -m erasure.report.lineage results/toy/tables/table1.csv
    python -m erasure.report.lineage results/toy/figures/training-curves.png --depth 3
    python -m erasure.report.lineage results/toy/provenance/table1.json --json     # the raw record
    erasure-lineage results/toy/tables/table1.md                                   # same, console script

The provenance file is found by scanning results/{world}/provenance/*.json for one whose outputs include
the given path (make them with `snakemake --cores 1 <that json>` or `snakemake all`). Each line shows the
artifact, the stage and wildcards that made it (scorer for scores, image count for manifests), the first 12
hex digits of its sha256, and the job's rule, benchmark seconds and SLURM job ids where known. An artifact
reached a second time prints as "(see above)".
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
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
        record = json.loads(file.read_text())
        if any(Path(o).parts[-2:] == wanted for o in record.get("outputs", [])):
            return file, record
    raise ErasureError(f"{output}: no provenance record in {directory} lists this output; "
                       "run `snakemake all` to make the provenance files")


def describe(node: Mapping) -> str:
    bits = [node.get("stage", "?")]
    wildcards = {k: v for k, v in node.get("wildcards", {}).items() if not k.startswith("model_")}
    if wildcards:
        bits.append(" ".join(f"{k}={v}" for k, v in wildcards.items()))
    if node.get("scorer", {}).get("label"):
        bits.append(f"scorer {node['scorer']['label']}")
    if node.get("n_images") is not None:
        bits.append(f"{node['n_images']} images")
    if node.get("type") == "directory":
        bits.append(f"{node.get('files')} files")
    for job in node.get("jobs", []):
        text = f"rule {job['rule']}"
        if job.get("benchmark_s") is not None:
            text += f" {job['benchmark_s']:.1f}s"
        if job.get("slurm_job_ids"):
            text += f" slurm {','.join(job['slurm_job_ids'])}"
        bits.append(text)
    sha = node.get("sha256")
    digest = f"sha256 {sha[:12]}" if sha else ("MISSING" if node.get("exists") is False else "no hash")
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="erasure-lineage", description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="a table, figure, or provenance JSON under results/{world}/")
    parser.add_argument("--depth", type=int, default=None, help="stop after this many levels")
    parser.add_argument("--json", action="store_true", help="print the provenance record itself")
    args = parser.parse_args(argv)
    try:
        file, record = find_record(args.output)
    except ErasureError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(record, indent=2, sort_keys=True))
    else:
        print(f"# provenance: {file}")
        print(render(record, depth=args.depth), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
