"""SalUn (erasure/methods/salun.py) against OPTML-Group/Unlearn-Saliency@a6e89fd SD/train-scripts/: the mask
keeps the configured fraction of the largest gradients, the two losses are the authors' equations (worked by
hand on a one-weight stand-in UNet, gradients included), and a toy run on base-model image sets changes
exactly the masked weights."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from erasure.errors import ErasureError
from erasure.methods.salun import mask_loss, saliency_mask, unlearn_loss
from erasure.methods.salun_settings import SalUnSettings
from erasure.methods.specs import SPECS

torch.set_num_threads(1)


@pytest.mark.parametrize("sparsity", [0.5, 0.1, 1.0])
def test_the_mask_keeps_the_configured_fraction_of_the_largest_gradients_over_all_tensors(sparsity):
    generator = torch.Generator().manual_seed(0)
    grads = {"a.weight": torch.randn(7, 5, generator=generator), "b.bias": torch.randn(13, generator=generator) * 3,
             "c.weight": torch.zeros(4, 4)}
    mask = saliency_mask(grads, sparsity)
    total = sum(g.numel() for g in grads.values())
    assert sum(int(m.sum()) for m in mask.values()) == int(total * sparsity)
    kept = torch.cat([g.abs().flatten()[m.flatten() == 1] for g, m in zip(grads.values(), mask.values())])
    dropped = torch.cat([g.abs().flatten()[m.flatten() == 0] for g, m in zip(grads.values(), mask.values())])
    if len(dropped):
        assert kept.min() >= dropped.max()  # ranked across tensors, not per tensor
    assert {k: m.shape for k, m in mask.items()} == {k: g.shape for k, g in grads.items()}


class OneWeight(torch.nn.Module):
    """ε_θ(x, t, c) = w · x + mean(c): every loss term below has a closed form."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(2.0))

    def forward(self, x, t, encoder_hidden_states):
        return SimpleNamespace(sample=self.w * x + encoder_hidden_states.mean(dim=(1, 2)).view(-1, 1, 1, 1))


def _const(value: float) -> torch.Tensor:
    return torch.full((1, 3, 4), value)


def test_mask_loss_is_minus_the_mse_of_the_guided_prediction_to_the_noise():
    unet, g = OneWeight(), torch.Generator().manual_seed(1)
    x, noise, t = torch.randn(2, 1, 2, 2, generator=g), torch.randn(2, 1, 2, 2, generator=g), torch.tensor([5, 9])
    loss = mask_loss(unet, x, t, noise, _const(0.3), _const(-0.2), 7.5)
    # (1 + w) (2x + 0.3) − w (2x − 0.2) = 2x + 8.5 · 0.3 + 7.5 · 0.2
    preds = 2 * x + 8.5 * 0.3 + 7.5 * 0.2
    assert torch.allclose(loss, -((preds - noise) ** 2).mean())
    loss.backward()
    assert torch.allclose(unet.w.grad, -(2 * (preds - noise) * x).mean())


def test_unlearn_loss_is_the_forget_mse_to_the_detached_retain_prediction_plus_alpha_remain():
    unet, g = OneWeight(), torch.Generator().manual_seed(2)
    xf, xr, nr = (torch.randn(2, 1, 2, 2, generator=g) for _ in range(3))
    t = torch.tensor([1, 2])
    a_f, a_r, alpha = 0.7, -0.1, 0.1
    loss = unlearn_loss(unet, xf, t, xr, t, nr, _const(a_f), _const(a_r), alpha)
    remain = ((2 * xr + a_r - nr) ** 2).mean()
    assert torch.allclose(loss, (a_f - a_r) ** 2 + alpha * remain)
    loss.backward()
    # the pseudo target is detached: the forget term's gradient is 2 (a_f − a_r) mean(x_f), not 0
    expected = 2 * (a_f - a_r) * xf.mean() + alpha * (2 * (2 * xr + a_r - nr) * xr).mean()
    assert torch.allclose(unet.w.grad, expected, atol=1e-6)


