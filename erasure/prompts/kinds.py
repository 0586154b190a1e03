"""What file each prompt-set source needs (no heavy imports: rules/generate.smk reads this while planning).

"fetched": an upstream file from `url` / `path` in the config; "shipped": a file under config/prompts/;
"none": generated from a world's vocabulary (erasure.worlds.prompt_sources)."""

from __future__ import annotations

from collections.abc import Mapping

from erasure.errors import ErasureError
from erasure.worlds import prompt_sources

SOURCE_FILES: dict[str, tuple[str, str | None]] = {
    "country-body": ("shipped", "country_body.txt"),
    "coco30k": ("fetched", None),
    "coco-captions": ("fetched", None),  # COCO-2014 caption annotations: MACE's prior cache (readers.py)
    "i2p": ("fetched", None),
    "artists": ("fetched", None),
    "unlearndiffatk-nudity": ("fetched", None),
    "salun-forget": ("shipped", "salun_forget.txt"),   # SalUn's D_f / D_r prompts (erasure.methods.salun)
    "salun-retain": ("shipped", "salun_retain.txt"),
    **{name: ("none", None) for name in prompt_sources()},
}


def source_file_kind(spec: Mapping, name: str) -> tuple[str, str | None]:
    try:
        return SOURCE_FILES[spec["source"]]
    except KeyError:
        raise ErasureError(
            f"prompt_sets.{name}.source: unknown source {spec.get('source')!r} (known: {', '.join(SOURCE_FILES)})"
        ) from None


# What a prompt table is made of (erasure.prompts.sources.build_prompt_table, workflow_scripts/prompts.py). The
# rest of a prompt-set entry feeds other rules: metrics and metric_settings scoring, images_per_prompt and
# sampling generation (guidance reaches the table resolved, as its own param), url / sha256 / path the upstream
# file (an input). Kept to these keys, the `prompts` rule reruns only when its table would change.
TABLE_KEYS = ("source", "n_prompts", "seed", "exclude", "concepts", "artists")


def table_spec(spec: Mapping) -> dict:
    """The keys of a prompt_sets entry that its prompt table depends on."""
    return {key: spec[key] for key in TABLE_KEYS if key in spec}
