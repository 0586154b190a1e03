"""The method table (erasure.methods.specs) is the one place that says what a method trains, which presets
it takes and what it delivers: a spec added here, and nothing else, reaches the trainer."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import types

import pytest
import torch
import torch.nn.functional as F
import yaml

from erasure import plan
from erasure.config import validate_config
from erasure.errors import ErasureError
from erasure.methods import params, presets, specs
from erasure.methods.base import FineTuningMethod
from erasure.methods.params import RULES, select_trainable, trainable_names


class Dummy(FineTuningMethod):
    """A method no file of the library knows: pull the student's noise prediction for a concept to zero."""

    def __init__(self, unet, scheduler_config, prompts, settings, *, method):
        super().__init__(unet, select_trainable(unet, method, settings.trainable), method)
        self.prompts = prompts

    def loss(self, step, generator):
        cfg = self.student.config
        z = torch.randn((1, cfg.in_channels, cfg.sample_size, cfg.sample_size), generator=generator)
        return F.mse_loss(self.student(z, 10, encoder_hidden_states=self.prompts.concepts[0]).sample, torch.zeros_like(z))


@pytest.fixture
def dummy(monkeypatch):
    """A fine-tuning spec "dummy" whose implementation lives in a module only sys.modules knows."""
    module = types.ModuleType("dummy_erasure_method")
    module.Dummy = Dummy
    monkeypatch.setitem(sys.modules, "dummy_erasure_method", module)
    spec = specs.MethodSpec("dummy", specs.FINE_TUNING, "dummy_erasure_method:Dummy", subsets=("noxattn-ldm", "attn2"),
                            presets=("official",), deliverables=("student",))
    monkeypatch.setitem(specs.SPECS, "dummy", spec)
    monkeypatch.setattr(specs, "FINE_TUNED", (*specs.FINE_TUNED, "dummy"))
    return spec


def test_a_spec_added_in_one_place_is_trained(dummy, tiny_base, tmp_path):
    from erasure import checkpoints as ckpt
    from erasure.methods.trainer import train

    run = tmp_path / "dummy-run"
    steps = train(run, method="dummy", concepts=["triangle"], iterations=2, checkpoint_every=1, base_model=tiny_base,
                  settings={"sampling_steps": 2}, seed=1, progress=False, log=lambda msg: None)
    assert steps == [1, 2]
    meta = ckpt.read_run_meta(run)
    # the preset and the parameter subset are the spec's defaults, the deliverable its first role
    assert meta["preset"] == "official" and meta["settings"]["lr_schedule"] == "constant"
    assert meta["settings"]["trainable"] == "noxattn-ldm"
    assert meta["deliverable"] == "student"
    from erasure.models import load_base_pipeline

    unet = load_base_pipeline(tiny_base).unet
    weights = ckpt.load_weights(run, 2, "student")
    assert sorted(weights) == sorted(trainable_names(unet, "dummy"))
    assert any(not torch.equal(weights[n], p) for n, p in unet.named_parameters() if n in weights)


def test_the_spec_drives_subsets_and_presets(dummy, tiny_base):
    from erasure.models import load_base_pipeline

    unet = load_base_pipeline(tiny_base).unet
    assert trainable_names(unet, "dummy") == trainable_names(unet, "dummy", "noxattn-ldm")
    assert trainable_names(unet, "dummy", "attn2") == trainable_names(unet, "sdd")
    with pytest.raises(ErasureError, match="settings.trainable: 'esd-sd' is not a parameter subset of method 'dummy'"):
        params.check_subset("dummy", "esd-sd")
    assert presets.resolve_settings("dummy", None).lr_schedule == "constant"
    with pytest.raises(ErasureError, match="preset 'paper': not a preset of method 'dummy' \\(known: official\\)"):
        presets.resolve_settings("dummy", "paper")


def test_a_spec_that_disagrees_with_its_class_fails_at_build(monkeypatch, dummy, tiny_base):
    from erasure.methods.trainer import build_method
    from erasure.models import load_base_pipeline

    monkeypatch.setitem(specs.SPECS, "dummy", specs.MethodSpec(
        "dummy", specs.FINE_TUNING, dummy.implementation, subsets=("attn2",), presets=("paper",),
        deliverables=("teacher", "student")))
    pipe = load_base_pipeline(tiny_base)
    prompts = types.SimpleNamespace(concepts=[None])
    with pytest.raises(ErasureError, match="dummy_erasure_method:Dummy checkpoints \\['student'\\].*teacher"):
        build_method("dummy", pipe.unet, dict(pipe.scheduler.config), prompts, presets.resolve_settings("dummy", None))


