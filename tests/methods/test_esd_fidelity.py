"""ESD's parameter subsets equal the authors' own selections, re-implemented here verbatim and run on the same
module tree: SD v1.4's UNet (from its config, meta device) and the toy UNet (from its shipped config).

The sources (quoted in erasure/methods/params.py):
- nannullna/safe-diffusion `train_esd.py` `gather_parameters` (the SDD authors' ESD, diffusers names);
- rohitgandikota/erasing `train-scripts/train-esd.py` `train_esd` (the ESD paper's LDM script, LDM names:
  every diffusers name is translated to its LDM name, and the translation is checked against diffusers' own
  LDM -> diffusers converter);
- rohitgandikota/erasing `esd_sd.py` `get_esd_trainable_parameters` (the ESD authors' current code).
"""

from __future__ import annotations

import pytest
import torch

from erasure.errors import ErasureError
from erasure.methods import specs
from erasure.methods.params import count, is_attn2, trainable_names
from erasure.methods.presets import resolve_settings

# --- the authors' selections, as written (parameter names out instead of tensors) -------------------------


def sdd_repo_gather_parameters(unet, finetuning_method: str) -> list[str]:
    """nannullna/safe-diffusion train_esd.py, gather_parameters (the branches ESD-x / ESD-u take)."""
    names = []
    for name, param in unet.named_parameters():
        if finetuning_method == "xattn":
            if "attn2" in name:
                names.append(name)
        elif finetuning_method == "noxattn":
            if name.startswith("conv_out.") or ("time_embed" in name):
                continue
            elif "attn2" in name:
                continue
            names.append(name)
    return names


def ldm_train_esd(ldm_names: list[str], train_method: str) -> list[str]:
    """rohitgandikota/erasing train-scripts/train-esd.py, train_esd: the loop over
    model.model.diffusion_model.named_parameters() (ESD-x = xattn, ESD-u = noxattn)."""
    parameters = []
    for name in ldm_names:
        if train_method == "noxattn":
            if name.startswith("out.") or "attn2" in name or "time_embed" in name:
                pass
            else:
                parameters.append(name)
        if train_method == "xattn":
            if "attn2" in name:
                parameters.append(name)
    return parameters


def esd_sd_get_esd_trainable_parameters(esd_unet, train_method: str) -> list[str]:
    """rohitgandikota/erasing esd_sd.py, get_esd_trainable_parameters."""
    esd_param_names = []
    for name, module in esd_unet.named_modules():
        if module.__class__.__name__ in ["Linear", "Conv2d", "LoRACompatibleLinear", "LoRACompatibleConv"]:
            if train_method == "esd-x" and "attn2" in name:
                for n, p in module.named_parameters():
                    esd_param_names.append(name + "." + n)
            if train_method == "esd-u" and ("attn2" not in name):
                for n, p in module.named_parameters():
                    esd_param_names.append(name + "." + n)
    return esd_param_names


# --- diffusers -> LDM parameter names (the inverse of diffusers' convert_ldm_unet_checkpoint) --------------

_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "norm2": "out_layers.0", "conv2": "out_layers.3",
           "time_emb_proj": "emb_layers.1", "conv_shortcut": "skip_connection"}


def ldm_name(name: str, config) -> str:
    """The LDM (CompVis openaimodel.UNetModel) name of a diffusers UNet2DConditionModel parameter (SD 1.x)."""
    from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING

    top = DIFFUSERS_TO_LDM_MAPPING["unet"]["layers"]
    if name in top:
        return top[name]
    n = config["layers_per_block"]
    parts = name.split(".")
    if parts[0] == "mid_block":
        kind, j, rest = parts[1], int(parts[2]), parts[3:]
        block = f"middle_block.{2 * j if kind == 'resnets' else 1}"
        return ".".join([block, *([_RESNET[rest[0]]] if kind == "resnets" else [rest[0]]), *rest[1:]])
    b, kind = int(parts[1]), parts[2]
    if parts[0] == "down_blocks":
        if kind == "downsamplers":
            return f"input_blocks.{(b + 1) * (n + 1)}.0.op.{parts[-1]}"
        block = f"input_blocks.{1 + b * (n + 1) + int(parts[3])}"
    else:
        if kind == "upsamplers":
            slot = 2 if "CrossAttn" in config["up_block_types"][b] else 1
            return f"output_blocks.{b * (n + 1) + n}.{slot}.conv.{parts[-1]}"
        block = f"output_blocks.{b * (n + 1) + int(parts[3])}"
    rest = parts[4:]
    if kind == "resnets":
        return ".".join([block, "0", _RESNET[rest[0]], *rest[1:]])
    return ".".join([block, "1", *rest])


def ldm_selection(unet, train_method: str) -> list[str]:
    """train-esd.py's selection on this UNet's LDM names, as diffusers names (in named_parameters order)."""
    to_ldm = {name: ldm_name(name, unet.config) for name, _ in unet.named_parameters()}
    chosen = set(ldm_train_esd(list(to_ldm.values()), train_method))
    return [name for name, ldm in to_ldm.items() if ldm in chosen]


@pytest.fixture(params=["sd14", "toy"])
def unet(request, sd14_unet, toy_unet):
    return {"sd14": sd14_unet, "toy": toy_unet}[request.param]


def test_ldm_names_are_what_diffusers_converts_from(unet):
    """Every diffusers parameter gets a distinct LDM name, and diffusers' own LDM -> diffusers converter maps
    that name back to the very same parameter: the translation train-esd.py's rule is applied through."""
    from diffusers.loaders.single_file_utils import LDM_UNET_KEY, convert_ldm_unet_checkpoint

    params = dict(unet.named_parameters())
    ldm = {LDM_UNET_KEY + ldm_name(name, unet.config): p for name, p in params.items()}
    assert len(ldm) == len(params)
    back = convert_ldm_unet_checkpoint(ldm, dict(unet.config))
    assert set(back) == set(params)
    assert all(back[name] is params[name] for name in params)


