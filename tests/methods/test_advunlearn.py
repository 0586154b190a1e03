"""AdvUnlearn (erasure/methods/advunlearn.py) against OPTML-Group/AdvUnlearn @ 9d23124: the trained parameters
are the authors' `text_encoder_full` rule (counted on SD v1.4's text encoder on the meta device); the soft-token
encoding, the prefix layout, the unlearning loss (ESD's target with η), the retain term and its weight, and the
attack's objective and step each as their code computes them; a run's checkpoint holds text-encoder tensors
only and loads with the base UNet."""

import pytest
import torch
import torch.nn.functional as F

from erasure import checkpoints as ckpt
from erasure.errors import ErasureError
from erasure.methods import advunlearn as au
from erasure.methods import specs
from erasure.methods.base import encode_prompts
from erasure.methods.presets import AdvUnlearnSettings
from erasure.methods.trainer import train
from erasure.models import load_base_pipeline

RETAIN = ["a circle", "a square", "a red shape"]


@pytest.fixture(scope="module")
def pipe(tiny_base):
    return load_base_pipeline(tiny_base)


def settings(**over):
    spec = specs.get("advunlearn")
    base = {"sampling_steps": 3, "retain_prompts": RETAIN, "attack_steps": 2, "warmup_iter": 1}
    return AdvUnlearnSettings.resolve_run(spec, "official", {**base, **over})


def method(pipe, **over):
    s = settings(**over)
    prompts = encode_prompts(pipe, ["a triangle"], s.retain_prompts)
    comps = {k: v for k, v in pipe.components.items() if k != "scheduler"}
    import copy

    comps["text_encoder"] = copy.deepcopy(pipe.text_encoder)
    return au.AdvUnlearn(pipe.unet, dict(pipe.scheduler.config), prompts, s, method="advunlearn", components=comps)


def test_official_preset_is_the_readme_command_and_argparse_defaults():
    s = settings()
    assert (s.lr, s.weight_decay, s.lr_schedule, s.grad_clip, s.sampling_steps, s.guidance, s.negative_guidance) == (
        1e-5, 0.0, "constant", 0.0, 3, 3.0, 1.0)
    assert (s.retain_weight, s.retain_batch, s.attack_lr, s.adv_tokens, s.attack_method) == (0.3, 5, 1e-3, 1, "pgd")
    full = AdvUnlearnSettings.resolve_run(specs.get("advunlearn"), "official", {"retain_prompts": RETAIN})
    assert (full.attack_steps, full.warmup_iter, full.sampling_steps) == (30, 200, 50)
    with pytest.raises(ErasureError, match="needs retain_weight > 0 and retain_prompts"):
        AdvUnlearnSettings.resolve_run(specs.get("advunlearn"), "official", {})
    with pytest.raises(ErasureError, match="settings.attack_method"):
        settings(attack_method="fgsm")


def test_encode_embeds_equals_the_encoder_on_token_embeddings(pipe):
    ids = pipe.tokenizer(["a triangle", "a red circle"], padding="max_length",
                         max_length=pipe.tokenizer.model_max_length, return_tensors="pt").input_ids
    table = au.text_model(pipe.text_encoder).embeddings.token_embedding.weight
    with torch.no_grad():
        assert torch.allclose(au.encode_embeds(pipe.text_encoder, table[ids]), pipe.text_encoder(ids)[0], atol=1e-6)


def test_prefix_layout_is_sot_adv_prompt_then_the_rest():
    L, D = 8, 3
    tokens = torch.arange(L * D, dtype=torch.float32).reshape(1, L, D)
    adv = -torch.ones(1, 2, D)
    out = au.prefix_embeds(tokens, adv, n_prompt=2)
    assert out.shape == (1, L, D)
    assert torch.equal(out[:, 0], tokens[:, 0]) and torch.equal(out[:, 1:3], adv)
    assert torch.equal(out[:, 3:5], tokens[:, 1:3]) and torch.equal(out[:, 5:], tokens[:, 3:6])


def test_trained_parameters_are_text_encoder_full(pipe):
    m = method(pipe)
    names = {ckpt.split_key(k)[1] for k in m.trainable}
    assert all(k.startswith("text_encoder:") for k in m.trainable)
    assert names == {n for n, _ in m.text_encoder.named_parameters() if "embeddings" not in n}
    assert not any(p.requires_grad for p in pipe.unet.parameters())


def sd14_text_encoder():
    from accelerate import init_empty_weights
    from transformers import CLIPTextConfig, CLIPTextModel

    # CompVis/stable-diffusion-v1-4 text_encoder/config.json (CLIP ViT-L/14's text tower)
    with init_empty_weights():
        return CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072,
                                            num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=77,
                                            projection_dim=768, hidden_act="quick_gelu"))


def test_on_sd14_the_authors_rule_selects_85m_of_123m():
    te = sd14_text_encoder()
    ours = au.authors_trainable(te)
    # utils/util.py::param_choices over text_model.named_parameters(), 'text_encoder_full', component 'all'
    theirs = [n for n, _ in au.text_model(te).named_parameters()
              if n.startswith("final_layer_norm") or n.startswith("encoder")]
    assert sorted(n.removeprefix("text_model.") for n in ours) == sorted(theirs)
    n_ours, n_all = sum(p.numel() for p in ours.values()), sum(p.numel() for p in te.parameters())
    assert (n_ours, n_all) == (85_056_000, 123_060_480)
    print(f"SD v1.4 text encoder: AdvUnlearn trains {n_ours:,} of {n_all:,} parameters")