def test_the_retain_rule_is_a_spec_field(monkeypatch, dummy):
    # sdd+retain is one instance; a new spec with retain=True gets the same rule without an `if method ==`
    monkeypatch.setitem(specs.SPECS, "dummy", specs.MethodSpec("dummy", specs.FINE_TUNING, dummy.implementation,
                                                               subsets=("attn2",), presets=("paper",), retain=True))
    with pytest.raises(ErasureError, match="method dummy needs retain_weight > 0 and retain_prompts"):
        presets.resolve_settings("dummy", None, {"retain_weight": 1.0})
    assert presets.resolve_settings("dummy", None, {"retain_weight": 1.0, "retain_prompts": ["a"]}).retain_weight == 1.0
    with pytest.raises(ErasureError, match="only method sdd\\+retain, advunlearn, dummy has a preservation term, not 'esd-x'"):
        presets.resolve_settings("esd-x", None, {"retain_weight": 1.0})


def test_every_spec_names_what_exists():
    from diffusers.pipelines.deprecated.stable_diffusion_safe import SafetyConfig

    from erasure.methods.uce import UCE_PRESETS

    for name, spec in specs.SPECS.items():
        assert spec.kind in specs.KINDS, name
        assert callable(spec.implementation_object()), name
        assert all(s in RULES for s in spec.subsets), name
        if spec.kind == specs.FINE_TUNING:
            assert issubclass(spec.implementation_object(), FineTuningMethod), name
            # subsets may be empty: a method training another component (docs/adding-a-method.md; AdvUnlearn);
            # its presets are its settings class's (the trainer's Settings, or a subclass with its own)
            assert spec.deliverables and set(spec.presets) <= set(spec.settings_class().PRESETS), name
        if spec.kind == specs.INFERENCE:
            assert not spec.deliverables and not spec.subsets, name
    assert specs.get("uce").presets == tuple(UCE_PRESETS)
    assert all(hasattr(SafetyConfig, p.upper()) for p in specs.get("sld").presets)
    assert set(presets.PRESETS) == {p for n in specs.FINE_TUNED for p in specs.get(n).presets
                                    if specs.get(n).settings_class().PRESETS is presets.PRESETS}


def test_uce_edits_exactly_its_specs_subset(tiny_base):
    # the closed-form instance: UCE's own module selection is the spec's subset
    from erasure.methods.uce import projection_modules
    from erasure.models import load_base_pipeline

    unet = load_base_pipeline(tiny_base).unet
    assert trainable_names(unet, "uce") == list(projection_modules(unet))


def test_an_unknown_or_wrong_kind_of_method_is_one_line():
    with pytest.raises(ErasureError, match="method 'sdd-fast': unknown \\(known: sdd, sdd\\+retain, esd-x, esd-u"):
        presets.resolve_settings("sdd-fast", None)
    with pytest.raises(ErasureError, match="method 'uce': a closed-form edit method, not one of sdd"):
        presets.resolve_settings("uce", None)
    from erasure.generate.pipelines import build_inference_method

    with pytest.raises(ErasureError, match="inference_methods.x.kind: 'sdd': a fine-tuning method, not one of sd, sd-neg"):
        build_inference_method("x", {"kind": "sdd"}, object())


def test_the_table_is_torch_free():
    code = ("import sys; import erasure.methods.specs, erasure.methods.presets, erasure.methods.params, erasure.plan; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'diffusers'))))")
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_config_validation_applies_the_spec(repo):
    with open(repo / "config/config.yaml") as handle:
        config = yaml.safe_load(handle)
    bad = copy.deepcopy(config)
    bad["runs"]["esd-x-triangle"]["preset"] = "paper"
    with pytest.raises(ErasureError, match="runs.esd-x-triangle: preset 'paper': not a preset of method 'esd-x'"):
        validate_config(bad, repo / "config/schema.yaml")
    bad = copy.deepcopy(config)
    bad["runs"]["sdd-triangle"].setdefault("settings", {})["retain_weight"] = 0.5
    with pytest.raises(ErasureError, match="runs.sdd-triangle: settings.retain_weight: only method sdd\\+retain"):
        validate_config(bad, repo / "config/schema.yaml")


def test_plan_refuses_student_weights_a_method_does_not_deliver(repo):
    with open(repo / "config/config.yaml") as handle:
        config = validate_config(yaml.safe_load(handle), repo / "config/schema.yaml")
    run = dict(config["runs"]["esd-x-triangle"])
    config["runs"]["edit"] = {**run, "method": "uce", "iterations": 1, "checkpoint_every": 1}
    promptset = next(iter(config["prompt_sets"]))
    # an instance that passes: ESD delivers its student; and the edit's own weights
    plan._check_known(config, [plan.ImageSet(f"esd-x-triangle.student@{run['iterations']}", promptset),
                               plan.ImageSet("edit@1", promptset)])
    with pytest.raises(ErasureError, match="run 'edit' \\(uce, a closed-form edit\\) has no student weights"):
        plan._check_known(config, [plan.ImageSet("edit.student@1", promptset)])
