"""Prompt sets: readers for the upstream files and the toy analogues, normalised to one validated table
(prompt_id, prompt, seed, guidance + metadata)."""

from erasure.prompts.fetch import fetch_source
from erasure.prompts.sources import SOURCES, build_prompt_table, source_of
from erasure.prompts.table import COLUMNS, image_seeds, read_table, validate_table, write_table

__all__ = ["COLUMNS", "SOURCES", "build_prompt_table", "fetch_source", "image_seeds", "read_table", "source_of",
           "validate_table", "write_table"]
