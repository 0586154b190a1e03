"""RECE (Gong et al., ECCV 2024, arXiv 2407.12383): UCE, then rounds of "find the embedding that makes the
edited model regenerate the concept, in closed form, and erase it too".

Round r, for each erased concept with token embeddings c [L, D] (every position of the padded prompt):

    c' = argmin_x Σ_l ‖W'_l x − W_l c‖² + γ ‖x‖²  =  (γ I + Σ_l W'_lᵀ W'_l)⁻¹ Σ_l W'_lᵀ W_l c

over all attn2 to_k and to_v matrices l, W the original weights, W' the current edited ones, applied to each
token of c (CharlesGong12/RECE, utils/embedding_calculation/close_form_emb.py::close_form_emb_regzero, the
`close_regzero` choice of scripts/nudity.sh and scripts/art.sh). Then a UCE edit (erase_methods/uce.py::
edit_model_adversarial, technique "replace") erases c' towards the guide, all positions paired:

    W'' = [λ W' + η_e Σ v* c'ᵀ + η_p Σ_j (W' c_j) c_jᵀ] · [λ I + η_e Σ c' c'ᵀ + η_p Σ_j c_j c_jᵀ]⁻¹,  v* = W' c*

starting from, and preserving with, the CURRENT weights W' (`mode: sequential`, the authors' code), with the
empty prompt preserved at η_p (their `retain_texts = [' ']` when no preserved concepts are given).
Defaults are scripts/nudity.sh: γ = 0.1, 5 rounds, λ = 0.1, η_e = 1, η_p = 0.1; stage 0 is UCE's `paper`
preset (RECE starts from that script's checkpoint).

Where this differs from the authors' code:
- no model selection: train.py keeps the round with the lowest NudeNet/Q16 rate on a validation set; here
  every round's weights are returned, so the workflow can checkpoint each (a curve over rounds).
- given preserved concepts are all used; train.py samples as many of them as there are erased concepts.
- `mode: cumulative` is offered besides: each round re-edits the ORIGINAL weights with UCE's settings and
  the erased set grown by every c' so far ("add it to the erased set, edit again"), so a round's weights
  depend only on its erased set.
- float64 and `torch.linalg.solve` instead of float32 `torch.inverse` (see erasure/methods/uce.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from erasure.errors import ErasureError
from erasure.methods.settings import MODES, RECESettings  # noqa: F401
from erasure.methods.uce import (
    Keys,
    UCESettings,
    check_width,
    components_encoder,
    encode_texts,
    preserve_keys,
    projection_modules,
    projection_weights,
    resolve_uce_settings,
    uce_keys,
    uce_weights,
)


def resolve_rece_settings(overrides: Mapping | None = None) -> RECESettings:
    """Defaults, then `overrides` by name (RECESettings.resolve). Raises ErasureError for an unknown setting
    or mode, rounds < 1, γ < 0, λ ≤ 0, a negative scale or a bad stage-0 UCE preset / override."""
    return RECESettings.resolve(None, overrides)


def adversarial_embedding(edited: Mapping[str, torch.Tensor], original: Mapping[str, torch.Tensor],
                          concept: torch.Tensor, reg: float) -> torch.Tensor:
    """c' for each row of `concept` [L, D]: (γ I + Σ W'ᵀW')⁻¹ Σ W'ᵀ W c, sums over the matrices of
    `edited` ({name → W' [out, D]}) and the same names of `original`. Returns [L, D] float64.
    Raises ErasureError when the two sets of matrices differ or the system is singular (γ = 0)."""
    if set(edited) != set(original):
        raise ErasureError("RECE: edited and original weights name different matrices")
    D = concept.shape[1]
    gram = reg * torch.eye(D, dtype=torch.float64)
    cross = torch.zeros(D, D, dtype=torch.float64)
    for name, We in edited.items():
        We, Wo = We.to(torch.float64), original[name].to(torch.float64)
        gram = gram + We.T @ We
        cross = cross + We.T @ Wo
    try:
        # rows: C' = (S⁻¹ T Cᵀ)ᵀ
        adv = torch.linalg.solve(gram, cross @ concept.to(torch.float64).T).T
    except torch.linalg.LinAlgError:
        raise ErasureError(f"RECE: Σ W'ᵀW' + γI is singular (γ={reg}); use reg > 0") from None
    return adv


def adversarial_loss(edited: Mapping[str, torch.Tensor], original: Mapping[str, torch.Tensor],
                     embedding: torch.Tensor, concept: torch.Tensor) -> float:
    """Σ_l ‖W'_l x − W_l c‖² summed over tokens: how far the edited model's keys and values for the
    embedding x [L, D] are from the original model's for the concept c [L, D] (lower: x regenerates c)."""
    total = 0.0
    for name, We in edited.items():
        diff = embedding.to(torch.float64) @ We.to(torch.float64).T - concept.to(torch.float64) @ original[name].to(torch.float64).T
        total += float((diff ** 2).sum())
    return total


@dataclass
class Round:
    """One RECE round (0 = the UCE stage). `weights` {name → W [out, D] float64} after the round's edit;
    `adversarial` the c' [L, D] per erased concept it erased (none in round 0); `loss_derived` /
    `loss_concept` the adversarial loss of c' / of c itself against the weights it was derived from,
    `loss_after` that of c' against this round's weights."""

    index: int
    weights: dict[str, torch.Tensor]
    adversarial: list[torch.Tensor] = field(default_factory=list)
    loss_derived: list[float] = field(default_factory=list)
    loss_concept: list[float] = field(default_factory=list)
    loss_after: list[float] = field(default_factory=list)


def rece_rounds(original: Mapping[str, torch.Tensor], concepts: Sequence[torch.Tensor], uce_stage: Keys,
                guide: torch.Tensor, preserve: torch.Tensor, settings: RECESettings) -> list[Round]:
    """RECE on weight matrices: `original` {name → W [out, D]}; `concepts` the [L, D] embeddings of each
    erased prompt; `uce_stage` the stage-0 UCE keys; `guide` [L, D] the guide prompt's embeddings (paired
    position by position with each c'); `preserve` [N_p, D] the keys preserved in every round.
    Returns rounds 0 … settings.rounds. Raises ErasureError for bad settings or widths."""
    uce_settings = resolve_uce_settings(settings.uce_preset, settings.uce)
    original = {n: W.to(torch.float64) for n, W in original.items()}
    check_width(original, guide.shape[1])
    current = uce_weights(original, uce_stage, uce_settings)
    rounds = [Round(0, current)]
    grown = uce_stage
    for r in range(1, settings.rounds + 1):
        adv = [adversarial_embedding(current, original, c, settings.reg) for c in concepts]
        derived = [adversarial_loss(current, original, a, c) for a, c in zip(adv, concepts)]
        of_concept = [adversarial_loss(current, original, c, c) for c in concepts]
        erased = torch.cat(adv)
        guides = torch.cat([guide] * len(adv))
        if settings.mode == "sequential":
            keys = Keys(erase=erased, guide=guides, preserve=preserve)
            edit = UCESettings(lamb=settings.lamb, erase_scale=settings.erase_scale,
                               preserve_scale=settings.preserve_scale)
            current = uce_weights(current, keys, edit)
        else:
            grown = Keys(erase=torch.cat([grown.erase, erased]), guide=torch.cat([grown.guide, guides]),
                         preserve=grown.preserve)
            current = uce_weights(original, grown, uce_settings)
        after = [adversarial_loss(current, original, a, c) for a, c in zip(adv, concepts)]
        rounds.append(Round(r, current, adv, derived, of_concept, after))
    return rounds


def rece(unet, text_encoder, tokenizer, erase: Sequence[str], preserve: Sequence[str] = (),
         settings: RECESettings | None = None, *, encode=None) -> list[Round]:
    """RECE on a diffusers UNet2DConditionModel (not modified). Returns rounds 0 … settings.rounds; for
    round r, `params(round, unet)` gives its checkpoint tensors. Raises ErasureError for bad settings or
    concepts, or a text encoder whose width is not the UNet's cross-attention width. `encode` (texts -> token
    states, uce.components_encoder) replaces `text_encoder` / `tokenizer` where the family has several."""
    settings = settings or resolve_rece_settings()
    uce_settings = resolve_uce_settings(settings.uce_preset, settings.uce)
    if isinstance(erase, str) or not erase:
        raise ErasureError(f"concepts: {erase!r}: give a non-empty list of concepts to erase")
    stage0 = uce_keys(text_encoder, tokenizer, erase, preserve, uce_settings, encode=encode)
    kept = list(preserve) or list(settings.default_preserve)
    encode = encode or (lambda texts: encode_texts(text_encoder, tokenizer, texts))
    encoded = {e.text: e for e in encode(list(dict.fromkeys([*erase, settings.guide, *kept])))}
    guide = encoded[settings.guide].hidden
    D = guide.shape[1]
    preserved = torch.cat([preserve_keys(encoded[p], "all") for p in kept]) if kept else torch.zeros(0, D, dtype=torch.float64)
    return rece_rounds(projection_weights(unet), [encoded[c].hidden for c in erase], stage0, guide, preserved, settings)


def params(round_: Round, unet) -> dict[str, torch.Tensor]:
    """{parameter name → edited to_k / to_v weight} of `round_`, in the UNet's dtype on the CPU: the tensors
    of a checkpoint (same format as a fine-tuning run's)."""
    modules = projection_modules(unet)
    return {n: W.to(modules[n].weight.dtype) for n, W in round_.weights.items()}


def edit(components: Mapping, concepts: Sequence[str], settings: RECESettings, preserve: Sequence[str] = ()):
    """The closed-form interface (erasure.methods.edit): RECE on `components` (`unet`, `text_encoder`,
    `tokenizer`), one step per round (step 1 = the UCE stage). Returns [Edit({"unet": tensors}, loss)], loss
    the round's summed adversarial loss of c' (None for the UCE stage)."""
    from erasure.methods.edit import Edit

    unet = components["unet"]
    return [Edit({"unet": params(r, unet)}, sum(r.loss_derived) if r.loss_derived else None)
            for r in rece(unet, components["text_encoder"], components["tokenizer"], concepts, preserve, settings,
                          encode=components_encoder(components))]
