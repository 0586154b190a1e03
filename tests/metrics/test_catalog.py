"""The metric catalog is the one list of metrics (issue 18), and every enum in config/schema.yaml equals the
code list it stands for: a name added on one side only fails here, not late on a cluster."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from erasure.config import validate_config
from erasure.errors import ErasureError
from erasure.metrics import catalog

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "config" / "schema.yaml"


def _schedulers():
    from erasure.generate.settings import SCHEDULERS

    return SCHEDULERS


def _prompt_sources():
    from erasure.prompts.kinds import SOURCE_FILES

    return SOURCE_FILES


def _attr(module, name):
    def value():
        import importlib

        return getattr(importlib.import_module(module), name)
    return value


# schema path of an enum -> the code list it must equal (in order: the schema lists what the code offers).
# Methods, their presets and settings choices are not schema enums: erasure.config checks them against the
# method table and each method's settings dataclass (erasure/methods/settings.py; tests/methods/test_method_settings.py).
CODE_LISTS = {
    "$defs/sampling_override/properties/scheduler": _schedulers,
    "properties/generation/properties/sampling/properties/scheduler": _schedulers,
    "properties/prompt_sets/additionalProperties/properties/source": _prompt_sources,
    "$defs/metric": lambda: catalog.METRICS,
    "properties/attacks/properties/attacks/additionalProperties/properties/kind": _attr("erasure.attacks.stage", "KINDS"),
    "$defs/nudenet/properties/protocol": _attr("erasure.metrics.nudenet", "PROTOCOLS"),
    "properties/metrics/properties/harm/properties/formula": _attr("erasure.metrics.q16", "FORMULAS"),
    "properties/metrics/properties/clip/properties/convention": _attr("erasure.metrics.clipscore", "CONVENTIONS"),
    "properties/toy_base/properties/recipe": _attr("erasure.worlds.toy.build", "RECIPES"),
}
# enums whose values are read where they are used, with no list in the code to drift from
NO_CODE_LIST = {
    "properties/device",                          # erasure.runtime.pick_device: auto | cpu | cuda[:n]
    "properties/report/properties/tables/additionalProperties/properties/paper",   # erasure.report.paper
    "properties/report/properties/curves/additionalProperties/properties/series/items/properties/which",
}


def _enums(node, path=()):
    if isinstance(node, dict):
        if "enum" in node:
            yield "/".join(path), node["enum"]
        for key, value in node.items():
            yield from _enums(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _enums(value, (*path, str(i)))


def metric_mismatches(schema: dict) -> list[str]:
    """Where the schema's metrics differ from the catalog's: the metric enum (prompt_sets.<set>.metrics) and
    the metrics.<name> settings blocks."""
    names = list(catalog.METRICS)
    problems = []
    if schema["$defs"]["metric"]["enum"] != names:
        problems.append(f"$defs.metric.enum {schema['$defs']['metric']['enum']} != catalog {names}")
    blocks = list(schema["properties"]["metrics"]["properties"])
    if sorted(blocks) != sorted(names):
        problems.append(f"metrics.<name> blocks {sorted(blocks)} != catalog {sorted(names)}")
    return problems


def test_every_schema_enum_is_checked_against_code_or_listed_as_having_none():
    found = {path for path, _ in _enums(yaml.safe_load(SCHEMA.read_text()))}
    assert found == set(CODE_LISTS) | NO_CODE_LIST, (sorted(found - set(CODE_LISTS) - NO_CODE_LIST),
                                                      sorted((set(CODE_LISTS) | NO_CODE_LIST) - found))


@pytest.mark.parametrize("path", sorted(CODE_LISTS))
def test_schema_enum_equals_its_code_list(path):
    enums = dict(_enums(yaml.safe_load(SCHEMA.read_text())))
    assert enums[path] == list(CODE_LISTS[path]()), path


def test_schema_metrics_equal_the_catalog():
    assert metric_mismatches(yaml.safe_load(SCHEMA.read_text())) == []


def test_a_metric_on_one_side_only_is_caught(monkeypatch):
    schema = yaml.safe_load(SCHEMA.read_text())
    extra = dataclasses.replace(catalog.METRICS["clip"], name="clip-extra")
    monkeypatch.setitem(catalog.METRICS, "clip-extra", extra)  # in the catalog, not in the schema
    assert len(metric_mismatches(schema)) == 2
    monkeypatch.delitem(catalog.METRICS, "clip-extra")
    del schema["properties"]["metrics"]["properties"]["fid"]  # a schema block gone, the enum still there
    assert metric_mismatches(schema) == [f"metrics.<name> blocks {sorted(set(catalog.METRICS) - {'fid'})} != "
                                         f"catalog {sorted(catalog.METRICS)}"]


def test_a_misspelt_metric_in_a_prompt_set_is_one_line_at_validation():
    """Before the catalog's enum, `metrics: [fid-toys]` passed validation and Snakemake failed planning with
    a MissingRule traceback; a misspelt metric_settings key was silently ignored (another instance)."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["prompt_sets"]["coco"]["metrics"].append("fid-toys")
    with pytest.raises(ErasureError, match=r"prompt_sets\.coco\.metrics\.\d: 'fid-toys' is not one of") as err:
        validate_config(config, SCHEMA)
    assert "\n" not in str(err.value)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["prompt_sets"]["i2p"]["metric_settings"]["targets"] = {}
    with pytest.raises(ErasureError, match=r"prompt_sets\.i2p\.metric_settings: 'targets' is not one of"):
        validate_config(config, SCHEMA)


