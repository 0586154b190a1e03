"""Snakemake shim for the `toy_base` rule: train the toy base into the rule's output directory."""

from pathlib import Path

from erasure.worlds import get_world


def main(out_dir: Path, *, recipe: str, seed: int, threads: int) -> None:
    get_world("toy").build_base(out_dir, recipe=recipe, seed=seed, threads=threads)


if "snakemake" in globals():
    from erasure.runtime import job

    with job(snakemake.log[0], snakemake.threads):  # noqa: F821
        main(Path(snakemake.output[0]), **snakemake.params, threads=snakemake.threads)  # noqa: F821
