"""MACE (erasure/methods/mace.py) against Shilin-LU/MACE @ 057e7a6: the closed-form equation is the minimiser of
its objective and equals the authors' sums written out; token alignment, concept positions and the attention
loss as their code computes them; the LoRA stage lowers that loss and trains only rank-1 attn2 to_k / to_v
adapters; the three stages on the tiny model; what it trains on SD v1.4 equals the authors' layer rule."""

import numpy as np
import pytest
import torch

from erasure.errors import ErasureError
from erasure.methods import mace, specs
from erasure.methods.edit import edit_steps
from erasure.methods.params import count, trainable_names
from erasure.methods.settings import MACE_TEMPLATES, MACESettings
from erasure.models import load_base_pipeline


def objective(Wp, W, contexts, values, lamb, P, PV, ps):
    """λ‖W' − W‖² + Σ_k ‖C_k W'ᵀ − V_k‖² + η_p ‖P W'ᵀ − P W₀ᵀ‖² (rows are tokens)."""
    total = lamb * ((Wp - W) ** 2).sum()
    for C, V in zip(contexts, values):
        total = total + ((C @ Wp.T - V) ** 2).sum()
    return total + ps * ((P @ Wp.T - PV) ** 2).sum()


@pytest.fixture
def problem():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(6, 5, generator=g, dtype=torch.float64)
    contexts = [torch.randn(3, 5, generator=g, dtype=torch.float64) for _ in range(2)]
    values = [torch.randn(3, 6, generator=g, dtype=torch.float64) for _ in range(2)]
    P = torch.randn(4, 5, generator=g, dtype=torch.float64)
    return W, contexts, values, P, P @ torch.randn(6, 5, generator=g, dtype=torch.float64).T


@pytest.mark.parametrize("lamb,ps", [(0.5, 0.0), (0.0, 0.3), (2.0, 1.5)])
def test_closed_form_minimises_its_objective_and_matches_the_authors_sums(problem, lamb, ps):
    W, contexts, values, P, PV = problem
    Wp = mace.closed_form(W, contexts, values, lamb=lamb, preserve=P, preserve_values=PV, preserve_scale=ps)
    # first-order optimality: the gradient of the objective vanishes at W'
    Wv = Wp.clone().requires_grad_(True)
    objective(Wv, W, contexts, values, lamb, P, PV, ps).backward()
    assert Wv.grad.abs().max() < 1e-9
    # closed_form_refinement's mat1 @ inverse(mat2), the bmm sums written out in numpy
    mat1, mat2 = lamb * W.numpy(), lamb * np.eye(5)
    for C, V in zip(contexts, values):
        mat1 = mat1 + V.numpy().T @ C.numpy()
        mat2 = mat2 + C.numpy().T @ C.numpy()
    mat1, mat2 = mat1 + ps * PV.numpy().T @ P.numpy(), mat2 + ps * P.numpy().T @ P.numpy()
    np.testing.assert_allclose(Wp.numpy(), mat1 @ np.linalg.inv(mat2), rtol=1e-9, atol=1e-10)
    # a wrong equation is caught: e.g. dropping λW from the left (λ = 0 excepted) moves W' off the optimum
    if lamb:
        wrong = (mat1 - lamb * W.numpy()) @ np.linalg.inv(mat2)
        assert np.abs(wrong - Wp.numpy()).max() > 1e-3


