"""Snakemake shim for the `generate_shard` rule: one shard of one (method, prompt set) image set.

    input.table    results/{world}/prompts/{promptset}.csv
    output[0]      results/{world}/images/{method}/{promptset}/shards/{shard}.csv (the shard manifest)
    params         image_dir, method, method_spec, shard, shard_size, images_per_prompt, sampling,
                   batch_size, base_model, results, world, device (erasure.generate.generate_shard's arguments)
    log[0], threads
"""

from pathlib import Path


def main(table: Path, out: Path, log_file: Path | None = None, *, threads: int = 1, **kwargs) -> dict:
    from erasure.runtime import job

    with job(log_file, threads):
        from erasure.generate import generate_shard

        return generate_shard(table, out, **kwargs)


if "snakemake" in globals():
    _sm = globals()["snakemake"]
    main(Path(_sm.input.table), Path(_sm.output[0]), Path(_sm.log[0]), threads=_sm.threads, **_sm.params)