def test_catalog_entries_are_consistent():
    for spec in catalog.METRICS.values():
        assert spec.reference in (catalog.NONE, catalog.PAIRED, catalog.SET), spec.name
        assert not spec.reference_from_world or spec.reference == catalog.SET, spec.name
        assert (REPO / "envs" / f"{spec.env}.yaml").is_file(), spec.name
        assert spec.display[1] in ("up", "down"), spec.name
        assert spec.worlds and all(w == catalog.ANY_WORLD or w in ("sd", "toy") for w in spec.worlds), spec.name
    assert {m for m in catalog.METRICS if catalog.is_paired(m)} == {"lpips", "paired-distance"}
    assert [m for m in catalog.METRICS if catalog.needs_q16(m)] == ["harm"]
    assert catalog.world_backbone("fid-toy") == "oracle" and catalog.world_backbone("nude") == "clip"
    with pytest.raises(ErasureError, match="unknown metric 'nope'"):
        catalog.get("nope")


def test_every_weight_a_metric_loads_owns_its_resolver_and_preflight_check():
    from erasure import preflight, weights

    used = {weight for spec in catalog.METRICS.values() for weight in spec.weights}
    assert used <= set(weights.WEIGHTS)
    for weight in weights.WEIGHTS:
        assert callable(weight.files) and callable(preflight.weight_check(weight)), weight.name


def test_a_new_weight_entry_reaches_the_dag_inputs_and_preflight_with_no_edit_there(tmp_path, monkeypatch):
    """Another instance of the kind: a weight file is one Weight entry (resolver + check); sources and preflight
    only read the entries."""
    import dataclasses

    from erasure import preflight, external_inputs, weights

    file = tmp_path / "trunk.pth"
    file.write_bytes(b"x")
    trunk = weights.Weight("a trunk", "trunk", "ERASURE_TRUNK", "none", "make it",
                           files=lambda settings, built, own: [file], check="erasure.preflight:check_alexnet")
    monkeypatch.setitem(catalog.METRICS, "lpips", dataclasses.replace(catalog.METRICS["lpips"], weights=(trunk,)))
    assert external_inputs.metric_files("lpips", {}, "sd") == [file]
    monkeypatch.setattr(weights, "WEIGHTS", (*weights.WEIGHTS, trunk))
    seen = []
    monkeypatch.setattr(preflight, "check_alexnet", lambda ctx, uses: seen.append(uses) or [])
    ctx = type("Ctx", (), {"config": {"metrics": {"lpips": {"trunk": "t"}}},
                           "kind": type("K", (), {"scorers_read_base": False})()})()
    monkeypatch.setattr(preflight.plan, "required_scores", lambda config: [("lpips", "sd", "coco")])
    preflight.check_metrics(ctx)
    assert seen == [[("lpips", {"trunk": "t"})]]


_RULES = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, ResourceSettings, StorageSettings, OutputSettings
repo, workdir, configs = Path(sys.argv[1]), Path(sys.argv[2]), [Path(c) for c in sys.argv[3:]]
with SnakemakeApi(OutputSettings()) as api:
    wf = api.workflow(resource_settings=ResourceSettings(cores=1), storage_settings=StorageSettings(),
                      config_settings=ConfigSettings(configfiles=configs), snakefile=repo / "Snakefile",
                      workdir=workdir)
    print(json.dumps({r.name: [str(r.conda_env), getattr(r.resources["gpu"], "value", r.resources["gpu"])]
                      for r in wf._workflow.rules
                      if r.name.startswith("score_")}))
"""


def test_score_rules_are_built_from_the_catalog(tmp_path):
    """One rule per catalog entry, named score_<metric>, with the entry's conda env; a GPU only for the
    entries whose backbones a GPU speeds up (SD world, cluster.score_gpus)."""
    overlay = tmp_path / "gpus.yaml"
    overlay.write_text("cluster: {gpus: true, score_gpus: true}\n")
    out = subprocess.run([sys.executable, "-c", _RULES, str(REPO), str(tmp_path), str(REPO / "config/paper.yaml"),
                          str(overlay)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    rules = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(rules) == {spec.rule for spec in catalog.METRICS.values()}
    for spec in catalog.METRICS.values():
        conda, gpu = rules[spec.rule]
        assert conda == f"../envs/{spec.env}.yaml" and gpu == int(spec.gpu), (spec.name, conda, gpu)
