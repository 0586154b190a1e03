"""Prompt-set sources: what each `prompt_sets.*.source` needs and how it becomes a normalised table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from erasure.errors import ErasureError
from erasure.prompts import readers
from erasure.prompts.kinds import SOURCE_FILES
from erasure.prompts.table import check_counts, validate_table
from erasure.worlds import prompt_builder, prompt_sources


@dataclass(frozen=True)
class Source:
    name: str
    build: Callable[..., pd.DataFrame]
    file: str  # "fetched": url / path in the config; "shipped": a file under config/prompts/; "none": generated
    shipped: str | None = None  # file name under config/prompts/ for shipped sources


_BUILDERS = {"country-body": readers.read_country_body, "coco30k": readers.read_coco, "i2p": readers.read_i2p,
             "coco-captions": readers.read_coco_captions,
             "artists": readers.read_artists, "unlearndiffatk-nudity": readers.read_unlearndiffatk,
             "salun-forget": readers.read_lines, "salun-retain": readers.read_lines,
             **{name: prompt_builder(name) for name in prompt_sources()}}
SOURCES: dict[str, Source] = {
    name: Source(name, _BUILDERS[name], file, shipped) for name, (file, shipped) in SOURCE_FILES.items()
}


def source_of(spec: Mapping, name: str) -> Source:
    try:
        return SOURCES[spec["source"]]
    except KeyError:
        raise ErasureError(
            f"prompt_sets.{name}.source: unknown source {spec.get('source')!r} (known: {', '.join(SOURCES)})"
        ) from None


def build_prompt_table(name: str, spec: Mapping, *, guidance: float, source_file: str | Path | None = None,
                       concepts=None, where: str | None = None) -> pd.DataFrame:
    """The normalised, validated table of prompt set `name` (config `spec`), checked against n_prompts.

    `source_file` is the upstream file (fetched or shipped) for file-backed sources; `concepts` is the
    resolved concept list for a generated set that names them; `where` names the file in errors (default
    `source_file`: the workflow names the config key and the user's own file, not a copy under results/).
    Raises ErasureError (one line) for a file that is not of its source, an empty prompt, a count other than
    n_prompts."""
    source = source_of(spec, name)
    seed = int(spec.get("seed", 0))
    if source.file == "none":
        options = {"exclude": spec.get("exclude", ()), "concepts": concepts or ()}
        table = source.build(n_prompts=int(spec["n_prompts"]), seed=seed, guidance=guidance, **options)
        where = f"prompt set {name} ({source.name})"
    else:
        if source_file is None:
            raise ErasureError(f"prompt_sets.{name}: source {source.name} needs a prompt file")
        options = {"artists": spec["artists"]} if spec.get("artists") else {}
        table = source.build(Path(source_file), seed=seed, guidance=guidance, where=where or str(source_file),
                             **options)
        where = where or str(source_file)
    table = validate_table(table, where)
    check_counts(table, n_prompts=spec["n_prompts"], where=where if where.startswith("prompt_sets.")
                 else f"prompt_sets.{name} ({where})")
    return table


def local_file_label(name: str, spec: Mapping, file: str | Path) -> str:
    """How errors name a prompt set's file: its config key and the file as the user wrote it (`path`; not the
    working-directory-relative form the DAG records, erasure.external_inputs.dag_path), else `file`."""
    return f"prompt_sets.{name}.path {spec['path']}" if spec.get("path") else f"prompt_sets.{name} ({file})"
