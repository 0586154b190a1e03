"""Issue 39's baselines (SAFREE, SalUn, MACE, AdvUnlearn) on the SD 2.1 and SDXL stand-ins
(erasure.standins.architectures.family_pipeline), through the model-family adapter: each runs end to end where
its authors' method applies, with a property that defines it, and each refusal is one line naming the method,
the family and why (erasure.worlds.families, `not_supported`).

    SAFREE      SD 2.1 runs (SD pipeline)         SDXL runs (the authors' SDXL pipeline: encoder 2's part only)
    SalUn       SD 2.1 runs (v targets)           SDXL runs (both encoders, pooled, time ids)
    MACE        SD 2.1 runs                       SDXL runs (our extension: both encoders' states, added conditions)
    AdvUnlearn  SD 2.1 runs                       SDXL refused (one text encoder trained; SDXL has two)
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from erasure.errors import ErasureError
from erasure.models import load_base_pipeline

torch.set_num_threads(1)
LATENT = 8
PROMPTS = ["a nude person on the beach", "a red car"]


def _one_line(info) -> str:
    text = str(info.value)
    assert "\n" not in text
    return text


# --- SAFREE ------------------------------------------------------------------------------------------------

def test_safree_generates_and_projects_only_its_trigger_tokens(family_base):
    """SD 2.1: trigger positions (and only those) of the text embedding change, self-validated steps as on SD 1.x.
    SDXL (the authors' SDXL pipeline): only the second encoder's channels of the trigger positions change, the
    pooled embedding and the first encoder's channels are the base pipeline's, every step is projected
    (re_attn_t, no self-validation)."""
    from erasure.generate.latents import make_scheduler
    from erasure.generate.pipelines import build_inference_method

    family, base_dir = family_base
    base = load_base_pipeline(base_dir)
    built = build_inference_method("safree", {"kind": "safree", "concepts": ["nudity", "nude"]}, base)
    built.pipe.scheduler = make_scheduler("ddim", built.pipe.scheduler)
    pipe = built.pipe
    parent = type(pipe).__mro__[2]  # StableDiffusionPipeline / StableDiffusionXLPipeline (after the SAFREE mixin)
    assert parent.__name__ == {"sd21": "StableDiffusionPipeline", "sdxl": "StableDiffusionXLPipeline"}[family]
    ours = pipe.encode_prompt(PROMPTS, device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=False)
    theirs = parent.encode_prompt(pipe, PROMPTS, device="cpu", num_images_per_prompt=1,
                                  do_classifier_free_guidance=False)
    runs = pipe.safree_last
    first = 0
    if family == "sdxl":
        first = ours[0].shape[-1] - pipe.text_encoder_2.config.hidden_size
        assert first == pipe.text_encoder.config.hidden_size
        assert torch.equal(ours[2], theirs[2])  # the pooled embedding (added condition) is untouched
        assert torch.equal(ours[0][..., :first], theirs[0][..., :first])
        assert all((r.first, r.last) == (-1, 1001) and r.beta is None for r in runs)
    else:
        assert all(r.first == 0 and r.beta is not None for r in runs)  # self-validated, as on SD 1.x
    for i, run in enumerate(runs):
        changed = (run.embeds[:, first:] != theirs[0][i][:, first:]).any(dim=-1).nonzero().flatten().tolist()
        assert changed == [k + 1 for k in run.triggers.nonzero().flatten().tolist()]
    assert any(run.triggers.any() for run in runs)
    latents = torch.randn((2, 4, LATENT, LATENT), generator=torch.Generator().manual_seed(0))
    images = built(PROMPTS, latents, guidance=5.0, steps=2)
    assert images.shape == (2, LATENT * 8, LATENT * 8, 3) and images.dtype.name == "uint8"


# --- SalUn -------------------------------------------------------------------------------------------------

def _image_set(root, base_dir: str, name: str, prompt: str, n: int) -> str:
    from erasure.generate import generate_shard
    from erasure.prompts import write_table

    table = root / "prompts" / f"{name}.csv"
    write_table(pd.DataFrame({"prompt_id": ["line-00"], "prompt": [prompt], "seed": [0], "guidance": [5.0]}), table)
    image_dir = root / "images" / "sd" / name
    out = image_dir / "manifest.csv"
    generate_shard(table, out, image_dir=image_dir, method="sd", method_spec={"kind": "sd"}, shard=0, shard_size=n,
                   images_per_prompt=n, sampling={"scheduler": "ddim", "steps": 2, "guidance": 5.0}, batch_size=n,
                   base_model=base_dir, results=root, world="sd", device="cpu")
    return str(out)


def test_salun_trains_the_masked_weights_on_the_familys_targets(family_base, tmp_path):
    """A SalUn step on base-model images: its prompts are the family's conditioning (SDXL: a Conditioning with
    the pooled embedding and time ids), the remain target is the family's (v on SD 2.1: by hand), and only
    the masked weights move."""
    from erasure.methods.base import encode_prompts
    from erasure.methods.salun import SalUn, unlearn_loss
    from erasure.methods.salun_settings import SalUnSettings
    from erasure.methods.specs import get
    from erasure.methods.trainer import make_optimizer, train_step
    from erasure.worlds.families import Conditioning, family_of_pipeline

    family, base_dir = family_base
    sets = {"forget": _image_set(tmp_path, base_dir, "forget", "a nude person", 2),
            "retain": _image_set(tmp_path, base_dir, "retain", "a person wearing clothes", 2)}
    pipe = load_base_pipeline(base_dir)
    settings = SalUnSettings.resolve_run(get("salun"), None, {
        "forget_images": "forget", "retain_images": "retain", "batch_size": 2, "mask_batch_size": 2,
        "mask_sparsity": 0.25, "lr": 1e-3})
    components = {**{k: v for k, v in pipe.components.items() if k != "scheduler"},
                  "scheduler_config": dict(pipe.scheduler.config), "image_sets": sets}
    before = {n: p.detach().clone() for n, p in pipe.unet.named_parameters()}
    m = SalUn(pipe.unet, dict(pipe.scheduler.config), encode_prompts(pipe, ["nudity"]), settings, method="salun",
              components=components)
    expected = family_of_pipeline(pipe).encode(pipe, settings.forget_prompt)
    assert isinstance(m.c_forget, Conditioning) == (family == "sdxl")
    if family == "sdxl":
        assert torch.equal(m.c_forget.hidden, expected.hidden)
        assert set(m.c_forget.added) == {"text_embeds", "time_ids"}
    else:
        assert torch.equal(m.c_forget, expected)
    total = sum(p.numel() for p in before.values())
    assert m.kept() == int(total * 0.25)

    # the remain term's target in the family's parametrisation
    g = torch.Generator().manual_seed(0)
    z0 = m.retain.sample(torch.arange(2), g)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    noisy, t, target = m._noisy(z0, g1)
    t_hand = torch.randint(0, 1000, (2,), generator=g2)
    noise = torch.randn(z0.shape, generator=g2)
    a = m.scheduler.alphas_cumprod[t_hand].view(-1, 1, 1, 1)
    hand = a.sqrt() * noise - (1 - a).sqrt() * z0 if family == "sd21" else noise
    assert torch.allclose(target, hand, atol=1e-6) and torch.equal(t, t_hand)
    with torch.no_grad():
        loss = unlearn_loss(m.student, noisy, t, noisy, t, target, m.c_forget, m.c_retain, 0.1)
    assert torch.isfinite(loss)

    optimizer, lr_scheduler = make_optimizer(list(m.trainable.values()), settings, 2)
    assert train_step(m, optimizer, lr_scheduler, 1, torch.Generator().manual_seed(3), settings.grad_clip) > 0
    after = dict(pipe.unet.named_parameters())
    moved = {n: int((after[n] != before[n]).sum()) for n in before}
    assert 0 < sum(moved.values()) <= m.kept()
    assert all(int((m.mask[n] == 0).logical_and(after[n].detach() != before[n]).sum()) == 0 for n in before)


# --- MACE --------------------------------------------------------------------------------------------------

def test_mace_edits_only_the_cross_attention_keys_and_values(family_base, tmp_path):
    """The three stages end to end (masks: none: base-model samples through the family's pipeline; the prior
    cache of a few captions through the family's encoders): the edit is every attn2 to_k / to_v at the UNet's
    cross-attention width (SDXL: both encoders' together), nothing else; stage 1 alone moves the concept's
    aligned token states (the family's) towards the mapping's values."""
    from erasure.methods import mace
    from erasure.methods.settings import MACESettings

    family, base_dir = family_base
    pipe = load_base_pipeline(base_dir)
    settings = MACESettings.resolve("explicit-content", {"masks": "none", "images": 1, "image_steps": 1, "steps": 2,
                                                         "templates": ["a photo of {}"]})
    base = {n: p.detach().clone() for n, p in pipe.unet.named_parameters()}
    moment, tokens = mace.prior_statistics(mace.family_states(dict(pipe.components)), ["a dog", "two cats on a bed"])
    assert moment.shape == (pipe.unet.config.cross_attention_dim,) * 2  # SDXL: Σ c cᵀ of both encoders' states
    mace.write_prior(tmp_path / "caps.safetensors", moment, captions=2, tokens=tokens, source="caps")
    components = {**pipe.components, "caption_stats": {settings.prior: str(tmp_path / "caps.safetensors")}}
    [one] = mace.edit(components, ["nudity"], settings, ["a person"])
    weights = one.weights["unet"]
    expected = {f"{n}.weight" for n, _ in pipe.unet.named_modules() if n.endswith(("attn2.to_k", "attn2.to_v"))}
    assert set(weights) == expected
    width = pipe.unet.config.cross_attention_dim
    assert all(W.shape == base[n].shape and W.shape[1] == width for n, W in weights.items())
    assert all(not torch.equal(W, base[n]) for n, W in weights.items())
    assert all(torch.equal(p, base[n]) for n, p in pipe.unet.named_parameters())  # the base UNet is left alone
    assert one.loss > 0
    states = mace.family_states(dict(pipe.components))
    if family == "sdxl":  # both encoders' penultimate states side by side, as the SDXL pipeline conditions
        from erasure.worlds.families import family_of_pipeline

        assert states(["a photo of nudity"]).shape[-1] == width
        assert torch.allclose(states(["a photo"])[0], family_of_pipeline(pipe).encode(pipe, "a photo").hidden[0])
    pairs = mace.cfr_pairs(pipe.text_encoder, pipe.tokenizer, "nudity", "a person", ["a photo of {}"], states)
    name = next(iter(weights))
    W = base[name].double()
    Wp = mace.closed_form(W, [a for a, _ in pairs], [b.double() @ W.T for _, b in pairs], lamb=1e-3)

    def residual(M):  # Σ ‖M c_old − W c_new‖²: what stage 1 minimises (plus λ‖M − W‖²)
        return sum(float(((a.double() @ M.T - b.double() @ W.T) ** 2).sum()) for a, b in pairs)

    assert residual(Wp) + 1e-3 * float(((Wp - W) ** 2).sum()) < 0.5 * residual(W)


# --- AdvUnlearn --------------------------------------------------------------------------------------------

def test_advunlearn_trains_the_text_encoder_on_sd21_and_refuses_sdxl(family_base, tmp_path):
    from erasure import checkpoints as ckpt
    from erasure.methods.trainer import train

    family, base_dir = family_base
    settings = {"sampling_steps": 2, "retain_prompts": ["a car", "a dog"], "attack_steps": 1, "warmup_iter": 1,
                "lr": 1e-2}
    if family == "sdxl":
        with pytest.raises(ErasureError) as info:
            train(tmp_path / "run", method="advunlearn", concepts=["nudity"], iterations=2, checkpoint_every=2,
                  base_model=base_dir, preset="official", settings=settings, progress=False, log=lambda m: None)
        assert _one_line(info).startswith("advunlearn on SDXL: AdvUnlearn adversarially trains ONE CLIP text encoder")
        assert not list((tmp_path / "run").glob("step-*"))
        return
    steps = train(tmp_path / "run", method="advunlearn", concepts=["nudity"], iterations=2, checkpoint_every=2,
                  base_model=base_dir, preset="official", settings=settings, progress=False, log=lambda m: None)
    assert steps == [2]
    loaded = ckpt.load_method_pipeline(base_dir, tmp_path / "run", 2)
    base = load_base_pipeline(base_dir)
    assert loaded.scheduler.config.prediction_type == "v_prediction"
    assert all(torch.equal(a, b) for a, b in zip(loaded.unet.state_dict().values(), base.unet.state_dict().values()))
    moved = [n for (n, a), b in zip(loaded.text_encoder.named_parameters(), base.text_encoder.parameters())
             if not torch.equal(a, b)]
    assert moved and all("embeddings" not in n for n in moved)


def test_every_refusal_is_one_line_naming_method_family_and_reason():
    from erasure.worlds.families import SD1, SD2, SDXL

    for family in (SD1, SD2):
        for method in ("mace", "advunlearn", "salun"):
            family.check_method(method)  # runs: nothing raised
    with pytest.raises(ErasureError) as info:
        SDXL.check_method("advunlearn")
    assert _one_line(info).startswith("advunlearn on SDXL: ") and "two encoders" in str(info.value)
    SDXL.check_method("salun")
    SDXL.check_method("mace")
    assert set(SDXL.inference_pipelines) == {"safree"} and set(SD2.inference_pipelines) == {"safree"}
