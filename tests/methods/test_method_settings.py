"""Issue 34: every method's settings are one torch-free dataclass its spec names, and config validation resolves
EVERY run with it — fine-tuning, closed-form and inference-time — before any job, one line naming the run, key
and value. The schema carries no method's keys; no method name is a branch outside its own module."""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from erasure.config import validate_config
from erasure.errors import ErasureError
from erasure.methods import specs
from erasure.methods.settings import MethodSettings, resolve_inference, resolve_run

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "config" / "schema.yaml"


def _config():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def _set(*keys, value):
    def mutate(config):
        node = config
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return mutate


# (mutation of config/config.yaml, the one line expected): the UCE `lr`, then other instances of the
# kind — a setting the schema's flat union let through for a method that has no such setting, or a value the
# job would have refused after queueing
BAD = [
    pytest.param(_set("runs", "uce-triangle", "settings", "lr", value=1.0e-3),
                 "runs.uce-triangle: settings.lr: unknown UCE setting (given 0.001; known: lamb, erase_scale",
                 id="uce-lr"),
    pytest.param(_set("inference_methods", "sd-neg", "sld_threshold", value=0.5),
                 "inference_methods.sd-neg.sld_threshold: unknown SD+NEG setting (given 0.5; known: none)",
                 id="sd-neg-sld-key"),
    pytest.param(_set("inference_methods", "sega", "sld_guidance_scale", value=10),
                 "inference_methods.sega.sld_guidance_scale: unknown SEGA setting (given 10; known: edit_guidance_scale",
                 id="sega-sld-key"),
    pytest.param(_set("runs", "esd-u-triangle", "settings", "trainable", value="attn2-kv"),
                 "runs.esd-u-triangle: settings.trainable: 'attn2-kv' is not a parameter subset of method 'esd-u'",
                 id="esd-trainable-choice"),
    pytest.param(_set("runs", "sdd-triangle", "settings", "warmup_steps", value=2.5),
                 "runs.sdd-triangle: settings.warmup_steps: 2.5 is not an integer", id="wrong-type"),
    pytest.param(_set("runs", "rece-triangle", "settings", "mode", value="greedy"),
                 "runs.rece-triangle: settings.mode: 'greedy' is not one of sequential, cumulative", id="rece-mode"),
    pytest.param(_set("runs", "uce-triangle", "iterations", value=3),
                 "runs.uce-triangle: iterations: 3: a uce run is one edit", id="uce-iterations"),
    pytest.param(_set("inference_methods", "sld-max", "preset", value="strong"),
                 "inference_methods.sld-max.preset: 'strong': unknown SLD preset (known: medium, max)",
                 id="sld-preset"),
    pytest.param(_set("inference_methods", "sega", "preset", value="max"),
                 "inference_methods.sega.preset: 'max': kind sega has no presets", id="sega-preset"),
    pytest.param(_set("runs", "uce-triangle", "preset", value="esd"),
                 "runs.uce-triangle: preset 'esd': unknown UCE preset (known: paper, current)", id="uce-preset"),
    pytest.param(_set("runs", "uce-triangle", "settings", "preserve", value="tirangle"),
                 "runs.uce-triangle: settings.preserve: unknown concept set 'tirangle'", id="uce-preserve"),
    pytest.param(_set("runs", "uce-triangle", "method", value="ucee"),
                 "runs.uce-triangle.method: 'ucee': unknown (known: sdd, sdd+retain, esd-x, esd-u",
                 id="unknown-method"),
]


@pytest.mark.parametrize("mutate, expected", BAD)
def test_every_kind_of_run_is_checked_at_config_time(mutate, expected):
    config = _config()
    assert "rece-triangle" in config["runs"]
    mutate(config)
    with pytest.raises(ErasureError) as info:
        validate_config(config, SCHEMA, source="my.yaml")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"my.yaml: {expected}"), message


def test_the_uce_lr_example_stops_the_dry_run_before_any_job(tmp_path):
    config = _config()
    config["runs"]["uce-triangle"]["settings"] = {"lr": 1.0e-3}
    configfile = tmp_path / "bad.yaml"
    configfile.write_text(yaml.safe_dump(config))
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                          "--configfile", str(configfile)], capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert "runs.uce-triangle: settings.lr: unknown UCE setting (given 0.001;" in lines[-1], out.stderr[-2000:]
    assert "Traceback" not in out.stderr and "Job stats" not in out.stdout + out.stderr


def test_the_schema_carries_no_methods_keys():
    schema = yaml.safe_load(SCHEMA.read_text())
    run = schema["properties"]["runs"]["additionalProperties"]["properties"]
    assert run["settings"] == {"type": "object", "description": run["settings"]["description"]}
    assert "enum" not in run["method"] and "enum" not in run["preset"]
    inference = schema["properties"]["inference_methods"]["additionalProperties"]
    assert set(inference["properties"]) == {"kind", "concepts", "preset"}
    assert inference["additionalProperties"] is True