def test_closed_form_adds_the_prior_cache_as_the_authors_sums(problem):
    """closed_form_refinement with cache_dict: mat1 += scale · for_mat1, mat2 += scale · for_mat2, where the
    cache's for_mat1 / for_mat2 are Σ (W₀c) cᵀ / Σ c cᵀ over the caption tokens (prior_terms)."""
    W, contexts, values, P, _ = problem
    g = torch.Generator().manual_seed(1)
    tokens = torch.randn(40, 5, generator=g, dtype=torch.float64)
    W0 = torch.randn(6, 5, generator=g, dtype=torch.float64)
    moment = tokens.T @ tokens
    for_mat1, for_mat2 = mace.prior_terms(W0, moment)
    np.testing.assert_allclose(for_mat1.numpy(), sum(np.outer(W0.numpy() @ c, c) for c in tokens.numpy()),
                               rtol=1e-10)
    Wp = mace.closed_form(W, contexts, values, lamb=0.0, prior=(for_mat1, for_mat2), prior_scale=0.3)
    mat1 = sum(V.numpy().T @ C.numpy() for C, V in zip(contexts, values)) + 0.3 * for_mat1.numpy()
    mat2 = sum(C.numpy().T @ C.numpy() for C in contexts) + 0.3 * for_mat2.numpy()
    np.testing.assert_allclose(Wp.numpy(), mat1 @ np.linalg.inv(mat2), rtol=1e-9, atol=1e-10)
    # the same as preserving the caption tokens themselves at W₀ (the cache is a sum over them)
    same = mace.closed_form(W, contexts, values, lamb=0.0, preserve=tokens, preserve_values=tokens @ W0.T,
                            preserve_scale=0.3)
    np.testing.assert_allclose(Wp.numpy(), same.numpy(), rtol=1e-8, atol=1e-10)
    # λ = 0 with 6 context tokens for 5 dims is solvable; the cache also pins the rest to W₀: with no context
    # at all, W' = W₀ exactly
    alone = mace.closed_form(W, [], [], lamb=0.0, prior=(for_mat1, for_mat2), prior_scale=1e-9)
    np.testing.assert_allclose(alone.numpy(), W0.numpy(), rtol=1e-6, atol=1e-8)


def test_closed_form_singular_is_one_line():
    with pytest.raises(ErasureError, match="singular.*settings.lamb"):
        mace.closed_form(torch.eye(3), [torch.ones(1, 3)], [torch.ones(1, 3)], lamb=0.0)


def test_matching_indices_as_find_matching_indices():
    # "<bos> nudity in a photo <eos>" vs "<bos> a person wearing clothes in a photo <eos>", padded to 12
    old, new = [0, 9, 4, 5, 6, 1], [0, 5, 7, 8, 3, 4, 5, 6, 1]
    oi, ni = mace.matching_indices(old, new, 12)
    # prefix [0]; suffix "in a photo <eos>" = old 2..5, new 5..8; then padding, the longer one cut
    assert oi == [0, 2, 3, 4, 5, 6, 7, 8]
    assert ni == [0, 5, 6, 7, 8, 9, 10, 11]
    assert len(oi) == len(ni)


@pytest.fixture(scope="module")
def pipe(tiny_base):
    return load_base_pipeline(tiny_base)


def test_concept_positions_take_the_word_and_every_eos(pipe):
    tok = pipe.tokenizer
    ids = tok("a red triangle", padding="max_length", max_length=tok.model_max_length).input_ids
    pos = mace.concept_positions(tok, "a red triangle", "triangle", use_pooler=True)
    assert pos.tolist() == [i == 3 or t == tok.eos_token_id for i, t in enumerate(ids)]
    assert mace.concept_positions(tok, "a red triangle", "triangle", use_pooler=False).sum() == 1
    with pytest.raises(ErasureError, match="not a token run"):
        mace.concept_positions(tok, "a red circle", "triangle", use_pooler=True)


def test_attention_loss_is_the_masked_frobenius_norm():
    rec = mace.AttentionRecorder()
    g = torch.Generator().manual_seed(1)
    probs = [torch.rand(2, 16, 5, generator=g), torch.rand(2, 4, 5, generator=g)]
    rec.probs = list(probs)
    mask = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    mask[..., :2, :] = True
    pos = torch.tensor([False, True, False, False, True])
    m2 = torch.tensor([True, True, False, False])  # nearest 4x4 -> 2x2: the top row
    want = torch.linalg.norm(probs[0][:, mask.view(-1)][:, :, pos]) + torch.linalg.norm(probs[1][:, m2][:, :, pos])
    assert torch.allclose(rec.loss(mask, pos), want)
    want_all = sum(torch.linalg.norm(p[:, :, pos]) for p in probs)
    assert torch.allclose(rec.loss(None, pos), want_all)


class _World:
    """A renderer for the tiny model's 8x8 images: the concept fills the top half."""

    name = "stub"

    def concept_masks(self, concept, n, seed):
        rng = np.random.default_rng(seed)
        masks = np.zeros((n, 8, 8), bool)
        masks[:, :4] = True
        return rng.integers(0, 255, (n, 8, 8, 3), dtype=np.uint8), masks