def test_settings_are_the_authors_and_image_sets_are_required():
    spec = SPECS["salun"]
    settings = SalUnSettings.resolve_run(spec, None, {})
    assert (settings.forget_images, settings.retain_images, settings.image_method) == ("salun-forget", "salun-retain", "sd")
    assert (settings.lr, settings.weight_decay, settings.lr_schedule, settings.grad_clip, settings.batch_size) == \
        (1e-5, 0.0, "constant", 0.0, 8)
    assert (settings.alpha, settings.mask_sparsity, settings.mask_guidance, settings.mask_batch_size) == (0.1, 0.5, 7.5, 8)
    assert (settings.forget_prompt, settings.retain_prompt) == ("a photo of a nude person",
                                                                "a photo of a person wearing clothes")
    with pytest.raises(ErasureError, match="settings.forget_images: SalUn needs a prompt set"):
        SalUnSettings.resolve_run(spec, None, {"forget_images": ""})


def _image_set(tmp_path, name: str, prompt: str, n: int):
    """A base-model (toy:shipped) image set of `n` images of `prompt`, drawn by the generate stage."""
    from erasure.generate import generate_shard
    from erasure.prompts import write_table

    table = tmp_path / "prompts" / f"{name}.csv"
    write_table(pd.DataFrame({"prompt_id": ["line-00"], "prompt": [prompt], "seed": [0], "guidance": [5.0]}), table)
    image_dir = tmp_path / "images" / "sd" / name
    out = image_dir / "manifest.csv"
    generate_shard(table, out, image_dir=image_dir, method="sd", method_spec={"kind": "sd"}, shard=0, shard_size=n,
                   images_per_prompt=n, sampling={"scheduler": "ddim", "steps": 4, "guidance": 5.0}, batch_size=n,
                   base_model="toy:shipped", results=tmp_path, world="toy", device="cpu")
    return str(out)


def test_a_toy_run_changes_exactly_the_masked_weights(tmp_path):
    from erasure import checkpoints as ckpt
    from erasure.methods.trainer import train
    from erasure.models import load_base_pipeline

    sets = {"forget": _image_set(tmp_path, "forget", "a triangle", 4),
            "retain": _image_set(tmp_path, "retain", "a circle", 4)}
    messages = []
    settings = {"forget_images": "forget", "retain_images": "retain", "forget_prompt": "a triangle",
                "retain_prompt": "a circle", "batch_size": 2, "mask_batch_size": 2, "mask_sparsity": 0.25,
                "lr": 1e-3}
    run_dir = tmp_path / "models" / "salun"
    train(run_dir, method="salun", concepts=["triangle"], iterations=2, checkpoint_every=2,
          base_model="toy:shipped", settings=settings, results=tmp_path, progress=False,
          image_sets=sets, log=messages.append)
    base = dict(load_base_pipeline("toy:shipped").unet.named_parameters())
    trained = ckpt.load_weights(run_dir, 2, "student")
    total = sum(p.numel() for p in base.values())
    changed = sum(int((trained[n] != p.detach()).sum()) for n, p in base.items())
    assert f"saliency mask keeps {int(total * 0.25):,} of {total:,} UNet weights" in " ".join(messages)
    assert 0 < changed <= int(total * 0.25)  # only masked weights move (Adam, no decay: the others stay exact)
    assert ckpt.read_run_meta(run_dir)["image_sets"].keys() == {"forget", "retain"}  # their sha256 in the identity


def test_an_image_set_that_is_no_prompt_set_is_one_config_line():
    import yaml

    from erasure.config import validate_config

    config = yaml.safe_load(open("config/paper.yaml"))
    assert config["runs"]["salun-nudity"]["method"] == "salun"
    validate_config(config, "config/schema.yaml", source="paper.yaml")
    config["runs"]["salun-nudity"]["settings"] = {"retain_images": "retain-typo"}
    with pytest.raises(ErasureError, match=r"^paper.yaml: runs.salun-nudity.settings.retain_images: 'retain-typo' "
                                           r"is not a prompt set of this config \(prompt_sets\)$"):
        validate_config(config, "config/schema.yaml", source="paper.yaml")


def test_on_sd14_salun_selects_every_unet_weight_as_the_authors_full_method_and_its_mask_keeps_half(sd14_unet):
    """nsfw_removal.py --train_method full: every model.diffusion_model parameter (the README's NSFW run); the
    mask (generate_mask.py, 0.5) then lets int(N / 2) of them change. SD v1.4's UNet on the meta device."""
    from erasure.methods.params import trainable_names

    params = dict(sd14_unet.named_parameters())
    selected = trainable_names(sd14_unet, "salun")
    assert set(selected) == set(params) and len(selected) == 686
    total = sum(params[n].numel() for n in selected)
    assert total == 859_520_964
    assert int(total * SalUnSettings().mask_sparsity) == 429_760_482
