"""The per-rule-family conda envs (envs/*.yaml) agree with the package's own pins (pyproject.toml).

Conda cannot be installed where CI runs, so the envs are checked statically here and created on real
clusters (`snakemake --sdm conda`). Checked:
- every env pins python and nothing else at the conda level, and every pip requirement is `name==version`
  with exactly the version pyproject.toml's [project] dependencies pin;
- every rule of the workflow that runs code names one of these envs (`conda:`);
- every third-party module a rule's script imports (directly, or at module level of the erasure modules
  it imports) comes from a distribution the rule's env installs, or from one of their dependencies.
"""

from __future__ import annotations

import ast
import re
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
ENVS = ROOT / "envs"
FAMILIES = ("train", "generate", "score-nudenet", "score-clip", "report", "toy")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def pyproject_pins() -> dict[str, str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {}
    for dep in deps:
        m = PIN.match(dep.strip())
        assert m, f"pyproject.toml: dependency {dep!r} is not pinned as name==version"
        pins[canonical(m[1])] = m[2]
    return pins


def env_files() -> list[Path]:
    return sorted(ENVS.glob("*.yaml"))


def read_env(path: Path) -> tuple[list[str], list[str]]:
    """(conda-level specs, pip requirements) of one env file."""
    env = yaml.safe_load(path.read_text())
    assert isinstance(env, dict) and "dependencies" in env, f"{path}: no dependencies"
    conda, pip = [], []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            assert set(dep) == {"pip"}, f"{path}: unexpected mapping {dep}"
            pip.extend(dep["pip"])
        else:
            conda.append(str(dep))
    return conda, pip


def env_pins(path: Path) -> dict[str, str]:
    return {canonical(PIN.match(r)[1]): PIN.match(r)[2] for r in read_env(path)[1] if PIN.match(r)}


def test_one_env_per_rule_family():
    assert {p.stem for p in env_files()} >= set(FAMILIES)


@pytest.mark.parametrize("path", env_files(), ids=lambda p: p.name)
def test_env_pins_agree_with_pyproject(path):
    env = yaml.safe_load(path.read_text())
    assert env.get("channels", [])[:1] == ["conda-forge"], (
        f"{path.name}: conda-forge must be the first channel"
    )
    conda, pip = read_env(path)
    # Conda level: only the interpreter (pinned) and pip. Everything else comes through pip, so the exact
    # wheels pyproject.toml pins are what the env gets (no conda-forge repackaging of the same names).
    names = {re.split(r"[=<>!~ ]", spec, maxsplit=1)[0] for spec in conda}
    assert names <= {"python", "pip"}, f"{path.name}: conda-level packages {names - {'python', 'pip'}}"
    python = [s for s in conda if s.startswith("python")]
    assert python and re.fullmatch(r"python=3\.\d+(\.\*)?", python[0]), f"{path.name}: pin python=3.X"
    assert pip, f"{path.name}: no pip requirements"
    pins = pyproject_pins()
    for req in pip:
        m = PIN.match(req)
        assert m, f"{path.name}: pip requirement {req!r} is not pinned as name==version"
        name = canonical(m[1])
        assert name in pins, f"{path.name}: {m[1]} is not a dependency in pyproject.toml"
        assert m[2] == pins[name], f"{path.name}: {m[1]}=={m[2]} but pyproject.toml pins {pins[name]}"
    assert len({canonical(PIN.match(r)[1]) for r in pip}) == len(pip), f"{path.name}: duplicate requirement"


def test_pin_check_catches_a_mismatch(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("channels: [conda-forge]\ndependencies:\n  - python=3.11\n  - pip:\n    - numpy==0.0.1\n")
    with pytest.raises(AssertionError, match="pyproject.toml pins"):
        test_env_pins_agree_with_pyproject(bad)


# --- the workflow's rules use these envs, and the envs hold what their scripts import ------------------

needs_snakefile = pytest.mark.skipif(not (ROOT / "Snakefile").exists(), reason="no Snakefile yet")


@cache
def workflow_rules() -> list:
    """The workflow's rules, parsed by Snakemake itself (default config, 1 core, nothing executed)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings, StorageSettings

    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        wf = api.workflow(
            snakefile=ROOT / "Snakefile",
            workdir=ROOT,
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(),
            storage_settings=StorageSettings(),
        )._workflow

        def resolve(path, rule):  # conda:/script: paths are relative to the file that defines the rule
            if not path:
                return None
            path = Path(str(path))
            return path if path.is_absolute() else (Path(rule.snakefile).parent / path).resolve()

        return [
            (
                rule.name,
                resolve(rule.conda_env, rule),
                resolve(rule.script, rule),
                not rule.norun,  # shell, run, script, wrapper or notebook: something executes
            )
            for rule in wf.rules
        ]


def code_rules():
    return [r for r in workflow_rules() if r[3] and r[0] != "all" and (r[2] or r[1])]


@needs_snakefile
def test_every_rule_that_runs_code_has_a_conda_env():
    missing = []
    for name, conda_env, _script, runs_code in workflow_rules():
        if not runs_code:  # target rules (all, images): inputs only, nothing to run in an env
            continue
        if not conda_env:
            missing.append(name)
            continue
        assert conda_env.parent == ENVS and conda_env.exists(), (
            f"rule {name}: conda env {conda_env} not in envs/"
        )
    assert not missing, f"rules without `conda:`: {missing}"


def stdlib(module: str) -> bool:
    return module in sys.stdlib_module_names or module == "__future__"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path, *, module_level_only: bool) -> set[str]:
    """Dotted module names imported by a file (all imports, or only those executed at import time)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    if module_level_only:
        nodes, stack = [], list(tree.body)
        while stack:  # module-level statements, including those inside if/try blocks
            node = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if isinstance(node, ast.If) and _is_type_checking(node.test):  # never executed at run time
                stack.extend(node.orelse)
                continue
            nodes.append(node)
            stack.extend(n for n in ast.iter_child_nodes(node) if isinstance(n, ast.stmt))
    else:
        nodes = list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def erasure_file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def third_party_imports(script: Path) -> set[str]:
    """Top-level third-party modules the script needs: its own imports (any depth: shims import inside
    main()), then the module-level imports of each erasure module reached, transitively."""
    todo = [(script, False)]
    seen, external = set(), set()
    while todo:
        path, module_level = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in imports_of(path, module_level_only=module_level):
            top = module.split(".")[0]
            if top == "erasure":
                parts = module.split(".")
                for i in range(1, len(parts) + 1):  # erasure, erasure.x, erasure.x.y: each is executed
                    f = erasure_file(".".join(parts[:i]))
                    if f is not None:
                        todo.append((f, True))
            elif not stdlib(top) and top != "snakemake":  # the script preamble provides snakemake
                external.add(top)
    return external


@cache
def requirement_closure(dists: frozenset[str]) -> frozenset[str]:
    """The env's distributions plus everything they require (as installed on this machine)."""
    from packaging.requirements import Requirement

    todo, closure = list(dists), set()
    while todo:
        name = canonical(todo.pop())
        if name in closure:
            continue
        closure.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for spec in requires:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return frozenset(closure)


@needs_snakefile
def test_each_env_provides_what_its_rules_import():
    providers = {mod: {canonical(d) for d in ds} for mod, ds in metadata.packages_distributions().items()}
    problems = []
    for name, conda_env, script, _ in code_rules():
        if not (script and conda_env) or not str(script).endswith(".py"):
            continue
        script_path, env_path = script, conda_env
        if not script_path.exists():
            continue  # the script is not written yet; the rules' own tests catch that
        closure = requirement_closure(frozenset(env_pins(env_path)))
        for module in sorted(third_party_imports(script_path)):
            dists = providers.get(module)
            if not dists:
                problems.append(f"rule {name}: {module} is not installed here, cannot check")
            elif not dists & closure:
                problems.append(
                    f"rule {name} ({script_path.name}) imports {module} ({'/'.join(sorted(dists))}),"
                    f" which envs/{env_path.name} does not install"
                )
    assert not problems, "\n".join(problems)
