"""UCE (Gandikota et al., WACV 2024): a closed-form edit of every cross-attention key and value projection.

For each attn2 `to_k` / `to_v` weight W [out, D] of the UNet (Eq. 7 of the paper, arXiv 2308.14761):

    W' = [λ W + η_e Σ_i v*_i c_iᵀ + η_p Σ_j (W c_j) c_jᵀ] · [λ I + η_e Σ_i c_i c_iᵀ + η_p Σ_j c_j c_jᵀ]⁻¹

c_i: token embeddings of the erased concepts, v*_i = W c*_i those of their guide concept (the empty prompt
by default, "art" for artists), c_j: token embeddings of the preserved concepts. W' is the minimiser of
λ‖W' − W‖² + η_e Σ_i ‖W' c_i − v*_i‖² + η_p Σ_j ‖W' c_j − W c_j‖².

Which token embeddings, and the scales, follow one of the authors' two scripts (presets below):

- `paper` (the default): `train-scripts/train_erase.py::edit_model` of rohitgandikota/unified-concept-editing,
  the code released with the paper, whose checkpoints the published comparisons use (RECE starts from
  one): technique "replace", λ = 0.5 (its `__main__` passes 0.5; the function's own default 0.1 is what
  RECE's rounds use), η_e = 1, η_p = 0.1. Erased: the tokens from the concept's last subject token to the
  end of the padded sequence (EOS and padding included), paired position by position with the guide's from
  its own last subject token (the empty prompt's is BOS). Preserved: every token of each preserved prompt;
  with no preserved concepts the script preserves the empty prompt.
- `current`: `trainscripts/uce_sd_erase.py::UCE`, the repository's present script: one token per prompt,
  the last subject token (attention_mask.sum() − 2), for erased, guide and preserved prompts alike;
  λ = 0.5, η_e = 1, η_p = 1; nothing preserved unless given.

Computed in float64 with `torch.linalg.solve`, not an inverse: the right-hand matrix M is symmetric positive
definite but its condition number ≈ 1 + Σ‖c‖²/λ grows with the number and norm of the keys and as λ → 0;
LU solving is backward stable where forming M⁻¹ and multiplying amplifies rounding by cond(M). Measured on
the shipped toy base (paper preset, "a triangle"): cond(M) = 2.4e3, and the authors' float32
inverse-then-multiply differs from the float64 solve by 6e-5 relative; at λ = 1e-7 (the test of W' c_i = v*_i)
cond(M) is 5e8–2e9 on the tiny test model, beyond float32's 1/eps = 8.4e6.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from erasure.errors import ErasureError
from erasure.methods import specs
from erasure.worlds.families import SD1, ModelFamily, TokenStates, family_of_components
from erasure.methods.settings import ERASE_TOKENS, PRESERVE_TOKENS, UCE_PRESETS, UCESettings  # noqa: F401

# the checkpoint role an edit is written under (its spec's deliverable, "model"), the one generation uses
DELIVERABLE = specs.get("uce").deliverable


def resolve_uce_settings(preset: str = "paper", overrides: Mapping | None = None) -> UCESettings:
    """The preset's values, then `overrides` by name (UCESettings.resolve). Raises ErasureError for an
    unknown preset, setting or token choice, λ ≤ 0 or a negative scale."""
    return UCESettings.resolve(preset, overrides)


def check_settings(s: UCESettings) -> None:
    """UCESettings' field constraints (choices of tokens, λ > 0, scales ≥ 0) on `s`; ErasureError if broken."""
    s.check_fields()


# --- the text side ------------------------------------------------------------------------------------

# One prompt as the UNet sees it: `hidden` [L, D] float64 (L = tokenizer.model_max_length), and the index of its
# last subject token (attention_mask.sum() − 2; 0, the BOS token, for the empty prompt). The model family owns
# how a text becomes these states (erasure.worlds.families: SDXL concatenates two encoders').
Encoded = TokenStates


def encode_texts(text_encoder, tokenizer, texts: Sequence[str]) -> list[Encoded]:
    """Token embeddings of `texts` from one transformers CLIP text encoder, exactly as diffusers' SD 1.x / 2.x
    pipeline conditions the UNet on them (erasure.worlds.families.ModelFamily.token_states: padded to
    `model_max_length`, last hidden state, the attention mask passed only when the encoder's config asks).

    Returns one `Encoded` per text, `hidden` [L, D] float64 on the CPU. Raises ErasureError when `texts` is
    not a list of strings.
    """
    return SD1.token_states({"text_encoder": text_encoder, "tokenizer": tokenizer}, texts)


def components_encoder(components: Mapping) -> Callable[[Sequence[str]], list[Encoded]]:
    """texts -> their token states as the base pipeline of `components` conditions its UNet (its family's)."""
    family = family_of_components(components)
    return lambda texts: family.token_states(components, texts)


