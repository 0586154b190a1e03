"""Snakemake shim for `report_provenance`: the audit trail of one table or figure (erasure.report.provenance).

    input.outputs     the artifact's own files (table CSV/MD/TeX, figure PNGs)
    input.inputs      what its rule read (summaries, per-image scores, manifests, prompt tables, complete.json)
    input.upstream    every other file the record hashes (erasure.report.targets.provenance_inputs)
    output.json       results/{world}/provenance/{artifact}.json
    params            artifact, kind, producer (rule), spec, config (the sections it depends on), world,
                      sources (files from outside results/ as the DAG resolved them)
                      (the git state is read from the checkout the erasure package is imported from)
"""

from pathlib import Path


def main(outputs: list[Path], inputs: list[Path], out: Path, *, artifact: str, kind: str, rule: str, spec: dict,
         config: dict, world: str, log: Path, threads: int = 1, upstream: list[Path] = (),
         sources: dict | None = None) -> None:
    from erasure.report import provenance
    from erasure.runtime import job
    from erasure.report.targets import root_of

    with job(log, threads):
        record = provenance.build(artifact=artifact, kind=kind, outputs=outputs, inputs=inputs, root=root_of(out),
                                  world=world, config=config, spec=spec, rule=rule, upstream=upstream,
                                  resolved=sources)
        provenance.write(out, record)
        print(f"{out}: {record['summary']['artifacts']} artifacts {record['summary']['by_stage']}")


if "snakemake" in globals():
    _sm = globals()["snakemake"]
    main([Path(p) for p in _sm.input.outputs], [Path(p) for p in _sm.input.inputs], Path(_sm.output[0]),
         artifact=_sm.params.artifact, kind=_sm.params.kind, rule=_sm.params.producer, spec=dict(_sm.params.spec),
         config=dict(_sm.params.config), world=_sm.params.world,
         log=Path(_sm.log[0]), threads=_sm.threads,
         upstream=[Path(p) for p in (_sm.input.upstream if "upstream" in _sm.input.keys() else [])],
         sources={k: list(v) for k, v in dict(_sm.params.sources).items()})
