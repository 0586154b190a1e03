"""Every `erasure` import in the repository's Python files resolves: a module moved or renamed must take its
importers along, including files no fast test imports (bench/, experiments/, workflow_scripts/). Stop 26's CI
failed on one such import (bench/scorers.py: `from erasure.metrics import toy` after #18 moved it)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("erasure", "bench", "experiments", "workflow_scripts", "tests")


def _erasure_imports():
    for folder in FOLDERS:
        for file in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(file.read_text(), filename=str(file))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "erasure":
                    for alias in node.names:
                        yield file, node.lineno, node.module, alias.name
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name.split(".")[0] == "erasure":
                            yield file, node.lineno, alias.name, None


def _resolves(module: str, name: str | None) -> bool:
    try:
        found = importlib.import_module(module)
    except ImportError:
        return False
    if name is None or name == "*" or hasattr(found, name):
        return True
    try:
        importlib.import_module(f"{module}.{name}")
        return True
    except ImportError:
        return False


def test_every_erasure_import_in_the_repository_resolves():
    imports = list(_erasure_imports())
    assert len(imports) > 200  # the walk found the repository's imports
    broken = [f"{file.relative_to(ROOT)}:{line}: {module}{'' if name is None else ' -> ' + name}"
              for file, line, module, name in imports if not _resolves(module, name)]
    assert not broken, broken


def test_a_moved_module_is_caught(tmp_path):
    """The check itself: the import stop 26 shipped does not resolve."""
    assert not _resolves("erasure.metrics", "toy")
    assert _resolves("erasure.worlds.toy", "scorers")
    with pytest.raises(ImportError):
        importlib.import_module("erasure.metrics.toy")