def test_each_esd_u_subset_is_its_source(unet):
    assert trainable_names(unet, "esd-u") == trainable_names(unet, "esd-u", "noxattn")
    assert trainable_names(unet, "esd-u", "noxattn") == sdd_repo_gather_parameters(unet, "noxattn")
    assert trainable_names(unet, "esd-u", "noxattn-ldm") == ldm_selection(unet, "noxattn")
    assert trainable_names(unet, "esd-u", "esd-sd") == esd_sd_get_esd_trainable_parameters(unet, "esd-u")


def test_attn2_is_every_sources_esd_x(unet):
    """Another instance of the same kind: ESD-x (and SDD) train what all three sources select for ESD-x."""
    ours = trainable_names(unet, "esd-x")
    assert ours == trainable_names(unet, "sdd") == sdd_repo_gather_parameters(unet, "xattn")
    assert ours == ldm_selection(unet, "xattn") == esd_sd_get_esd_trainable_parameters(unet, "esd-x")


def _excluded_outside_attn2(unet, subset: str) -> dict[str, str]:
    """{name: class of the module holding it} of the parameters outside attn2 that `subset` does not train."""
    keep = set(trainable_names(unet, "esd-u", subset))
    owner = {f"{m}.{n}": type(mod).__name__ for m, mod in unet.named_modules() for n, _ in mod.named_parameters(recurse=False)}
    return {name: owner[name] for name, _ in unet.named_parameters() if not is_attn2(name) and name not in keep}


def test_what_each_esd_u_subset_leaves_out(unet):
    head = {"time_embedding.linear_1.weight": "Linear", "time_embedding.linear_1.bias": "Linear",
            "time_embedding.linear_2.weight": "Linear", "time_embedding.linear_2.bias": "Linear",
            "conv_out.weight": "Conv2d", "conv_out.bias": "Conv2d"}
    assert _excluded_outside_attn2(unet, "noxattn") == head
    assert _excluded_outside_attn2(unet, "noxattn-ldm") == {**head, "conv_norm_out.weight": "GroupNorm",
                                                            "conv_norm_out.bias": "GroupNorm"}
    norms = _excluded_outside_attn2(unet, "esd-sd")
    assert set(norms.values()) == {"GroupNorm", "LayerNorm"}
    # every normalisation layer outside attn2, and nothing else
    all_norms = {n for n, p in unet.named_parameters()
                 if not is_attn2(n) and isinstance(dict(unet.named_modules())[n.rsplit(".", 1)[0]],
                                                   (torch.nn.GroupNorm, torch.nn.LayerNorm))}
    assert set(norms) == all_norms


def _counts(unet) -> dict[str, int]:
    params = dict(unet.named_parameters())
    out = {s: count(params[n] for n in trainable_names(unet, "esd-u", s)) for s in specs.get("esd-u").subsets}
    out["attn2"] = count(params[n] for n in trainable_names(unet, "esd-x"))
    out["all but attn2"] = count(p for n, p in params.items() if not is_attn2(n))  # ESD-u before issue 23
    return out


def test_sd14_counts(sd14_unet):
    c = _counts(sd14_unet)
    # time_embedding: Linear(320 -> 1280) + Linear(1280 -> 1280); conv_out: Conv2d(320 -> 4, 3x3); conv_norm_out:
    # GroupNorm(320)
    time_embedding = 320 * 1280 + 1280 + 1280 * 1280 + 1280
    conv_out = 4 * 320 * 3 * 3 + 4
    assert c["noxattn"] == c["all but attn2"] - time_embedding - conv_out == 813_496_320
    assert c["noxattn-ldm"] == c["noxattn"] - 2 * 320 == 813_495_680
    assert c["esd-sd"] == 815_358_084
    assert c["attn2"] == 43_962_560 and c["all but attn2"] == 815_558_404


def test_toy_counts_match_the_issue(toy_unet):
    c = _counts(toy_unet)
    # issue 23 measured these beside the authors' esd_sd.py on the toy UNet
    assert c["all but attn2"] == 5_755_524 and c["esd-sd"] == 5_740_804 and c["attn2"] == 447_552
    time_embedding = 64 * 256 + 256 + 256 * 256 + 256
    conv_out = 4 * 64 * 3 * 3 + 4
    assert c["noxattn"] == c["all but attn2"] - time_embedding - conv_out == 5_670_784
    assert c["noxattn-ldm"] == c["noxattn"] - 2 * 64 == 5_670_656


def test_settings_name_the_subset_and_zt_source():
    s = resolve_settings("esd-u", "esd", {})
    assert (s.trainable, s.zt_model) == ("noxattn", "trained")
    assert resolve_settings("esd-u", "esd", {"trainable": "esd-sd", "zt_model": "frozen"}).trainable == "esd-sd"
    assert resolve_settings("esd-x", None, {}).trainable == "attn2"
    assert resolve_settings("sdd", None, {}).zt_model == ""  # SDD samples z_t from its EMA teacher
    with pytest.raises(ErasureError, match="settings.trainable: 'esd-sd' is not a parameter subset of method 'esd-x'"):
        resolve_settings("esd-x", "esd", {"trainable": "esd-sd"})
    with pytest.raises(ErasureError, match="settings.zt_model: 'ema' is not one of trained, frozen"):
        resolve_settings("esd-u", "esd", {"zt_model": "ema"})
    with pytest.raises(ErasureError, match="settings.zt_model: only ESD"):
        resolve_settings("sdd", "paper", {"zt_model": "frozen"})
