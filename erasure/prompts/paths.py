"""Where a fetched upstream prompt file is kept (results/{world}/prompts/sources/{promptset}.csv).

TODO(lead): belongs in erasure.paths (as `prompt_source`); kept here until the contract names it."""

from __future__ import annotations

from pathlib import Path

from erasure import paths


def prompt_source(root, world: str, promptset: str) -> Path:
    return paths.prompt_table(root, world, promptset).parent / "sources" / f"{promptset}.csv"