def settings(**over):
    """The preset at the tiny model's size; without the prior cache unless a test gives one (`prior`)."""
    base = dict(mapping=["shape"], templates=["a {}", "a {} shape"], masks="world", lamb=1.0, steps=3, images=2,
                prior="")
    return MACESettings.resolve("explicit-content", {**base, **over})


def test_lora_stage_lowers_the_attention_loss_and_trains_rank_one_kv(pipe):
    s = settings(lr=0.05, steps=1)
    images = torch.rand(2, 3, 8, 8) * 2 - 1
    masks = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    masks[:, :, :4] = True
    losses = []
    for steps in (1, 30):
        deltas, loss = mace.train_lora(pipe.unet, pipe.text_encoder, pipe.tokenizer, pipe.vae, pipe.scheduler.config,
                                       "triangle", images, masks, MACESettings.build({**s.to_json(), "steps": steps}),
                                       torch.Generator().manual_seed(0))
        losses.append(loss)
    assert set(deltas) == set(mace.projection_modules(pipe.unet))
    assert all(torch.linalg.matrix_rank(d) <= 1 for d in deltas.values())
    assert sum(bool(d.abs().max() > 0) for d in deltas.values()) >= len(deltas) // 2
    assert losses[1] < 0.9 * losses[0]
    assert not any("lora" in n for n, _ in pipe.unet.named_parameters())  # the base UNet is left alone


def test_three_stages_on_the_tiny_model(pipe):
    base = {n: p.detach().clone() for n, p in pipe.unet.named_parameters()}
    comps = {**pipe.components, "world": _World()}
    [one] = mace.edit(comps, ["triangle", "red"], settings(), ["a circle"])
    weights = one.weights["unet"]
    assert set(weights) == set(mace.projection_modules(pipe.unet))
    assert all(not torch.equal(weights[n], base[n]) for n in weights)
    assert all(torch.equal(p, base[n]) for n, p in pipe.unet.named_parameters())
    assert one.loss > 0
    # stage 1 alone with λ → 0 and nothing preserved maps the concept's aligned tokens onto the mapping's values
    # (one prompt: its ≤ 16 aligned tokens can all be mapped exactly with the tiny model's 16-dim keys)
    pairs = mace.cfr_pairs(pipe.text_encoder, pipe.tokenizer, "triangle", "shape", ["a {}"])
    name = next(iter(weights))
    W = base[name].double()
    Wp = mace.closed_form(W, [a for a, _ in pairs], [b.double() @ W.T for _, b in pairs], lamb=1e-8)
    for a, b in pairs:
        assert float((a.double() @ Wp.T - b.double() @ W.T).abs().max()) < 1e-4
    # masks: none samples the base model (the authors' no-mask branch); grounded-sam segments the samples with
    # its backbones (tests/methods/test_grounded_sam.py), one missing is one line naming its settings key
    [none] = mace.edit({**pipe.components}, ["triangle"], settings(masks="none", image_steps=2), [])
    assert set(none.weights["unet"]) == set(weights)
    with pytest.raises(ErasureError, match=r"^settings.gsam_detector \(or \$ERASURE_GROUNDING_DINO\): "):
        mace.edit({**pipe.components}, ["triangle"],
                  settings(masks="grounded-sam", image_steps=1, gsam_detector="/nonexistent/grounding-dino"), [])


def test_settings_presets_and_spec():
    spec = specs.get("mace")
    assert spec.kind == specs.CLOSED_FORM and spec.subsets == ("attn2-kv",) and spec.deliverable == "model"
    s = MACESettings.resolve("explicit-content")
    # configs/explicit_content/erase_explicit_content.yaml @ 057e7a6
    assert (s.lamb, s.train_preserve_scale, s.fuse_preserve_scale, s.rank, s.lr, s.steps) == (
        0.0, 7e-7, 7e-7, 1, 1e-5, 120)
    assert s.mapping == ("a person wearing clothes",) and s.use_pooler and not s.importance_sampling
    assert len(MACE_TEMPLATES) == 30 and s.masks == "grounded-sam"
    o = MACESettings.resolve("object")
    assert (o.lamb, o.steps, o.importance_sampling, o.mapping) == (1e3, 50, True, ("ground",))
    assert edit_steps("mace", 1, 1) == [1]
    with pytest.raises(ErasureError, match="iterations: 2: a mace run is one edit"):
        edit_steps("mace", 2, 1)
    with pytest.raises(ErasureError, match="settings.masks"):
        MACESettings.resolve("explicit-content", {"masks": "sam"})


