"""Snakemake shim for the `generate_shard` rule (one shard of one (method, prompt set) image set) and the
`generate_set` rule (a set of one shard: that shard, then the set's manifest).

    input.table    results/{world}/prompts/{promptset}.csv
    output[0]      generate_shard: results/{world}/images/{method}/{promptset}/shards/{shard}.csv (the shard
                   manifest); generate_set: results/{world}/images/{method}/{promptset}/manifest.csv
    params         image_dir, method, method_spec, shard, shard_size, images_per_prompt, sampling,
                   batch_size, base_model, results, world, device (erasure.generate.generate_shard's arguments);
                   generate_set also shard_manifest (where its shard's manifest goes) and expected (images)
    log[0], threads
"""

from pathlib import Path


def main(table: Path, out: Path, log_file: Path | None = None, *, threads: int = 1, **kwargs) -> dict:
    from erasure.runtime import job

    with job(log_file, threads):
        from erasure.generate import generate_shard

        return generate_shard(table, out, **kwargs)


def main_set(table: Path, manifest: Path, log_file: Path | None = None, *, threads: int = 1, shard_manifest: Path,
             expected: int, **kwargs) -> dict:
    """A set of one shard: the shard, then the set's manifest from it (as merge_manifest would write it)."""
    from erasure.runtime import job

    with job(log_file, threads):
        from erasure.generate import generate_shard, merge_manifests

        stats = generate_shard(table, shard_manifest, **kwargs)
        merge_manifests([Path(shard_manifest)], manifest, expected=expected)
        return stats


if "snakemake" in globals():
    _sm = globals()["snakemake"]
    _run = main_set if _sm.rule == "generate_set" else main
    _run(Path(_sm.input.table), Path(_sm.output[0]), Path(_sm.log[0]), threads=_sm.threads, **_sm.params)
