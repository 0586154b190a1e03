"""The world boundary (erasure.worlds): nothing outside erasure/worlds/ imports a world's package or branches on
a world's name; the generic layers reach a world only through the interface, so a new family is one module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from erasure import external_inputs, worlds
from erasure.errors import ErasureError

ROOT = Path(__file__).resolve().parents[1]
WORLDS = ROOT / "erasure" / "worlds"


def _python_outside_worlds() -> list[Path]:
    files = [p for p in (ROOT / "erasure").rglob("*.py") if WORLDS not in p.parents]
    return sorted(files + list((ROOT / "workflow_scripts").glob("*.py")))


def _workflow_files() -> list[Path]:
    return sorted([ROOT / "Snakefile", *(ROOT / "rules").glob("*.smk")])


def _world_packages() -> list[str]:
    return sorted(p.name for p in WORLDS.iterdir() if (p / "__init__.py").is_file())


def world_imports(tree: ast.AST, packages: list[str]) -> list[tuple[int, str]]:
    """(line, module) of every import of erasure.worlds.<package> (any form, dynamic ones as string constants)."""
    found = []
    prefixes = tuple(f"erasure.worlds.{p}" for p in packages)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith(prefixes)]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith(prefixes):
                found.append((node.lineno, node.module))
            elif node.module == "erasure.worlds":
                found += [(node.lineno, f"erasure.worlds.{a.name}") for a in node.names if a.name in packages]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(prefixes):
            found.append((node.lineno, node.value))
    return found


def name_branches(tree: ast.AST, names: list[str]) -> list[int]:
    """Lines comparing something with a world's name or base-model prefix (`x == "toy"`, `s.startswith("toy:")`,
    `x in ("toy", ...)`)."""
    def names_world(node) -> bool:
        values = [node] if isinstance(node, ast.Constant) else list(getattr(node, "elts", []))
        return any(isinstance(v, ast.Constant) and isinstance(v.value, str)
                   and (v.value in names or v.value.split(":")[0] in names and ":" in v.value) for v in values)

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(names_world(c) for c in [node.left, *node.comparators]):
            lines.append(node.lineno)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in ("startswith", "endswith") and node.args and names_world(node.args[0])):
            lines.append(node.lineno)
    return lines


def test_no_module_outside_the_worlds_imports_a_world_package():
    packages = _world_packages()
    assert "toy" in packages
    offenders = {str(p.relative_to(ROOT)): hits for p in _python_outside_worlds()
                 if (hits := world_imports(ast.parse(p.read_text(), str(p)), packages))}
    assert offenders == {}


def test_no_rule_file_imports_a_world_package_or_branches_on_a_world_name():
    pattern = re.compile(r"erasure\.worlds\.(%s)\b|from erasure\.worlds import [^\n]*\b(%s)\b|"
                         r"""[!=]=\s*["'](%s)(:[^"']*)?["']|\.startswith\(["'](%s):"""
                         % (("|".join(_world_packages()),) * 4))
    offenders = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in _workflow_files()
                 for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line.split("#")[0])]
    assert offenders == []


def test_no_module_outside_the_worlds_branches_on_a_world_name():
    # the default family's name ("sd") is also the reference METHOD's name: only the others are world-only words
    names = [w.name for w in worlds.worlds()[:-1]]
    offenders = {str(p.relative_to(ROOT)): lines for p in _python_outside_worlds()
                 if (lines := name_branches(ast.parse(p.read_text(), str(p)), names))}
    assert offenders == {}


def test_the_checks_catch_what_they_look_for():
    """The example of the issue (methods/concepts.py's `from erasure.worlds.toy.vocab import ...`) and another
    instance found here (models.py's `if source == "toy:shipped"`), as they were, are caught."""
    before = ast.parse("def f(source):\n    from erasure.worlds.toy.vocab import SHAPES\n"
                       "    import erasure.worlds.toy.assets\n    from erasure.worlds import toy\n"
                       "    if source == 'toy:shipped' or world != 'toy' or x.startswith('toy:'):\n        pass\n")
    assert [line for line, _ in world_imports(before, ["toy"])] == [2, 3, 4]
    assert set(name_branches(before, ["toy"])) == {5}
    clean = ast.parse("from erasure.worlds import get_world\nif get_world(w).scorers_read_base:\n    label = 'toy-clip'\n")
    assert world_imports(clean, ["toy"]) == [] and name_branches(clean, ["toy"]) == []