def authors_ca_layers(unet):
    """src/cfr_utils.py::get_ca_layers(unet, with_to_k=True) @ 057e7a6, over module names."""
    names = []
    for top, net in unet.named_children():
        if "up" in top or "down" in top:
            for b, block in enumerate(net):
                if "Cross" in block.__class__.__name__:
                    for a, attn in enumerate(block.attentions):
                        for t, _ in enumerate(attn.transformer_blocks):
                            names.append(f"{top}.{b}.attentions.{a}.transformer_blocks.{t}.attn2")
        if "mid" in top:
            for a, attn in enumerate(net.attentions):
                for t, _ in enumerate(attn.transformer_blocks):
                    names.append(f"{top}.attentions.{a}.transformer_blocks.{t}.attn2")
    return {f"{n}.{p}.weight" for n in names for p in ("to_v", "to_k")}


@pytest.mark.parametrize("model", ["sd14_unet", "toy_unet"])
def test_what_it_trains_equals_the_authors_rule(model, request):
    unet = request.getfixturevalue(model)
    ours = set(trainable_names(unet, "mace"))
    assert ours == authors_ca_layers(unet)
    params = dict(unet.named_parameters())
    n_kv = count(params[n] for n in ours)
    # the LoRA stage: rank 1 on each of those matrices, (in + out) parameters each
    n_lora = sum(params[n].shape[0] + params[n].shape[1] for n in ours)
    if model == "sd14_unet":
        # 16 attn2 layers (out width 320 ×5, 640 ×5, 1280 ×6), to_k and to_v each [out, 768]
        assert len(ours) == 32
        assert n_kv == 2 * 768 * (5 * 320 + 5 * 640 + 6 * 1280) == 19_169_280
        assert n_lora == 2 * (5 * 320 + 5 * 640 + 6 * 1280) + 32 * 768 == 49_536
    print(f"{model}: mace edits {len(ours)} matrices, {n_kv} parameters; its LoRAs train {n_lora} per concept")


# --- the prior-preservation cache (src/cache_coco.py) -------------------------------------------------

CAPTIONS = ["a red circle on the grass", "two dogs", "a striped square", "a cat on a mat", "the sky"]


def hand_moment(pipe, texts):
    """Σ c cᵀ over every position of every caption, one caption at a time, in numpy."""
    tok, total = pipe.tokenizer, 0.0
    for text in texts:
        ids = tok([text], padding="max_length", max_length=tok.model_max_length, truncation=True,
                  return_tensors="pt").input_ids
        with torch.no_grad():
            states = pipe.text_encoder(ids)[0][0].double().numpy()  # [L, D]
        total = total + sum(np.outer(c, c) for c in states)
    return total


def test_prior_statistics_equal_a_hand_computation(pipe, tmp_path):
    L, D = pipe.tokenizer.model_max_length, pipe.text_encoder.config.hidden_size
    moment, tokens = mace.prior_statistics(mace.family_states(pipe.components), CAPTIONS, batch_size=2)
    assert moment.shape == (D, D) and moment.dtype == torch.float64 and tokens == len(CAPTIONS) * L
    np.testing.assert_allclose(moment.numpy(), hand_moment(pipe, CAPTIONS), rtol=1e-5, atol=1e-6)
    # every caption counts: dropping one is seen
    assert np.abs(moment.numpy() - hand_moment(pipe, CAPTIONS[:-1])).max() > 1e-3
    # the file: atomic, the umask's mode, read back exactly; metadata says what it holds
    import os

    from safetensors import safe_open

    old = os.umask(0o027)
    try:
        mace.write_prior(tmp_path / "c.safetensors", moment, captions=len(CAPTIONS), tokens=tokens, source="caps")
    finally:
        os.umask(old)
    path = tmp_path / "c.safetensors"
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)
    assert torch.equal(mace.read_prior(path, D), moment)
    with safe_open(str(path), "pt") as handle:
        assert handle.metadata()["captions"] == "5" and handle.metadata()["tokens"] == str(tokens)
    with pytest.raises(ErasureError, match=r"^settings.prior: .* holds a \(\d+, \d+\) moment.*\b7-dim"):
        mace.read_prior(path, 7)
    with pytest.raises(ErasureError, match=r"^settings.prior: caption statistics .*missing.safetensors do not exist"):
        mace.read_prior(tmp_path / "missing.safetensors", D)
    torn = tmp_path / "torn.safetensors"
    torn.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ErasureError, match=r"torn.safetensors: unreadable caption statistics \(settings.prior\)"):
        mace.read_prior(torn, D)