def erase_keys(concept: Encoded, guide: Encoded, tokens: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(c_i, c*_i): the erased prompt's token embeddings and the guide's they are mapped to, [n, D] each.

    "subject-to-end" pairs the concept's tokens from its last subject token with the guide's from its own,
    both cut to the same length (train_erase.py::edit_model); "last-subject" takes that one token each
    (uce_sd_erase.py::UCE); "all" pairs every position (RECE's rounds, train-erasing-closed.py).
    """
    L = concept.hidden.shape[0]
    if tokens == "all":
        return concept.hidden, guide.hidden
    i, g = concept.last_subject, guide.last_subject
    if tokens == "last-subject":
        return concept.hidden[i:i + 1], guide.hidden[g:g + 1]
    if tokens == "subject-to-end":
        far = max(i, g)
        return concept.hidden[i:L - (far - i)], guide.hidden[g:L - (far - g)]
    raise ErasureError(f"settings.erase_tokens: {tokens!r} is not one of {', '.join(ERASE_TOKENS)}")


def preserve_keys(prompt: Encoded, tokens: str) -> torch.Tensor:
    """c_j of one preserved prompt, [n, D]: every position ("all") or its last subject token."""
    if tokens == "all":
        return prompt.hidden
    if tokens == "last-subject":
        return prompt.hidden[prompt.last_subject:prompt.last_subject + 1]
    raise ErasureError(f"settings.preserve_tokens: {tokens!r} is not one of {', '.join(PRESERVE_TOKENS)}")


@dataclass(frozen=True)
class Keys:
    """Everything the edit needs from the text side, float64: erased c_i [N_e, D], their guides c*_i
    [N_e, D] (row k of each is a pair), preserved c_j [N_p, D]."""

    erase: torch.Tensor
    guide: torch.Tensor
    preserve: torch.Tensor


def uce_keys(text_encoder, tokenizer, erase: Sequence[str], preserve: Sequence[str] = (),
             settings: UCESettings = UCESettings(), guides: Sequence[str] | None = None, *,
             encode: Callable[[Sequence[str]], list[Encoded]] | None = None) -> Keys:
    """The key matrices for erasing `erase` (each towards `guides[k]`, or `settings.guide`) and
    preserving `preserve` (or `settings.default_preserve` when empty). `encode` (texts -> token states,
    `components_encoder`) replaces `text_encoder` / `tokenizer` where the family has several encoders.

    Raises ErasureError for no erased concept, a non-string concept, or a guide list of the wrong length.
    """
    check_settings(settings)
    if isinstance(erase, str) or not erase:
        raise ErasureError(f"concepts: {erase!r}: give a non-empty list of concepts to erase")
    guides = [settings.guide] * len(erase) if guides is None else list(guides)
    if len(guides) != len(erase):
        raise ErasureError(f"guides: {len(guides)} guide concepts for {len(erase)} erased concepts (give one per concept)")
    preserve = list(preserve) or list(settings.default_preserve)
    encode = encode or (lambda texts: encode_texts(text_encoder, tokenizer, texts))
    encoded = {e.text: e for e in encode(list(dict.fromkeys([*erase, *guides, *preserve])))}
    pairs = [erase_keys(encoded[c], encoded[g], settings.erase_tokens) for c, g in zip(erase, guides)]
    D = pairs[0][0].shape[1]
    kept = [preserve_keys(encoded[p], settings.preserve_tokens) for p in preserve]
    return Keys(erase=torch.cat([c for c, _ in pairs]), guide=torch.cat([g for _, g in pairs]),
                preserve=torch.cat(kept) if kept else torch.zeros(0, D, dtype=torch.float64))


# --- the UNet side ------------------------------------------------------------------------------------

def projection_modules(unet: torch.nn.Module) -> dict[str, torch.nn.Linear]:
    """Every cross-attention key / value projection: {parameter name ("….attn2.to_k.weight") → module},
    in `named_modules()` order. Raises ErasureError when there is none or one has a bias (the edit is for
    the bias-free projections of SD 1.x / 2.x / SDXL and diffusers' defaults; the model family names them:
    erasure.worlds.families.ModelFamily.cross_attention_projections)."""
    found = {}
    for name, module in ModelFamily.cross_attention_projections(unet).items():
        if not isinstance(module, torch.nn.Linear):
            raise ErasureError(f"UNet {name}: not a Linear layer ({type(module).__name__}); cannot edit it in closed form")
        if module.bias is not None:
            raise ErasureError(f"UNet {name}: has a bias; UCE edits bias-free key/value projections only")
        found[f"{name}.weight"] = module
    if not found:
        raise ErasureError("UNet: no cross-attention (attn2) to_k / to_v projections to edit")
    return found


def projection_weights(unet: torch.nn.Module) -> dict[str, torch.Tensor]:
    """{parameter name → W [out, D]} of every attn2 to_k / to_v, as float64 CPU copies."""
    return {n: m.weight.detach().to("cpu", torch.float64).clone() for n, m in projection_modules(unet).items()}


def edit_matrix(W: torch.Tensor, erase: torch.Tensor, erase_values: torch.Tensor, preserve: torch.Tensor, *,
                lamb: float, erase_scale: float, preserve_scale: float) -> torch.Tensor:
    """Eq. 7 of the UCE paper for one matrix. Keys are rows: `erase` c_i [N_e, D] with targets
    `erase_values` v*_i [N_e, out]; `preserve` c_j [N_p, D], kept at W c_j. W [out, D]. Returns W' [out, D]
    float64. Raises ErasureError when the result is not finite."""
    W, erase, erase_values, preserve = (t.to(torch.float64) for t in (W, erase, erase_values, preserve))
    D = W.shape[1]
    left = lamb * W + erase_scale * erase_values.T @ erase + preserve_scale * (W @ preserve.T) @ preserve
    right = (lamb * torch.eye(D, dtype=torch.float64) + erase_scale * erase.T @ erase
             + preserve_scale * preserve.T @ preserve)
    # W' M = A with M symmetric  <=>  M W'ᵀ = Aᵀ
    edited = torch.linalg.solve(right, left.T).T
    if not torch.isfinite(edited).all():
        raise ErasureError(f"UCE: the edit is not finite (λ={lamb}, η_e={erase_scale}, η_p={preserve_scale})")
    return edited


def check_width(weights: Mapping[str, torch.Tensor], D: int) -> None:
    for name, W in weights.items():
        if W.shape[1] != D:
            raise ErasureError(f"UNet {name}: takes {W.shape[1]}-dim text embeddings, the text encoder gives {D} "
                               "(text encoder and UNet of different models?)")


def uce_weights(weights: Mapping[str, torch.Tensor], keys: Keys, settings: UCESettings) -> dict[str, torch.Tensor]:
    """Apply `edit_matrix` to every matrix in `weights` ({name → W [out, D]}), the guide targets being
    v*_i = W c*_i of that matrix. Returns {name → W' [out, D] float64}. Raises ErasureError on a width
    mismatch between keys and weights."""
    check_settings(settings)
    check_width(weights, keys.erase.shape[1])
    out = {}
    for name, W in weights.items():
        W = W.to(torch.float64)
        out[name] = edit_matrix(W, keys.erase, keys.guide @ W.T, keys.preserve, lamb=settings.lamb,
                                erase_scale=settings.erase_scale, preserve_scale=settings.preserve_scale)
    return out


def uce(unet, text_encoder, tokenizer, erase: Sequence[str], preserve: Sequence[str] = (),
        settings: UCESettings | None = None, guides: Sequence[str] | None = None, *,
        encode: Callable[[Sequence[str]], list[Encoded]] | None = None) -> dict[str, torch.Tensor]:
    """UCE on a diffusers UNet2DConditionModel; the UNet itself is not modified.

    Returns {parameter name (as `unet.named_parameters()` spells it) → edited weight [out, D]} for exactly
    the attn2 to_k / to_v weights, in the UNet's dtype on the CPU: what a fine-tuning run's checkpoint holds
    (`erasure.checkpoints.save_checkpoint(run_dir, step, {DELIVERABLE: weights}, {}, {}, {"deliverable":
    DELIVERABLE, ...})`, loaded back by `load_method_pipeline`). Concepts are prompt strings (resolve config
    names with `erasure.methods.concepts.resolve_concepts`). Raises ErasureError for bad settings or
    concepts, or a text encoder whose width is not the UNet's cross-attention width.
    """
    settings = settings or resolve_uce_settings("paper")
    keys = uce_keys(text_encoder, tokenizer, erase, preserve, settings, guides, encode=encode)
    modules = projection_modules(unet)
    edited = uce_weights(projection_weights(unet), keys, settings)
    return {n: W.to(modules[n].weight.dtype) for n, W in edited.items()}


def edit(components: Mapping, concepts: Sequence[str], settings: UCESettings, preserve: Sequence[str] = ()):
    """The closed-form interface (erasure.methods.edit): UCE on `components` (the base pipeline's: `unet`,
    `text_encoder`, `tokenizer`), one step. Returns [Edit({"unet": {parameter name → W' [out, D]}})]."""
    from erasure.methods.edit import Edit

    unet = components["unet"]
    return [Edit({"unet": uce(unet, components["text_encoder"], components["tokenizer"], concepts, preserve, settings,
                              encode=components_encoder(components))})]
