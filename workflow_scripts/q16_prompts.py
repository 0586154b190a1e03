"""Snakemake shim: Q16's prompt embeddings from a local copy of the upstream pickle or its pinned URL,
sha256-checked before anything is unpickled, converted once to safetensors.

    input.source   a local copy of prompts.p (metrics.harm.q16_source naming a file), if any
    output[0]      the converted .safetensors
    params.url     else the URL to fetch it from (empty: ml-research/Q16's pinned URL)
    log[0]
"""

from pathlib import Path


def main(out: Path, log_file: Path | None = None, *, source: str) -> None:
    from erasure.runtime import job
    from erasure.metrics import q16

    with job(log_file):
        if source and not source.startswith(("http://", "https://")):
            q16.convert(Path(source).expanduser(), out, expected_sha256=q16.Q16_PROMPTS_SHA256)
        else:
            q16.fetch(out, url=source or q16.Q16_PROMPTS_URL, expected_sha256=q16.Q16_PROMPTS_SHA256)
        print(f"Q16 prompts: {source or q16.Q16_PROMPTS_URL} -> {out}")


if "snakemake" in globals():
    _sm = globals()["snakemake"]
    main(Path(_sm.output[0]), Path(_sm.log[0]) if _sm.log else None,
         source=_sm.input.source if "source" in _sm.input.keys() else _sm.params.url)
