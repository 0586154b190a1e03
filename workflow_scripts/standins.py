"""Snakemake shim for the `standins` rule: tiny random stand-in weights built from the real architectures'
configs (erasure.standins), for CI and demos.

    output[0]  the stand-in folder (config `standins:`)
    log[0]
"""

from pathlib import Path


def main(out: Path, log_file: Path | None = None) -> None:
    from erasure.runtime import job
    from erasure.standins.build import main as build_main

    with job(log_file):
        if build_main([str(out)]):
            raise SystemExit(1)


if "snakemake" in globals():
    _sm = globals()["snakemake"]
    main(Path(_sm.output[0]), Path(_sm.log[0]) if _sm.log else None)
