"""Snakemake shim for the `merge_manifest` rule: shard manifests -> the image set's manifest.csv.

    input       the shard manifests, in shard order
    output[0]   results/{world}/images/{method}/{promptset}/manifest.csv
    params      expected (images in the set)
"""

from pathlib import Path


def main(shards: list[Path], out: Path, log_file: Path | None = None, *, expected: int | None = None) -> None:
    from erasure.runtime import job

    with job(log_file):
        from erasure.generate import merge_manifests

        frame = merge_manifests(shards, out, expected=expected)
        print(f"{len(frame)} images from {len(shards)} shards -> {out}")


if "snakemake" in globals():
    _sm = globals()["snakemake"]
    main([Path(p) for p in _sm.input], Path(_sm.output[0]), Path(_sm.log[0]), expected=_sm.params.expected)
