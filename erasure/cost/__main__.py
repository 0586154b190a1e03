"""python -m erasure.cost CONFIG [CONFIG ...] [--gpu H100] [--table PATH] [--json]

Prints the cost of the config's plan (every job `snakemake all` would run) per rule and in total: GPU-hours,
CPU core-hours, the longest job and its runtime request. Torch-free, a second on a login node."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load_config(files: list[str]) -> dict:
    import yaml

    from erasure.config import validate_config

    config: dict = {}
    for name in files:
        try:
            config.update(yaml.safe_load(Path(name).read_text()) or {})
        except OSError as error:
            from erasure.errors import ErasureError

            raise ErasureError(f"{name}: cannot read ({error.strerror})") from None
    return validate_config(config, REPO / "config" / "schema.yaml", source=", ".join(files))


def _what_if(item: str, gpu: str) -> tuple[tuple[str, str], float]:
    from erasure.errors import ErasureError

    key, _, value = item.partition("=")
    row_gpu, _, operation = key.rpartition(":")
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not (number > 0):
        raise ErasureError(f"--what-if {item!r}: expected [GPU:]OPERATION=VALUE with a positive VALUE")
    return (row_gpu or gpu, operation), number


def main(argv: list[str] | None = None) -> int:
    from erasure.cost import model, table
    from erasure.errors import ErasureError

    parser = argparse.ArgumentParser(prog="python -m erasure.cost", description=__doc__.splitlines()[2])
    parser.add_argument("configs", nargs="+", help="config files, later ones over earlier (as --configfile)")
    parser.add_argument("--gpu", help="GPU model of the throughput table (default: cluster.gpu_model, else H100)")
    parser.add_argument("--table", help=f"throughput table (default {table.DEFAULT_TABLE})")
    parser.add_argument("--json", action="store_true", help="per-rule rows and totals as JSON")
    parser.add_argument("--what-if", action="append", default=[], metavar="[GPU:]OPERATION=VALUE",
                        help="a scenario: this value for a row (default GPU: the one costed; cpu: for a per-core "
                             "row), marked what-if in the output; repeatable")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.configs)
        if not model.costed(config):
            print(model.config_report(config))
            return 0
        gpu = args.gpu or config.get("cluster", {}).get("gpu_model") or "H100"
        throughput = table.load(args.table, gpu)
        if args.what_if:
            throughput = throughput.what_if(dict(_what_if(item, gpu) for item in args.what_if))
        jobs = model.plan_jobs(config, throughput)
    except ErasureError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        rows = model.by_rule(jobs)
        print(json.dumps({"gpu": gpu, "table": str(throughput.path), "jobs": len(jobs),
                          "gpu_hours": round(sum(r.gpu_hours for r in rows), 3),
                          "core_hours": round(sum(r.core_hours for r in rows), 3),
                          "rules": [{**r.__dict__, "runtime_minutes": model.runtime_minutes(r.longest_s)}
                                    for r in rows]}, indent=1))
    else:
        print(model.report(config, throughput, jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
