"""Prompt sets: readers for the upstream files and the worlds' generated sets, normalised to one validated table
(prompt_id, prompt, seed, guidance + metadata). Names load lazily (the workflow plans without pandas)."""

from importlib import import_module

_EXPORTS = {
    "fetch_source": "fetch", "SOURCES": "sources", "build_prompt_table": "sources", "source_of": "sources",
    "COLUMNS": "table", "image_seeds": "table", "read_table": "table", "validate_table": "table",
    "write_table": "table", "prompt_source": "paths", "SOURCE_FILES": "kinds",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f"erasure.prompts.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'erasure.prompts' has no attribute {name!r}")
