"""Model families (erasure.worlds.families): the adapter is the only place that knows the network. Nothing outside
erasure/worlds/ (and erasure/standins/, which builds the stand-in pipelines) names a diffusers pipeline class,
calls `encode_prompt` or calls a UNet; the prediction-type algebra the methods rely on holds."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from erasure.errors import ErasureError
from erasure.worlds import families as F

ROOT = Path(__file__).resolve().parents[1]
# bench/startup.py times `from diffusers import StableDiffusionPipeline` itself (the import is what it measures)
# erasure/generate/inference/safree.py defines SAFREE's pipelines, StableDiffusionPipeline and
# StableDiffusionXLPipeline subclasses overriding encode_prompt (the method itself, as the authors'
# generate_safree.py and their SDXL pipeline); each family builds its own (ModelFamily.inference_pipelines["safree"])
EXEMPT = {ROOT / "bench" / "startup.py", ROOT / "erasure" / "generate" / "inference" / "safree.py"}


def _code_files() -> list[Path]:
    inside = (ROOT / "erasure" / "worlds", ROOT / "erasure" / "standins")
    files = [p for p in (ROOT / "erasure").rglob("*.py") if not any(d in p.parents for d in inside)]
    files += list((ROOT / "workflow_scripts").glob("*.py")) + list((ROOT / "bench").rglob("*.py"))
    return sorted(p for p in files if p not in EXEMPT)


def network_knowledge(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) of every pipeline class name used as code (a name, attribute or import, not a string), every
    `encode_prompt` and every call passing `encoder_hidden_states=` (what a direct UNet call must pass)."""
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name.rsplit(".", 1)[-1] for a in node.names]
        for name in names:
            if name.endswith(("Pipeline", "PipelineSafe")) and name != "MethodPipeline" or name == "encode_prompt":
                found.append((node.lineno, name))
        if isinstance(node, ast.Call) and any(k.arg == "encoder_hidden_states" for k in node.keywords):
            found.append((node.lineno, "UNet call (encoder_hidden_states=)"))
    return found


def test_only_the_adapters_know_the_network():
    offenders = {str(p.relative_to(ROOT)): hits for p in _code_files()
                 if (hits := network_knowledge(ast.parse(p.read_text(), str(p))))}
    assert offenders == {}


def test_the_check_sees_each_kind_of_offence():
    code = ("from diffusers import StableDiffusionXLPipeline\n"
            "e, _ = pipe.encode_prompt('x', 'cpu', 1, False)\n"
            "y = self.student(z, t, encoder_hidden_states=c).sample\n"
            "p = diffusers.SemanticStableDiffusionPipeline\n")
    assert sorted(line for line, _ in network_knowledge(ast.parse(code))) == [1, 2, 3, 4]
    assert network_knowledge(ast.parse("s = 'StableDiffusionPipeline'\nm = MethodPipeline(1)\n")) == []


def _alphas():
    from diffusers import DDIMScheduler

    return DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                         prediction_type="v_prediction")


def test_v_target_is_diffusers_velocity():
    scheduler = _alphas()
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(3, 4, 8, 8, generator=g), torch.randn(3, 4, 8, 8, generator=g)
    t = torch.tensor([10, 500, 990])
    expected = scheduler.get_velocity(x0, noise, t)
    assert torch.allclose(F.training_target(scheduler, x0, noise, t), expected, atol=1e-6)
    eps_scheduler = type(scheduler).from_config(scheduler.config, prediction_type="epsilon")
    assert F.training_target(eps_scheduler, x0, noise, t) is noise
    with pytest.raises(ErasureError, match="sample"):
        F.training_target(type(scheduler).from_config(scheduler.config, prediction_type="sample"), x0, noise, t)


def test_affine_targets_are_the_same_in_v_and_eps():
    """ESD's target ε_∅ − η (ε_c − ε_∅) written in v is the v of the ε target (the module docstring's claim),
    and a v loss is the ε loss / ᾱ_t."""
    scheduler = _alphas()
    a = scheduler.alphas_cumprod[700].double()
    g = torch.Generator().manual_seed(1)
    z_t, v_u, v_c, v_s = (torch.randn(2, 4, 8, 8, generator=g, dtype=torch.float64) for _ in range(4))
    eps = lambda v: a.sqrt() * v + (1 - a).sqrt() * z_t  # noqa: E731 - ε from v at fixed z_t
    eta = 3.0
    v_target = v_u - eta * (v_c - v_u)
    assert torch.allclose(eps(v_target), eps(v_u) - eta * (eps(v_c) - eps(v_u)))
    loss_v = torch.mean((v_s - v_target) ** 2)
    loss_eps = torch.mean((eps(v_s) - eps(v_target)) ** 2)
    assert torch.allclose(loss_v, loss_eps / a)


def test_conditioning_expands_and_concatenates_with_its_added_conditions():
    c = F.Conditioning(torch.randn(1, 7, 6), {"text_embeds": torch.randn(1, 5), "time_ids": torch.ones(1, 6)})
    wide = c.expand(3, -1, -1)
    assert wide.hidden.shape == (3, 7, 6) and wide.added["text_embeds"].shape == (3, 5)
    both = F.concat([wide, c.expand(2)])
    assert both.hidden.shape == (5, 7, 6) and both.added["time_ids"].shape == (5, 6)
    assert torch.equal(F.concat([torch.ones(1, 2), torch.zeros(1, 2)]), torch.tensor([[1.0, 1], [0, 0]]))
    with pytest.raises(ErasureError, match="different model families"):
        F.concat([c, torch.zeros(1, 7, 6)])


def test_family_of_a_network():
    unet = type("U", (), {"config": {"addition_embed_type": "text_time"}})()
    assert F.family_of(unet, {"prediction_type": "epsilon"}) is F.SDXL
    plain = type("U", (), {"config": {"addition_embed_type": None}})()
    assert F.family_of(plain, {"prediction_type": "v_prediction"}) is F.SD2
    assert F.family_of(plain, {"prediction_type": "epsilon"}) is F.SD1
    assert F.family_of_source("stabilityai/stable-diffusion-xl-base-1.0") is F.SDXL
    assert F.family_of_source("stabilityai/stable-diffusion-2-1") is F.SD2


@pytest.mark.parametrize("family", [F.SD2, F.SDXL])
@pytest.mark.parametrize("kind", ["sld", "sega"])
def test_sld_and_sega_are_refused_with_a_reason_outside_sd1(family, kind):
    with pytest.raises(ErasureError, match=f"kind '{kind}' on {family.title}: ") as info:
        family.compose(kind, base=None)
    assert "\n" not in str(info.value) and "diffusers" in str(info.value)
