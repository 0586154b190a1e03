"""What file each prompt-set source needs (no heavy imports: rules/generate.smk reads this while planning).

"fetched": an upstream file from `url` / `path` in the config; "shipped": a file under config/prompts/;
"none": generated from the toy vocabulary."""

from __future__ import annotations

from collections.abc import Mapping

from erasure.errors import ErasureError

SOURCE_FILES: dict[str, tuple[str, str | None]] = {
    "country-body": ("shipped", "country_body.txt"),
    "coco30k": ("fetched", None),
    "i2p": ("fetched", None),
    "artists": ("fetched", None),
    "toy-body": ("none", None),
    "toy-coco": ("none", None),
    "toy-i2p": ("none", None),
    "toy-artists": ("none", None),
}


def source_file_kind(spec: Mapping, name: str) -> tuple[str, str | None]:
    try:
        return SOURCE_FILES[spec["source"]]
    except KeyError:
        raise ErasureError(
            f"prompt_sets.{name}.source: unknown source {spec.get('source')!r} (known: {', '.join(SOURCE_FILES)})"
        ) from None
