"""Snakemake shim for `report_provenance`: the audit trail of one table or figure (erasure.report.provenance).

    input.outputs     the artifact's own files (table CSV/MD/TeX, figure PNGs); the job records beside them
                      (erasure.records) lead to everything upstream
    output.json       results/{world}/provenance/{artifact}.json (python -m erasure.report.lineage reads it)
    output.prov       results/{world}/provenance/{artifact}.prov.json: the same as W3C PROV-JSON
    params            artifact, kind, producer (rule), spec, config (the sections it depends on)
"""

from pathlib import Path


def main(outputs: list[Path], out: Path, prov_out: Path, *, artifact: str, kind: str, rule: str, spec: dict,
         config: dict, log: Path, threads: int = 1) -> None:
    from erasure.report import provenance
    from erasure.report.targets import root_of
    from erasure.runtime import job

    with job(log, threads):
        record = provenance.build(artifact=artifact, kind=kind, outputs=outputs, config=config, spec=spec, rule=rule,
                                  root=root_of(out))
        provenance.write(out, record)
        provenance.write_prov(prov_out, record)
        print(f"{out}: {record['summary']['artifacts']} artifacts {record['summary']['by_stage']}")
        if record["summary"]["unrecorded"]:
            print(f"{out}: {len(record['summary']['unrecorded'])} file(s) under results/ without a job record "
                  "(made before jobs wrote records): the lineage stops at them")


if "snakemake" in globals():
    _sm = globals()["snakemake"]
    main([Path(p) for p in _sm.input.outputs], Path(_sm.output.json), Path(_sm.output.prov),
         artifact=_sm.params.artifact, kind=_sm.params.kind, rule=_sm.params.producer, spec=dict(_sm.params.spec),
         config=dict(_sm.params.config), log=Path(_sm.log[0]), threads=_sm.threads)
