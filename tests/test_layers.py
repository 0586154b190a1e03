"""The layer order of docs/architecture.md, enforced by import-linter's contract in pyproject.toml: a module
imports only from the layers below its own (function-local imports count; TYPE_CHECKING ones do not)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
               "sys.exit(lint_imports_command())", "--no-cache"]
    return subprocess.run(command, cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True,
                          text=True, timeout=300)


def test_the_layer_contract_is_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(r"erasure layers \(docs/architecture.md\) KEPT", result.stdout)


def test_the_layer_order_is_the_one_docs_architecture_md_writes():
    """The contract and the page list the same layers, top to bottom."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    contract = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    page = (ROOT / "docs" / "architecture.md").read_text().split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = [re.match(r"^\| \d+ \| (.+?) \| [^|]*\|\s*$", line) for line in page.splitlines()]
    written = [re.sub(r"[`\\\s]", "", row[1]) for row in rows if row]
    assert written == [layer.replace(" ", "") for layer in contract["layers"]]


def test_an_upward_import_breaks_the_contract(tmp_path):
    """A low module importing a high one (io -> report) is named, with its line."""
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "erasure", copy / "erasure", ignore=shutil.ignore_patterns("__pycache__", "assets"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    io = copy / "erasure" / "io.py"
    io.write_text(io.read_text() + "\n\ndef _upward():\n    from erasure.report import tables  # noqa: F401\n")
    result = lint_imports(copy)
    assert result.returncode == 1
    assert "erasure.io is not allowed to import erasure.report" in result.stdout
    assert "erasure.io -> erasure.report.tables" in result.stdout
