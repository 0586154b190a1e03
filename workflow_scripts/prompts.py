"""Snakemake shim for the `prompts` rule: one prompt set -> the normalised prompt table.

    input.source   the upstream file (fetched or shipped) for file-backed sources; absent for sets a world generates
    output[0]      results/{world}/prompts/{promptset}.csv
    params         name, spec (config prompt_sets.<name>), guidance (resolved CFG scale)
    log[0], threads
"""

from pathlib import Path


def main(out: Path, log_file: Path | None = None, *, name: str, spec: dict, guidance: float,
         source_file: Path | None = None, threads: int = 1) -> None:
    from erasure.runtime import job

    with job(log_file, threads):
        from erasure.generate.pipelines import resolve_concepts
        from erasure.prompts import build_prompt_table, write_table
        from erasure.prompts.sources import local_file_label

        concepts = resolve_concepts(spec["concepts"]) if spec.get("concepts") else None
        where = local_file_label(name, spec, source_file) if source_file else None  # errors name the config key
        table = build_prompt_table(name, spec, guidance=guidance, source_file=source_file, concepts=concepts,
                                   where=where)
        write_table(table, out)
        print(f"{name}: {len(table)} prompts -> {out}")


if "snakemake" in globals():  # Snakemake runs the file with __name__ == "__main__"
    _sm = globals()["snakemake"]
    main(Path(_sm.output[0]), Path(_sm.log[0]), name=_sm.params.name, spec=dict(_sm.params.spec),
         guidance=float(_sm.params.guidance),
         source_file=Path(_sm.input.source) if "source" in _sm.input.keys() else None, threads=_sm.threads)
