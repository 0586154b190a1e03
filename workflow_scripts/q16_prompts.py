"""Snakemake shim: Q16's prompt embeddings from a local copy of the upstream pickle or its pinned URL."""

from pathlib import Path

from erasure.metrics import q16


def main(out: Path, *, source: str) -> None:
    if source and not source.startswith(("http://", "https://")):
        q16.convert(Path(source).expanduser(), out, expected_sha256=q16.Q16_PROMPTS_SHA256)
    else:
        q16.fetch(out, url=source or q16.Q16_PROMPTS_URL, expected_sha256=q16.Q16_PROMPTS_SHA256)


if "snakemake" in globals():
    _sm = globals()["snakemake"]
    main(Path(_sm.output[0]), **_sm.params)
