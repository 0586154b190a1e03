"""SAFREE (Yoon et al., "SAFREE: Training-Free and Adaptive Guard for Safe Text-to-Image and Video
Generation", ICLR 2025): the prompt's trigger tokens projected away from the concept subspace, for as many
denoising steps as the self-validation filter allows. Training-free: the base model's weights are unchanged.

Faithful to jaehong31/SAFREE@b8b2c3fa9d7f51c46f5a570170503fc98bd9c7ec (2025-01-23):
models/modified_stable_diffusion_pipeline.py (`projection_matrix`, `safree_projection`,
`projection_and_orthogonal`, `f_beta`, `_masked_encode_prompt`, `_new_encode_negative_prompt_space`,
`__call__`), generate_safree.py (argparse defaults, the nudity concept list, `negative_prompt =
", ".join(negative_prompt_space)`), scripts/run_nudity.sh (`--safree -svf -lra`). With D the text width,
L the tokenizer's length and n the prompt's real tokens (BOS / EOS excluded):

- concept subspace: C [D, K] = the pooled (EOS) text embeddings of the K concept texts (padded to L, with
  the attention mask); P_c = C (CᵀC)⁺ Cᵀ (`projection_matrix`).
- masked prompts: p_i [D] = the pooled embedding of the prompt with token i replaced by id 0 (`padding=
  "longest"`, no attention mask), i = 1..n; P_m = the projection onto span{p_i}.
- trigger tokens (`safree_projection`): d_i = ‖(I − P_c) p_i‖; token i is a trigger when
  d_i ≥ (1 + α) · mean_{j≠i} d_j (masking it moves the prompt farthest from the concept subspace).
- projection: each trigger token's embedding e_i [D] (last hidden state) becomes (I − P_c) P_m e_i; every
  other position (BOS, safe tokens, padding) is kept.
- self-validation (`-svf`): β = 1 − mean over the attended positions of cos((I − P_c) P_m e_t, e_t), every
  position projected (`projection_and_orthogonal`); the projected embedding conditions denoising steps
  i ≤ round(up_t · σ(2k(10β − t))) (`f_beta`, sigmoid; nudity t = 5.333, k = 2.5), the original after.
  Without it, steps re_attn_t[0] ≤ i ≤ re_attn_t[1].
- CFG's unconditional branch is the concept texts joined with ", " (generate_safree.py passes it as
  `negative_prompt`), as SD+NEG does.

Where we differ, and why:

- Latent re-attention (`-lra`) changes no image in the authors' code, so we run none: generate_safree.py
  calls `register_free_upblock2d(pipe, b1, b2, s1, s2)` / `register_free_crossattn_upblock2d(...)`
  (free_lunch_utils.py) without `safree=`, so each patched up block takes the branch
  `else: NotImplementedError("Not implemented")` (built, not raised) and applies no Fourier filter, and
  `--freeu_hyp 1.0-1.0-0.9-0.2` gives b1 = b2 = 1 (backbone features unscaled); the third batch item that
  `-lra` adds to the UNet call is dropped by `noise_pred.chunk(3)`. The paper's filter (Sec. 3.3) is thus
  not what the released code runs; tests/generate/test_safree.py pins the branch we read.
- Their `__call__` draws one prompt at a time (`batch_size = 1`); we compute the projection, the trigger
  tokens and the self-validated step count per prompt of a batch, so a batch gives each prompt's image
  the authors' would (per-item step counts through `callback_on_step_end`).
- An empty prompt (n = 0; their code takes the mean of nothing) keeps its embedding at every step.
- Scheduler and step count are the harness's protocol (config `generation.sampling`), as for every method;
  the authors sample with DPM-Solver++ at 50 steps. Self-validation counts steps as they do (step index i,
  not a fraction of the schedule).

Families (erasure.worlds.families): SD 1.x and SD 2.x run `SAFREEStableDiffusionPipeline` (a
StableDiffusionPipeline, as SD 2.x's is; SAFREE changes only the text embedding, so the prediction type is
irrelevant; SD 2.x's converted OpenCLIP-H encoder gives the pooled and last hidden states the same way).
SDXL runs `SAFREEStableDiffusionXLPipeline`, the authors' own SDXL port
(models/modified_stable_diffusion_xl_pipeline.py, scripts/run_nudity_sdxl.sh: `--safree`, no `-svf`):

- the projection acts on the SECOND encoder's part of prompt_embeds only (`text_embeddings =
  _cat_text_embeddings[..., 768:]`, written back into `[..., 768:]`): the first encoder's channels, the pooled
  embedding (add_text_embeds) and the time ids are unchanged;
- the concept subspace and the masked prompts are text_encoder_2's pooled PROJECTION (`text_embeds`: the
  third value of `_new_encode_prompt`; `_masked_encode_prompt` returns `text_encoder_2(masked_ids)[0]`),
  tokenised by tokenizer_2;
- no self-validation: their SDXL `__call__` reads only `re_attn_t` (steps re_attn_t[0] ≤ i ≤ re_attn_t[1]),
  whatever `self_validation` says; with the default (−1, 1001) every step is projected.
  (Their concept texts are encoded without the attention mask; CLIP's causal mask makes the EOS state, which
  is the pooled one, independent of the padding after it, so this is the same vector.)

Text-encoder calls are all in `_pooled` (the model-family adapter's one entry point for them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

from erasure.methods.concepts import SAFREE_NUDITY as NUDITY_CONCEPTS  # noqa: F401 (the authors' subspace)


def projection_matrix(E: torch.Tensor) -> torch.Tensor:
    """P = E (EᵀE)⁺ Eᵀ [D, D]: the orthogonal projection onto the column space of `E` [D, K] (float32).
    Source: modified_stable_diffusion_pipeline.py::projection_matrix."""
    return E @ torch.linalg.pinv(E.T @ E) @ E.T


def trigger_tokens(masked: torch.Tensor, concept_projection: torch.Tensor, alpha: float) -> torch.Tensor:
    """bool [n]: which of the prompt's n real tokens are triggers. `masked` [n, D]: the pooled embedding of
    the prompt with token i masked; token i is a trigger when d_i = ‖(I − P_c) p_i‖ is at least (1 + α) times
    the mean of the other d_j (safree_projection's `rm_vector == 0`; a one-token prompt: the mean of nothing is
    NaN, the comparison false, the token a trigger, as theirs)."""
    n, dim = masked.shape
    orthogonal = torch.eye(dim, dtype=masked.dtype, device=masked.device) - concept_projection
    distance = torch.linalg.vector_norm(orthogonal @ masked.T, dim=0)
    others = torch.stack([torch.cat((distance[:i], distance[i + 1:])).mean() for i in range(n)])
    return ~(distance < (1.0 + alpha) * others)


def project(embeddings: torch.Tensor, masked_projection: torch.Tensor, concept_projection: torch.Tensor) -> torch.Tensor:
    """(I − P_c) P_m e for every row e of `embeddings` [L, D] -> [L, D] (safree_projection's `new_text_e`,
    projection_and_orthogonal's)."""
    dim = embeddings.shape[-1]
    orthogonal = torch.eye(dim, dtype=embeddings.dtype, device=embeddings.device) - concept_projection
    return (orthogonal @ masked_projection @ embeddings.T).T


def f_beta(beta: float, up_t: int, midpoint: float, slope: float) -> int:
    """The last denoising step (index) that uses the projected embedding: round(up_t · σ(2k(10β − t)))
    (modified_stable_diffusion_pipeline.py::f_beta, btype "sigmoid", sigmoid_scale 2; Python's round)."""
    return round(up_t * (1.0 / (1.0 + math.exp(-(2.0 * slope * (10.0 * beta - midpoint))))))


@dataclass
class Projected:
    """One prompt's SAFREE embeddings: `embeds` [L, D] (trigger tokens projected), `triggers` bool [n],
    `beta` (self-validation's 1 − cosine; None without it), and the steps [first, last] that use `embeds`."""

    embeds: torch.Tensor
    triggers: torch.Tensor
    beta: float | None
    first: int
    last: int


def _pooled(text_encoder, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """The text encoder's pooled output [N, D] of token ids [N, L']: the EOS token's final hidden state
    (CLIPTextModel's pooler_output), or its projection where the encoder has one (CLIPTextModelWithProjection's
    text_embeds: SDXL's text_encoder_2, what the authors' SDXL pipeline pools)."""
    out = text_encoder(ids.to(text_encoder.device),
                       attention_mask=None if attention_mask is None else attention_mask.to(text_encoder.device))
    pooled = getattr(out, "text_embeds", None)
    return (out.pooler_output if pooled is None else pooled).float()


@torch.no_grad()
def concept_projection(tokenizer, text_encoder, concepts: Sequence[str]) -> torch.Tensor:
    """P_c [D, D] float32 of the concept texts (_new_encode_negative_prompt_space: padded to the tokenizer's
    length, with the attention mask, pooled output)."""
    tokens = tokenizer(list(concepts), padding="max_length", max_length=tokenizer.model_max_length,
                       truncation=True, return_tensors="pt")
    return projection_matrix(_pooled(text_encoder, tokens.input_ids, tokens.attention_mask).T)


@torch.no_grad()
def safree_prompt(tokenizer, text_encoder, prompt: str, embeds: torch.Tensor, concept_proj: torch.Tensor,
                  settings) -> Projected:
    """SAFREE for one prompt: `embeds` [L, D] its text embedding (the pipeline's own, last hidden state),
    `concept_proj` P_c [D, D] float32, `settings` erasure.methods.settings.SAFREESettings. The result's
    embeds have `embeds`' dtype."""
    length = tokenizer.model_max_length
    ids = tokenizer(prompt, padding="longest", return_tensors="pt").input_ids[:, :length]
    n = ids.shape[1] - 2
    original = embeds.float()
    if n <= 0:  # nothing to project (their code would average an empty tensor)
        return Projected(embeds, torch.zeros(0, dtype=torch.bool), None, 0, -1)
    masked_ids = ids.repeat(n, 1)
    for i in range(n):
        masked_ids[i, i + 1] = settings.mask_token_id
    masked = _pooled(text_encoder, masked_ids)
    masked_proj = projection_matrix(masked.T)
    triggers = trigger_tokens(masked, concept_proj, settings.alpha)
    projected_all = project(original, masked_proj, concept_proj)
    replace = torch.zeros(original.shape[0], dtype=torch.bool)
    replace[1:n + 1] = triggers.cpu()
    merged = torch.where(replace[:, None].to(original.device), projected_all, original)
    beta = None
    first, last = settings.re_attn_t
    if settings.self_validation:
        attended = tokenizer(prompt, padding="max_length", max_length=length, truncation=True,
                             return_tensors="pt").attention_mask[0].bool().to(original.device)
        cosine = torch.nn.functional.cosine_similarity(projected_all[attended], original[attended])
        beta = 1.0 - cosine.mean().item()
        first, last = 0, f_beta(beta, settings.up_t, settings.svf_midpoint, settings.svf_slope)
    return Projected(merged.to(embeds.dtype), triggers, beta, int(first), int(last))


class _SAFREESteps:
    """What both SAFREE pipelines share: each prompt's conditioning swapped between projected and original at
    the step-end callback (`_safree_original` / `_safree_projected` [B, L, D], `safree_last`, set by the
    subclass's encode_prompt)."""

    safree_concepts: tuple[str, ...]
    safree_settings: object  # erasure.methods.settings.SAFREESettings
    safree_last: list[Projected]  # the last batch's per-image results (set by encode_prompt)

    def _conditioning(self, step: int) -> torch.Tensor:
        """[B, L, D]: each prompt's projected embedding where `step` is within its [first, last], else its own."""
        use = torch.tensor([p.first <= step <= p.last for p in self.safree_last], device=self._safree_original.device)
        return torch.where(use[:, None, None], self._safree_projected, self._safree_original)

    def __call__(self, *args, callback_on_step_end=None, callback_on_step_end_tensor_inputs=("latents",), **kwargs):
        inputs = list(dict.fromkeys([*callback_on_step_end_tensor_inputs, "prompt_embeds"]))

        def on_step_end(pipe, step, timestep, tensors):
            if callback_on_step_end is not None:
                tensors = callback_on_step_end(pipe, step, timestep, tensors)
            embeds = tensors["prompt_embeds"]
            n = self._safree_original.shape[0]
            cond = self._conditioning(step + 1).to(embeds.dtype)  # the embedding of the next step
            tensors["prompt_embeds"] = torch.cat([embeds[:-n], cond]) if embeds.shape[0] > n else cond
            return tensors

        return super().__call__(*args, callback_on_step_end=on_step_end,
                                callback_on_step_end_tensor_inputs=inputs, **kwargs)


class SAFREEStableDiffusionPipeline(_SAFREESteps, StableDiffusionPipeline):
    """StableDiffusionPipeline (SD 1.x, SD 2.x) whose prompt embeddings are SAFREE's: `encode_prompt` projects
    each prompt's trigger tokens, and the step-end callback swaps each prompt's conditional embedding between
    projected and original at the steps self-validation gives. Set `safree_concepts` and `safree_settings`
    first."""

    def encode_prompt(self, prompt, device, num_images_per_prompt, do_classifier_free_guidance,
                      negative_prompt=None, prompt_embeds=None, negative_prompt_embeds=None, lora_scale=None,
                      clip_skip=None):
        if prompt is None:
            raise ValueError("SAFREE needs the prompt text (its tokens are masked one at a time), not prompt_embeds")
        cond, uncond = super().encode_prompt(prompt, device, num_images_per_prompt, do_classifier_free_guidance,
                                             negative_prompt, prompt_embeds, negative_prompt_embeds,
                                             lora_scale=lora_scale, clip_skip=clip_skip)
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        concept_proj = concept_projection(self.tokenizer, self.text_encoder, self.safree_concepts).to(cond.device)
        per_prompt = [safree_prompt(self.tokenizer, self.text_encoder, text, cond[i * num_images_per_prompt],
                                    concept_proj, self.safree_settings) for i, text in enumerate(prompts)]
        self.safree_last = [p for p in per_prompt for _ in range(num_images_per_prompt)]
        self._safree_original = cond
        self._safree_projected = torch.stack([p.embeds for p in self.safree_last])
        return self._conditioning(0), uncond


class SAFREEStableDiffusionXLPipeline(_SAFREESteps, StableDiffusionXLPipeline):
    """StableDiffusionXLPipeline whose prompt embeddings are SAFREE's as the authors' SDXL pipeline makes them
    (module docstring): trigger tokens of text_encoder_2's part of prompt_embeds projected, with
    text_encoder_2's pooled projections spanning the concept and masked-prompt subspaces, over steps
    re_attn_t (no self-validation). Set `safree_concepts` and `safree_settings` first."""

    def encode_prompt(self, prompt, prompt_2=None, device=None, num_images_per_prompt=1,
                      do_classifier_free_guidance=True, negative_prompt=None, negative_prompt_2=None,
                      prompt_embeds=None, negative_prompt_embeds=None, pooled_prompt_embeds=None,
                      negative_pooled_prompt_embeds=None, lora_scale=None, clip_skip=None):
        import dataclasses

        if prompt is None:
            raise ValueError("SAFREE needs the prompt text (its tokens are masked one at a time), not prompt_embeds")
        cond, uncond, pooled, uncond_pooled = super().encode_prompt(
            prompt, prompt_2, device, num_images_per_prompt, do_classifier_free_guidance, negative_prompt,
            negative_prompt_2, prompt_embeds, negative_prompt_embeds, pooled_prompt_embeds,
            negative_pooled_prompt_embeds, lora_scale=lora_scale, clip_skip=clip_skip)
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        first = cond.shape[-1] - self.text_encoder_2.config.hidden_size  # the first encoder's width (768)
        # their SDXL __call__ reads re_attn_t only (no svf)
        settings = dataclasses.replace(self.safree_settings, self_validation=False)
        tokenizer, encoder = self.tokenizer_2, self.text_encoder_2
        concept_proj = concept_projection(tokenizer, encoder, self.safree_concepts).to(cond.device)
        per_prompt = []
        for i, text in enumerate(prompts):
            own = cond[i * num_images_per_prompt]
            part = safree_prompt(tokenizer, encoder, text, own[:, first:], concept_proj, settings)
            part.embeds = torch.cat([own[:, :first], part.embeds], dim=-1)
            per_prompt.append(part)
        self.safree_last = [p for p in per_prompt for _ in range(num_images_per_prompt)]
        self._safree_original = cond
        self._safree_projected = torch.stack([p.embeds for p in self.safree_last])
        return self._conditioning(0), uncond, pooled, uncond_pooled


def build(name, kind, base, concepts, settings):
    """SAFREE on the base pipeline: the concepts span the subspace and, joined with ", ", are CFG's negative
    prompt (generate_safree.py)."""
    from erasure.generate.pipelines import MethodPipeline, concept_text

    from erasure.worlds.families import family_of_pipeline

    pipe = family_of_pipeline(base).compose("safree", base)  # the family's SAFREE pipeline (SD 1.x / 2.x, SDXL)
    pipe.safree_concepts = tuple(concepts)
    pipe.safree_settings = settings
    return MethodPipeline(name, kind, pipe, negative_prompt=concept_text(concepts),
                          extra={"safree": settings.to_json(), "concepts": list(concepts)})
