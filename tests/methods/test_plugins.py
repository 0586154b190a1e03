"""Issue 34: a method from another installed package, registered under the entry-point group `erasure.methods`,
is usable in a config like a built-in one; a broken plug-in is one line naming its package and entry point.

The package is made visible the way an installed one is to importlib.metadata: its `*.dist-info` (METADATA,
entry_points.txt) beside its modules in a folder on PYTHONPATH — no pip install into the shared environment.
Everything runs in subprocesses, so the plug-ins never enter this process's method table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

SPEC_PY = '''
from dataclasses import dataclass
from typing import ClassVar

from erasure.errors import ErasureError
from erasure.methods.settings import MethodSettings, setting
from erasure.methods.specs import CLOSED_FORM, INFERENCE, MethodSpec


@dataclass(frozen=True)
class ScaleSettings(MethodSettings):
    LABEL: ClassVar[str] = "scale-v "
    scale: float = setting(0.5, "this plug-in: half of every cross-attention value projection", minimum=0)

    @classmethod
    def check_iterations(cls, iterations):
        if iterations != 1:
            raise ErasureError(f"iterations: {iterations}: a scale-v run is one edit")


@dataclass(frozen=True)
class NegSettings(MethodSettings):
    LABEL: ClassVar[str] = "neg-words "
    PREFIX: ClassVar[str] = ""
    suffix: str = setting(", triangular", "this plug-in: a word added to the negative prompt")


SCALE_V = MethodSpec("scale-v", CLOSED_FORM, "toy_erasure_plugin.edit:edit", subsets=("attn2-kv",),
                     deliverables=("model",), settings="toy_erasure_plugin.spec:ScaleSettings")
NEG = MethodSpec("neg-words", INFERENCE, "toy_erasure_plugin.neg:build", settings="toy_erasure_plugin.spec:NegSettings",
                 needs_concepts=True)
'''

EDIT_PY = '''
from erasure.methods.edit import Edit
from erasure.methods.uce import projection_modules


def edit(components, concepts, settings, preserve=()):
    modules = projection_modules(components["unet"])
    return [Edit({"unet": {n: m.weight.detach().cpu() * settings.scale for n, m in modules.items()
                           if n.endswith("to_v.weight")}})]
'''

NEG_PY = '''
def build(name, kind, base, concepts, settings):
    from erasure.generate.pipelines import MethodPipeline, concept_text

    return MethodPipeline(name, kind, base, negative_prompt=concept_text(concepts) + settings.suffix)
'''


def make_package(site: Path, dist: str, version: str, entry_points: dict[str, str], modules: dict[str, str]) -> Path:
    """A package in `site` as an installed one looks to importlib.metadata: modules + NAME-VERSION.dist-info."""
    for name, text in modules.items():
        path = site / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[erasure.methods]\n{lines}")
    return site


def good_site(tmp_path: Path) -> Path:
    return make_package(tmp_path / "site", "toy-erasure-plugin", "0.1.0",
                        {"scale-v": "toy_erasure_plugin.spec:SCALE_V", "neg-words": "toy_erasure_plugin.spec:NEG"},
                        {"toy_erasure_plugin/__init__.py": "", "toy_erasure_plugin/spec.py": SPEC_PY,
                         "toy_erasure_plugin/edit.py": EDIT_PY, "toy_erasure_plugin/neg.py": NEG_PY})


def env_with(site: Path) -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}


def python(site: Path, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=REPO,
                          env=env_with(site), timeout=300)


def plugin_config(base: dict | None = None) -> dict:
    """config/config.yaml cut to a fast DAG: the shipped base, one small prompt set, Table 1 with the two
    plug-in methods beside SD."""
    config = base or yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["runs"] = {"scale-triangle": {"method": "scale-v", "concepts": ["triangle"], "iterations": 1,
                                         "checkpoint_every": 1, "settings": {"scale": 0.25}}}
    config["inference_methods"] = {"sd": {"kind": "sd"}, "negw": {"kind": "neg-words", "concepts": ["triangle"]}}
    config["prompt_sets"] = {"body": {"source": "toy-body", "n_prompts": 5, "images_per_prompt": 1,
                                      "metrics": ["target"]}}
    config["generation"] = {**config["generation"], "every_method": [], "shard_size": 5, "batch_size": 5,
                            "sampling": {**config["generation"]["sampling"], "steps": 4}}
    config["metrics"] = {"target": config["metrics"]["target"]}
    config.pop("attacks", None)
    config["report"] = {"tables": {"table1": {
        "title": "plug-in", "methods": ["sd", "negw", "scale-triangle@1"],
        "columns": [{"promptset": "body", "metric": "target"}]}}}
    return config


def test_a_plugins_methods_join_the_table_and_validate_like_built_ins(tmp_path):
    site = good_site(tmp_path)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(plugin_config()))
    out = python(site, f'''
        import json, yaml
        from erasure.config import validate_config
        from erasure.errors import ErasureError
        from erasure.methods import specs
        c = yaml.safe_load(open({str(config)!r}))
        validate_config(c, "config/schema.yaml")
        c["runs"]["scale-triangle"]["settings"]["scale"] = -1
        try:
            validate_config(c, "config/schema.yaml", source="c.yaml")
        except ErasureError as e:
            bad = str(e)
        print(json.dumps({{"plugin": specs.get("scale-v").plugin, "neg": specs.get("neg-words").plugin,
                          "run_methods": specs.RUN_METHODS, "bad": bad}}))
    ''')
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.splitlines()[-1])
    assert got["plugin"] == ["toy-erasure-plugin", "0.1.0", "scale-v"]
    assert got["neg"] == ["toy-erasure-plugin", "0.1.0", "neg-words"]
    assert got["run_methods"][-1] == "scale-v"
    assert got["bad"] == "c.yaml: runs.scale-triangle: settings.scale: -1 must be >= 0"


BROKEN = [
    pytest.param({"gone": "toy_broken_gone.spec:SPEC"}, {},
                 "plug-in package toy-broken 2.0, entry point gone = toy_broken_gone.spec:SPEC (group erasure.methods): "
                 "cannot import: ModuleNotFoundError: No module named 'toy_broken_gone'", id="import-error"),
    pytest.param({"noclass": "toy_broken.spec:SPEC"},
                 {"toy_broken/__init__.py": "", "toy_broken/spec.py": SPEC_PY + (
                     "\nSPEC = MethodSpec('noclass', CLOSED_FORM, 'toy_broken.spec:Missing', deliverables=('model',),"
                     " settings='toy_broken.spec:ScaleSettings')\n")},
                 "plug-in package toy-broken 2.0, entry point noclass = toy_broken.spec:SPEC (group erasure.methods): "
                 "implementation 'toy_broken.spec:Missing': toy_broken.spec has no 'Missing'", id="missing-class"),
    pytest.param({"uce": "toy_broken.spec:SPEC"},
                 {"toy_broken/__init__.py": "", "toy_broken/spec.py": SPEC_PY + (
                     "\nSPEC = MethodSpec('uce', CLOSED_FORM, 'toy_broken.spec:ScaleSettings', deliverables=('model',),"
                     " settings='toy_broken.spec:ScaleSettings')\n")},
                 "plug-in package toy-broken 2.0, entry point uce = toy_broken.spec:SPEC (group erasure.methods): "
                 "method name 'uce' clashes with a built-in method", id="name-clash"),
    pytest.param({"notaspec": "toy_broken.spec:ScaleSettings"},
                 {"toy_broken/__init__.py": "", "toy_broken/spec.py": SPEC_PY},
                 "plug-in package toy-broken 2.0, entry point notaspec = toy_broken.spec:ScaleSettings (group "
                 "erasure.methods): is a type, not an erasure.methods.specs.MethodSpec", id="not-a-spec"),
]


@pytest.mark.parametrize("entry_points, modules, expected", BROKEN)
def test_a_broken_plugin_is_one_line_naming_package_and_entry_point(tmp_path, entry_points, modules, expected):
    site = make_package(tmp_path / "site", "toy-broken", "2.0", entry_points, modules)
    out = python(site, '''
        import yaml
        from erasure.config import validate_config
        from erasure.errors import ErasureError
        try:
            validate_config(yaml.safe_load(open("config/config.yaml")), "config/schema.yaml")
        except ErasureError as e:
            print("ERROR", e)
    ''')
    assert out.returncode == 0, out.stderr[-3000:]
    line = out.stdout.strip()
    assert "\n" not in line and line == f"ERROR {expected}", line


@pytest.mark.slow
def test_a_plugin_method_runs_through_table_1_and_provenance(tmp_path):
    """The plug-in's closed-form edit is run, its checkpoint loaded by `{run}@{step}`, its images and the
    plug-in inference method's generated and scored, both in Table 1; provenance names the package."""
    site = good_site(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    config = work / "plugin.yaml"
    config.write_text(yaml.safe_dump(plugin_config()))
    out = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(work),
                          "--configfile", str(config), "--cores", "2"], capture_output=True, text=True,
                         env=env_with(site), timeout=1500)
    assert out.returncode == 0, out.stderr[-5000:]
    import pandas as pd

    world = work / "results" / "toy"
    table = pd.read_csv(world / "tables" / "table1.csv")
    assert set(table["method"]) == {"sd", "negw", "scale-triangle@1"}
    assert table["mean"].notna().all()
    meta = json.loads((world / "models" / "scale-triangle" / "run.json").read_text())
    assert meta["method"] == "scale-v" and meta["settings"] == {"scale": 0.25}
    text = (world / "provenance" / "table1.json").read_text()
    plugin = {"package": "toy-erasure-plugin", "version": "0.1.0"}
    assert json.dumps({**plugin, "entry_point": "scale-v"}, sort_keys=True)[1:-1] in json.dumps(json.loads(text), sort_keys=True)
    assert json.dumps({**plugin, "entry_point": "neg-words"}, sort_keys=True)[1:-1] in json.dumps(json.loads(text), sort_keys=True)