def test_caption_stats_job_writes_the_statistics(tiny_base, pipe, tmp_path):
    """workflow_scripts/caption_stats.py: the prompt table's captions through the base's text encoder."""
    import importlib.util

    import pandas as pd

    spec = importlib.util.spec_from_file_location("caption_stats", "workflow_scripts/caption_stats.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    table = tmp_path / "caps.csv"
    pd.DataFrame({"prompt_id": [f"p{i}" for i in range(len(CAPTIONS))], "prompt": CAPTIONS, "seed": 0,
                  "guidance": 5.0}).to_csv(table, index=False)
    out = tmp_path / "stats" / "caps.safetensors"
    script.main(out, tmp_path / "log.txt", prompts=str(table), name="caps", base_model=tiny_base)
    got = mace.read_prior(out, pipe.text_encoder.config.hidden_size)
    np.testing.assert_allclose(got.numpy(), hand_moment(pipe, CAPTIONS), rtol=1e-5, atol=1e-6)


def test_the_refinement_and_fusion_read_the_cache_at_the_authors_scales(pipe, tmp_path, monkeypatch):
    """Stage 1 adds the cache at train_preserve_scale² (cfr_lora_training.py scales cache_dict by it, then
    closed_form_refinement by preserve_scale = train_preserve_scale again), stage 3 at fuse_preserve_scale; the
    terms are (W₀ Σ c cᵀ, Σ c cᵀ) with W₀ the base's weights. Fails if the term is dropped or a scale changed."""
    moment, tokens = mace.prior_statistics(mace.family_states(pipe.components), CAPTIONS)
    mace.write_prior(tmp_path / "caps.safetensors", moment, captions=len(CAPTIONS), tokens=tokens, source="caps")
    calls = []
    original = mace.closed_form

    def recording(W, contexts, values, **kw):
        calls.append(kw)
        return original(W, contexts, values, **kw)

    monkeypatch.setattr(mace, "closed_form", recording)
    comps = {**pipe.components, "world": _World(), "caption_stats": {"caps": str(tmp_path / "caps.safetensors")}}
    s = settings(prior="caps", lamb=0.0, train_preserve_scale=3e-3, fuse_preserve_scale=5e-2, steps=1)
    [one] = mace.edit(comps, ["triangle"], s, [])
    W0 = {n: m.weight.detach().double() for n, m in mace.projection_modules(pipe.unet).items()}
    assert len(calls) == 2 * len(W0)
    for kw, scale in zip((calls[0], calls[len(W0)]), (3e-3 ** 2, 5e-2)):
        assert kw["prior_scale"] == pytest.approx(scale, rel=1e-12)
    for kw, W in zip(calls[:len(W0)], W0.values()):  # stage 1, in projection_modules' order
        torch.testing.assert_close(kw["prior"][1], moment)
        torch.testing.assert_close(kw["prior"][0], W @ moment)
    for kw, W in zip(calls[len(W0):], W0.values()):  # stage 3: still the base's W₀ (their cache's)
        torch.testing.assert_close(kw["prior"][0], W @ moment)
    # and the edit depends on it: the same run without the cache gives other weights
    monkeypatch.setattr(mace, "closed_form", original)
    [bare] = mace.edit({**comps}, ["triangle"], settings(prior="", lamb=0.0, train_preserve_scale=3e-3,
                                                         fuse_preserve_scale=5e-2, steps=1), [])
    assert max(float((one.weights["unet"][n] - bare.weights["unet"][n]).abs().max()) for n in W0) > 1e-4


def test_a_missing_cache_is_one_line(pipe):
    with pytest.raises(ErasureError, match=r"^settings.prior: 'coco-captions': no caption statistics given"):
        mace.edit({**pipe.components, "world": _World()}, ["triangle"], settings(prior="coco-captions"), [])
    assert MACESettings.resolve("explicit-content").prior == "coco-captions"  # their cache_coco.pt
    assert MACESettings.resolve("object").prior == ""  # erase_ship.yaml: prior_preservation_cache_path false