# --- the interface ----------------------------------------------------------------------------------------

def test_base_models_resolve_to_their_family():
    assert worlds.world_for("toy:shipped").name == "toy"
    assert worlds.world_for("toy:trained").name == "toy"
    assert worlds.world_for("CompVis/stable-diffusion-v1-4").name == "sd"
    assert worlds.world_for("/some/local/dir").name == "sd"
    assert worlds.get_world("toy").name == "toy"
    assert worlds.get_world("sd-2").name == "sd"  # a user's own results folder name: the default family


def test_toy_world_paths_and_errors(tmp_path):
    toy = worlds.get_world("toy")
    assert toy.base_files("toy:trained", tmp_path) == [tmp_path / "toy" / "base"]
    assert toy.base_files("toy:shipped")[0].name == "SHA256SUMS"
    assert toy.backbone_dir("toy:trained", "oracle", tmp_path) == str(tmp_path / "toy" / "base" / "oracle")
    with pytest.raises(ErasureError, match="no trained toy base here"):
        toy.pipeline_source("toy:trained", tmp_path)
    with pytest.raises(ErasureError, match="toy:nonsense"):
        toy.base_files("toy:nonsense", tmp_path)
    with pytest.raises(ErasureError, match="ships no scorer backbones"):
        worlds.get_world("sd").backbone_dir("CompVis/stable-diffusion-v1-4", "oracle")


def test_job_resources_are_the_worlds_not_the_rules():
    """The numbers the rules' ternaries held before (rules/*.smk, main at 2e28391)."""
    toy, sd = worlds.get_world("toy").resources, worlds.get_world("sd").resources
    assert (toy["erase"].minutes(1000), toy["generate"].minutes(100), toy["score"].minutes(5000)) == (30, 30, 60)
    assert (sd["erase"].minutes(1500), sd["generate"].minutes(100), sd["score"].minutes(5000)) == (210, 35, 143)
    assert (toy["edit"].minutes(), sd["edit"].minutes(), toy["edit"].mem_mb, sd["edit"].mem_mb) == (15, 60, 4000, 24000)
    assert [r.mem_mb for r in toy.values()] == [4000] * 5 and [sd[k].mem_mb for k in ("erase", "generate", "score")] == [48000, 24000, 16000]
    assert (toy["score"].gpu, sd["score"].gpu) == (False, True)


def test_the_union_of_worlds_feeds_the_generic_layers():
    from erasure.methods.concepts import resolve_concepts
    from erasure.prompts.kinds import source_file_kind

    assert resolve_concepts(["triangle", "nudity"]) == ["a triangle", "nudity"]
    assert source_file_kind({"source": "toy-coco"}, "coco") == ("none", None)
    assert worlds.parse_prompt("a red striped circle") == {"colour": "red", "fill": "striped", "shape": "circle"}
    assert worlds.scorer("target").__name__ == "score_target"
    with pytest.raises(ErasureError, match="no world implements"):
        worlds.scorer("nude")


class _XLWorld(worlds.World):
    """A new world (a base from elsewhere): only this class and a line in WORLDS."""

    def claims(self, base_model):
        return base_model.startswith("xl:")

    def pipeline_source(self, base_model, results_root="results"):
        return str(Path(results_root) / "xl" / base_model[3:])

    def base_files(self, base_model, results_root="results", built=()):
        return [Path(results_root) / "xl" / base_model[3:] / "model_index.json"]

    def concept_sets(self):
        return {"xl-cat": ("a cat",)}


XL = _XLWorld(name="xl", resources=worlds.get_world("sd").resources)


def test_a_new_world_is_reached_by_the_generic_layers_unchanged(monkeypatch, tmp_path):
    import sys

    module = type(sys)("xl_world_for_test")
    module.WORLD = XL
    monkeypatch.setitem(sys.modules, "xl_world_for_test", module)
    monkeypatch.setattr(worlds, "WORLDS", ("xl_world_for_test:WORLD", *worlds.WORLDS))
    assert worlds.world_for("xl:base").name == "xl" and worlds.world_for("toy:shipped").name == "toy"
    # DAG inputs and provenance pin the base through external_inputs.base_model_files
    assert external_inputs.base_model_files("xl:base", tmp_path) == [tmp_path / "xl" / "base" / "model_index.json"]
    from erasure.methods.concepts import resolve_concepts

    assert resolve_concepts("xl-cat") == ["a cat"]
