"""Snakemake shim for the `fetch_prompts` rule: an upstream prompt file we do not ship, from the
configured local `path` or downloaded from `url`, checked against the pinned `sha256`.

    input.path  the configured local copy, if any and present (an input, so that editing it refreshes the copy)
    output[0]   results/{world}/prompts/sources/{promptset}.csv
    params      name, url (None where a local copy is given), sha256, path (the configured copy, present or
                not: a missing one is the job's one-line error naming prompt_sets.<set>.path)
"""

from pathlib import Path


def main(out: Path, log_file: Path | None = None, *, name: str, url: str | None, sha256: str | None,
         path: str | None) -> None:
    from erasure.runtime import job

    with job(log_file):
        from erasure.io import sha256_file
        from erasure.prompts import fetch_source

        fetch_source(out, name=name, url=url, sha256=sha256, path=path)
        print(f"{name}: {path or url} -> {out} (sha256 {sha256_file(out)})")


if "snakemake" in globals():
    _sm = globals()["snakemake"]
    main(Path(_sm.output[0]), Path(_sm.log[0]), name=_sm.params.name, url=_sm.params.url,
         sha256=_sm.params.sha256,
         path=_sm.input.path if "path" in _sm.input.keys() else _sm.params.path)