def fixed(m, z, t):
    """draw_zt returning one z_t and t: the losses become deterministic functions of the weights."""
    m.draw_zt = lambda cond, generator, index=None, batch=1: (z[:1].expand(batch, -1, -1, -1), t, 0)


def test_unlearn_loss_is_esd_with_eta(pipe):
    m = method(pipe, negative_guidance=1.0)
    z, t = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(0)), 500
    context = m.prompts.concepts[0]
    with torch.no_grad():
        e0 = pipe.unet(z, t, encoder_hidden_states=m.prompts.uncond).sample
        ep = pipe.unet(z, t, encoder_hidden_states=m.prompts.concepts[0]).sample
        want = F.mse_loss(ep, e0 - 1.0 * (ep - e0))
        assert torch.allclose(m.unlearn_loss(z, t, 0, context), want)
        m.settings = settings(negative_guidance=2.0)
        assert torch.allclose(m.unlearn_loss(z, t, 0, context), F.mse_loss(ep, e0 - 2.0 * (ep - e0)))


def test_loss_adds_the_retain_term_with_its_weight(pipe):
    z, t = torch.randn(5, 4, 4, 4, generator=torch.Generator().manual_seed(1)), 400
    losses = {}
    for w in (0.3, 1.0):
        m = method(pipe, retain_weight=w, warmup_iter=100)
        fixed(m, z, t)
        # a perturbed encoder, so that the retain term is not zero
        with torch.no_grad():
            for p in m.trainable.values():
                p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(2)))
        g = torch.Generator().manual_seed(5)
        total = m.loss(1, g)
        base = m.token_embeds(m.ids[0])
        unlearn = m.unlearn_loss(z[:1], t, 0, au.encode_embeds(m.text_encoder, base))
        g = torch.Generator().manual_seed(5)
        au.draw(1, g)  # the concept draw that loss() made first
        retain = m.retain_loss(0, g)
        assert retain > 0
        assert torch.allclose(total, unlearn + w * retain, rtol=1e-5)
        losses[w] = float(total)
    assert losses[1.0] > losses[0.3]


@pytest.mark.parametrize("attack_method", ["pgd", "fast_at"])
def test_attack_lowers_its_objective_and_leaves_the_encoder_gradients(pipe, attack_method):
    m = method(pipe, attack_steps=1, attack_lr=0.05, attack_method=attack_method)
    z, t = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(3)), 300
    fixed(m, z, t)
    c = m.prompts.concepts[0]
    base = m.token_embeds(m.ids[0])

    def objective(adv):
        with torch.no_grad():
            ctx = au.encode_embeds(m.text_encoder, au.prefix_embeds(base, adv, m.n_tokens[0]))
            return float(F.mse_loss(pipe.unet(z, t, encoder_hidden_states=ctx).sample,
                                    pipe.unet(z, t, encoder_hidden_states=c).sample))

    first = m.attack(0, torch.Generator().manual_seed(9))
    m.settings = settings(attack_steps=40, attack_lr=0.05, attack_method=attack_method)
    last = m.attack(0, torch.Generator().manual_seed(9))  # the same random initial token
    assert objective(last) < 0.8 * objective(first)
    assert all(p.grad is None for p in m.trainable.values())
    # one step: Adam's first step is −lr · sign(∇) of ‖ε(z, E(δ ⊕ c)) − ε(z, E₀(c))‖², the gradient by hand
    m.settings = settings(attack_steps=1, attack_lr=0.05, attack_method=attack_method)
    table = au.text_model(m.text_encoder).embeddings.token_embedding.weight
    init = table[torch.randint(0, table.shape[0], (1, 1), generator=torch.Generator().manual_seed(9))].detach()
    adv = init.clone().requires_grad_(True)
    ctx = au.encode_embeds(m.text_encoder, au.prefix_embeds(base, adv, m.n_tokens[0]))
    with torch.no_grad():
        target = pipe.unet(z, t, encoder_hidden_states=c).sample
    (grad,) = torch.autograd.grad(F.mse_loss(pipe.unet(z, t, encoder_hidden_states=ctx).sample, target), [adv])
    step = m.attack(0, torch.Generator().manual_seed(9)) - init
    big = grad.abs() > 1e-3 * grad.abs().max()
    assert torch.equal(torch.sign(step)[big], -torch.sign(grad)[big])
    assert torch.allclose(step.abs()[big], torch.full_like(step, 0.05)[big], rtol=1e-2)


def test_a_run_checkpoints_the_text_encoder_and_loads_with_the_base_unet(tiny_base, tmp_path):
    steps = train(tmp_path / "run", method="advunlearn", concepts=["triangle"], iterations=3, checkpoint_every=3,
                  base_model=tiny_base, preset="official",
                  settings={"sampling_steps": 2, "retain_prompts": RETAIN, "attack_steps": 1, "warmup_iter": 1,
                            "lr": 1e-2}, progress=False, log=lambda m: None)
    assert steps == [3]
    loaded = ckpt.load_method_pipeline(tiny_base, tmp_path / "run", 3)
    base = load_base_pipeline(tiny_base)
    assert all(torch.equal(a, b) for a, b in zip(loaded.unet.state_dict().values(), base.unet.state_dict().values()))
    moved = [n for (n, a), b in zip(loaded.text_encoder.named_parameters(), base.text_encoder.parameters())
             if not torch.equal(a, b)]
    assert moved and all("embeddings" not in n for n in moved)