@pytest.mark.parametrize("name", list(specs.SPECS))
def test_every_spec_names_a_settings_dataclass_with_sources(name):
    spec = specs.get(name)
    cls = spec.settings_class()
    assert dataclasses.is_dataclass(cls) and issubclass(cls, MethodSettings), name
    for field in dataclasses.fields(cls):
        assert field.metadata.get("source"), f"{cls.__name__}.{field.name} names no source for its default"
    # every preset the spec offers (and none: its default) resolves, and its values pass the fields' checks
    for preset in (None, *spec.presets):
        if spec.kind == specs.INFERENCE:
            entry = {"kind": name, "concepts": ["triangle"], **({"preset": preset} if preset else {})}
            assert isinstance(resolve_inference("x", entry)[1], cls), (name, preset)
        else:
            run = {"method": name, "concepts": ["triangle"], "iterations": 6 if name == "rece" else 1, "preset": preset,
                   # a preservation term needs its prompts (the spec's `retain` rule)
                   "settings": {"retain_weight": 1.0, "retain_prompts": ["a circle"]} if spec.retain else {}}
            assert isinstance(resolve_run("x", run)[1], cls), (name, preset)


def test_sld_presets_are_diffusers_safety_configs_value_for_value():
    from diffusers.pipelines.deprecated.stable_diffusion_safe import SafetyConfig

    from erasure.methods.settings import SLDSettings

    for preset, values in SLDSettings.PRESETS.items():
        theirs = getattr(SafetyConfig, preset.upper())
        assert values == theirs and [type(v) for v in values.values()] == [type(theirs[k]) for k in values], preset
    assert SLDSettings().to_json() == SafetyConfig.MEDIUM  # the field defaults are the default preset's


def test_sega_defaults_are_diffusers_call_defaults():
    import inspect

    from diffusers import SemanticStableDiffusionPipeline

    from erasure.methods.settings import SEGASettings

    parameters = inspect.signature(SemanticStableDiffusionPipeline.__call__).parameters
    assert {k: parameters[k].default for k in SEGASettings().to_json()} == SEGASettings().to_json()


def test_an_inference_methods_keys_reach_its_call():
    spec, settings = resolve_inference("sld-x", {"kind": "sld", "preset": "max", "concepts": ["a"],
                                                 "sld_threshold": 0.5})
    assert settings.to_json() == {"sld_warmup_steps": 0, "sld_guidance_scale": 5000, "sld_threshold": 0.5,
                                  "sld_momentum_scale": 0.5, "sld_mom_beta": 0.7}
    with pytest.raises(ErasureError, match="inference_methods.x: kind sega needs concepts"):
        resolve_inference("x", {"kind": "sega"})


def test_the_settings_modules_are_torch_free():
    code = ("import sys, json, yaml; import erasure.methods.settings, erasure.config as c; "
            "c.validate_config(yaml.safe_load(open('config/config.yaml')), 'config/schema.yaml'); "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'diffusers'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert json.loads(out.stdout) == []


# --- no method name in a branch outside its own module --------------------------------------------------

def _owned_files() -> dict[str, set[Path]]:
    """Method name -> the files allowed to branch on it: the modules its spec names (implementation,
    settings), and the method table itself."""
    owned = {}
    for name, spec in specs.SPECS.items():
        files = set()
        for path in (spec.implementation, spec.settings):
            module = path.partition(":")[0]
            files.add(REPO / (module.replace(".", "/") + ".py"))
        owned[name] = files
    return owned


def _branch_names(tree: ast.AST, names: set[str]) -> list[tuple[int, str]]:
    """(line, name) of every comparison (==, !=, in, not in, match case) against a string constant that is a
    method name."""
    found = []

    def constants(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            for element in node.elts:
                yield from constants(element)

    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and all(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn))
                                                 for op in node.ops):
            for operand in (node.left, *node.comparators):
                found += [(node.lineno, value) for value in constants(operand) if value in names]
        elif isinstance(node, ast.MatchValue):
            found += [(node.lineno, value) for value in constants(node.value) if value in names]
    return found


def test_no_method_name_is_a_branch_outside_its_own_module():
    owned = _owned_files()
    names = set(specs.SPECS)
    hits = []
    for file in sorted((REPO / "erasure").rglob("*.py")):
        for line, name in _branch_names(ast.parse(file.read_text()), names):
            if file not in owned[name]:
                hits.append(f"{file.relative_to(REPO)}:{line}: {name}")
    # before issue 34: 8 hits (edit.py: uce x3, rece x2; generate/pipelines.py: sd, sd-neg, sld)
    assert hits == []


def test_the_branch_scan_finds_a_planted_branch():
    # the scan's own check: the forms the code base had (`if method == "uce"`, `kind in (...)`)
    tree = ast.parse("def f(method):\n    if method == 'uce':\n        return 1\n    return method in ('rece', 'x')\n")
    assert _branch_names(tree, set(specs.SPECS)) == [(2, "uce"), (4, "rece")]


def test_a_config_entry_is_not_mutated_by_validation():
    config = _config()
    def settings(c):  # what the erase / generate rules pass on as params (schema defaults such as seed aside)
        return ({n: r.get("settings") for n, r in c["runs"].items()}, c["inference_methods"])

    before = copy.deepcopy(settings(config))
    validate_config(config, SCHEMA)
    assert settings(config) == before
