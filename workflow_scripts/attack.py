"""Snakemake shim for rules/attack.smk's `attack_shard` and `attack_merge` rules.

attack_shard:
    input.table    results/{world}/prompts/{promptset}.csv
    output[0]      results/{world}/attacks/{method}/{promptset}~{attack}/shards/{shard}.csv (erasure.attacks.table)
    params         method, method_spec, attack, attack_spec, shard, shard_size, sampling, base_model, results,
                   world, target_method, target_spec, metric, metric_settings, device
                   (erasure.attacks.stage.attack_shard's arguments)
attack_text_shard:
    input.table    results/{world}/prompts/{promptset}.csv
    input.run      results/{world}/models/{run}/complete.json where {encoder} is a run's model id (AdvUnlearn)
    output[0]      results/{world}/attacks/_text-encoder-{encoder}/{promptset}~{attack}/shards/{shard}.csv
    params         encoder, attack, attack_spec, shard, shard_size, base_model, results, world, device
                   (erasure.attacks.stage.text_attack_shard's arguments)
attack_merge:
    input.shards, input.table
    output.adversarial  results/{world}/attacks/{method}/{promptset}~{attack}/adversarial.csv (+ .provenance.json)
    output.table        .../prompts.csv: the attacked prompt table the generate rules draw from
    params.provenance
"""

from pathlib import Path


def attack(table: Path, out: Path, log_file: Path | None = None, *, threads: int = 1, **kwargs) -> dict:
    from erasure.runtime import job

    with job(log_file, threads):
        from erasure.attacks.stage import attack_shard

        return attack_shard(table, out, **kwargs)


def text_attack(table: Path, out: Path, log_file: Path | None = None, *, threads: int = 1, **kwargs) -> dict:
    from erasure.runtime import job

    with job(log_file, threads):
        from erasure.attacks.stage import text_attack_shard

        return text_attack_shard(table, out, **kwargs)


def merge(shards: list[Path], table: Path, adversarial: Path, attacked: Path, log_file: Path | None = None, *,
          provenance: dict) -> dict:
    from erasure.runtime import job

    with job(log_file):
        from erasure.attacks.stage import merge_attacks

        return merge_attacks(shards, table, adversarial, attacked, provenance=provenance)


if "snakemake" in globals():
    _sm = globals()["snakemake"]
    if _sm.rule == "attack_merge":
        merge([Path(p) for p in _sm.input.shards], Path(_sm.input.table), Path(_sm.output.adversarial),
              Path(_sm.output.table), Path(_sm.log[0]), provenance=dict(_sm.params.provenance))
    elif _sm.rule == "attack_text_shard":
        text_attack(Path(_sm.input.table), Path(_sm.output[0]), Path(_sm.log[0]), threads=_sm.threads, **_sm.params)
    else:
        attack(Path(_sm.input.table), Path(_sm.output[0]), Path(_sm.log[0]), threads=_sm.threads, **_sm.params)
