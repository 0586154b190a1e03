"""Model families: ONE adapter object per network family (SD 1.x, SD 2.x, SDXL) that owns everything the rest of
the code base must not assume about the network: the diffusers pipeline class, how a prompt becomes the UNet's
conditioning (including SDXL's pooled text embeddings and time ids), the UNet call itself, the prediction type
(ε or v) and how a training target is written in it, the cross-attention projections a closed-form edit
changes, the latent and image size, the dtype rules, and which inference-time pipelines (SLD, SEGA) exist for it.

Reached through the world boundary (`erasure.worlds.model_family`, `family_of`, `predict`, ...): methods, the
z_t sampler, attacks, generation and the base loader call these; nothing outside `erasure/worlds/` names a
pipeline class, calls `encode_prompt` or calls a UNet (tests/test_families.py greps for it).

Prediction types (diffusers' `scheduler.config.prediction_type`; DDPM notation, ᾱ_t = alphas_cumprod[t],
α = √ᾱ_t, σ = √(1 − ᾱ_t), z_t = α x₀ + σ ε):

- "epsilon" (SD 1.x, SDXL): the UNet predicts ε.
- "v_prediction" (SD 2.x at 768 px; Salimans & Ho 2022, Eq. after (3); diffusers'
  `DDPMScheduler.get_velocity`): the UNet predicts v = α ε − σ x₀. At a FIXED z_t, ε = α v + σ z_t (substitute
  x₀ = (z_t − σ ε)/α into v and use α² + σ² = 1), an affine map of v with the same offset σ z_t for every
  prediction at that z_t. Hence any combination Σ_k w_k ε_k with Σ_k w_k = 1 is the same combination of the
  v_k: CFG's ε_∅ + s (ε_c − ε_∅) (weights 1 − s, s), ESD's target ε_∅ − η (ε_c − ε_∅) (weights 1 + η, −η),
  and SDD's target ε_∅ (weight 1) are written in v with the SAME formula, and the minimiser of each method's
  loss is unchanged; the loss value in v is the ε loss divided by α² = ᾱ_t at that timestep
  (ε_a − ε_b = α (v_a − v_b)). Training in the model's own output follows diffusers' training scripts
  (train_text_to_image.py: `target = noise_scheduler.get_velocity(latents, noise, timesteps)` for v). A target
  that is NOT such an affine combination (a constant, or the noise that was added: UnlearnDiffAtk's
  reconstruction loss) must be converted: `training_target` gives the added noise's counterpart in the model's
  parametrisation (ε itself, or v = α ε − σ x₀).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from erasure.errors import ErasureError
from erasure.worlds.hub_ids import HUB_IDS

# -- conditioning ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Conditioning:
    """What the UNet is conditioned on: `hidden` [B, L, D] (encoder_hidden_states, the text encoder's token
    states; SDXL: both encoders' penultimate states concatenated, D = 768 + 1280 = 2048) and `added` the
    added conditions (`added_cond_kwargs`; {} for SD 1.x / 2.x; SDXL: text_embeds [B, 1280], the second
    encoder's pooled projection, and time_ids [B, 6], (original H, W, crop top, left, target H, W)).

    Duck-types the tensor it replaces where methods handle it (`expand(n, -1, -1)`, `device`, `dtype`,
    `shape`, `to`), so a method written for SD 1.x embeddings runs unchanged."""

    hidden: torch.Tensor
    added: Mapping[str, torch.Tensor] = field(default_factory=dict)

    def expand(self, n: int, *rest) -> Conditioning:
        """Broadcast a batch of one to `n` (the trailing arguments, as torch.Tensor.expand's, are ignored)."""
        return Conditioning(self.hidden.expand(n, -1, -1),
                            {k: v.expand(n, *v.shape[1:]) for k, v in self.added.items()})

    def to(self, *args, **kwargs) -> Conditioning:
        return Conditioning(self.hidden.to(*args, **kwargs), {k: v.to(*args, **kwargs) for k, v in self.added.items()})

    def detach(self) -> Conditioning:
        return Conditioning(self.hidden.detach(), {k: v.detach() for k, v in self.added.items()})

    @property
    def device(self) -> torch.device:
        return self.hidden.device

    @property
    def dtype(self) -> torch.dtype:
        return self.hidden.dtype

    @property
    def shape(self) -> torch.Size:
        return self.hidden.shape


def conditioning(value) -> Conditioning:
    """`value` as a Conditioning: a bare tensor [B, L, D] is SD 1.x / 2.x's encoder_hidden_states."""
    return value if isinstance(value, Conditioning) else Conditioning(value)


def concat(values: Sequence) -> Conditioning | torch.Tensor:
    """Conditionings (or bare tensors) concatenated along the batch; bare tensors stay a tensor."""
    if all(torch.is_tensor(v) for v in values):
        return torch.cat(list(values))
    items = [conditioning(v) for v in values]
    keys = set(items[0].added)
    if any(set(c.added) != keys for c in items):
        raise ErasureError("conditionings of different model families in one batch")
    return Conditioning(torch.cat([c.hidden for c in items]), {k: torch.cat([c.added[k] for c in items]) for k in keys})


def predict(unet, latents: torch.Tensor, timestep, cond) -> torch.Tensor:
    """The UNet's output (ε or v, its scheduler's prediction_type) for `latents` [B, C, h, w] at `timestep`
    (an int or a [B] tensor) conditioned on `cond` (a Conditioning or encoder_hidden_states [B, L, D]).
    The one UNet call of the code base outside the diffusers pipelines' own loops."""
    if torch.is_tensor(cond):
        return unet(latents, timestep, encoder_hidden_states=cond).sample
    if cond.added:
        return unet(latents, timestep, encoder_hidden_states=cond.hidden, added_cond_kwargs=dict(cond.added)).sample
    return unet(latents, timestep, encoder_hidden_states=cond.hidden).sample


def training_target(scheduler, x0: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """The model output that reconstructs `noise` added to `x0` at `timesteps` ([B] long, or an int): ε itself
    for "epsilon", v = √ᾱ_t ε − √(1 − ᾱ_t) x₀ for "v_prediction" (diffusers `get_velocity`, see the module
    docstring). Raises ErasureError for another prediction type ("sample")."""
    kind = getattr(scheduler.config, "prediction_type", "epsilon")
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        t = torch.as_tensor(timesteps, device=x0.device).reshape(-1).expand(x0.shape[0])
        a = scheduler.alphas_cumprod.to(device=x0.device, dtype=torch.float32)[t].view(-1, *([1] * (x0.dim() - 1)))
        return (a.sqrt() * noise.float() - (1 - a).sqrt() * x0.float()).to(noise.dtype)
    raise ErasureError(f"scheduler prediction_type {kind!r}: only epsilon and v_prediction are supported")


def compose(cls, base, **overrides):
    """Pipeline class `cls` built from `base`'s components (only those its constructor takes), no safety
    checker, `overrides` on top, progress bar off."""
    import inspect

    accepted = set(inspect.signature(cls.__init__).parameters)
    components = {k: v for k, v in base.components.items() if k in accepted}
    # SDXL's constructor has no safety_checker
    components.update({k: None for k in ("safety_checker", "feature_extractor") if k in accepted}, **overrides)
    if "requires_safety_checker" in accepted:
        components["requires_safety_checker"] = False
    if "image_encoder" in accepted:
        components.setdefault("image_encoder", None)
    pipe = cls(**components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


# -- token states for closed-form edits --------------------------------------------------------------------


@dataclass(frozen=True)
class TokenStates:
    """One prompt as the UNet's cross-attention sees it: `hidden` [L, D] float64 on the CPU
    (L = the tokenizer's model_max_length), and the index of its last subject token
    (attention_mask.sum() − 2; 0, the BOS token, for the empty prompt)."""

    text: str
    hidden: torch.Tensor
    last_subject: int


def _tokens(tokenizer, texts: list[str]):
    return tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                     return_tensors="pt")


def _check_texts(texts) -> None:
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise ErasureError(f"concepts: {texts!r} is not a list of strings")


# -- the families ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelFamily:
    """A network family. `name` the config / docs name; `pipeline_class` diffusers' text-to-image pipeline;
    `hub_ids` {hub id: pinned revision (a commit of the hub repository, loaded from `snapshots/<commit>/`
    whatever refs/main names; None: not pinned, refs/main), from erasure.worlds.hub_ids, where each commit's
    source is quoted}; `prediction_type` the
    family's released checkpoints' (the scheduler config of a loaded base is what counts); `image_size` the
    native resolution in pixels; `inference_pipelines` {inference kind: diffusers class} of the inference-time
    methods that exist for it; `not_supported` {kind or method: why not, one line}."""

    name: str
    title: str
    pipeline_class: str
    hub_ids: Mapping[str, str | None]
    prediction_type: str
    image_size: int
    text_encoders: tuple[str, ...] = ("text_encoder",)
    inference_pipelines: Mapping[str, str] = field(default_factory=dict)
    not_supported: Mapping[str, str] = field(default_factory=dict)

    # -- the pipeline -------------------------------------------------------------------------------------
    def pipeline(self):
        """diffusers' pipeline class of this family."""
        import diffusers

        return getattr(diffusers, self.pipeline_class)

    def load_kwargs(self, dtype: torch.dtype) -> dict:
        """`from_pretrained` keyword arguments: the dtype, and no safety checker (SD 1.x / 2.x ship one)."""
        kwargs = dict(dtype=dtype)  # `torch_dtype`: deprecated
        if self.pipeline_class == "StableDiffusionPipeline":
            kwargs.update(safety_checker=None, requires_safety_checker=False)
        return kwargs

    def assemble(self, components: Mapping):
        """This family's text-to-image pipeline built from a base pipeline's `components` (those its
        constructor takes: unet, vae, text encoder(s), tokenizer(s), scheduler), no safety checker. For a
        method handed components rather than a pipeline (MACE's base-model samples, SalUn's prompts)."""
        from types import SimpleNamespace

        return compose(self.pipeline(), SimpleNamespace(components=dict(components)))

    def compose(self, kind: str, base):
        """The diffusers pipeline of inference-time kind `kind` ("sld", "sega") built from `base`'s
        components (those its constructor takes), no safety checker. Raises ErasureError (one line saying
        why) where diffusers has no such pipeline for this family."""
        import importlib

        if kind not in self.inference_pipelines:
            why = self.not_supported.get(kind, f"no {kind} pipeline for {self.title}")
            raise ErasureError(f"inference method kind {kind!r} on {self.title}: {why}")
        module, _, name = self.inference_pipelines[kind].rpartition(".")
        return compose(getattr(importlib.import_module(module), name), base)

    # -- sizes --------------------------------------------------------------------------------------------
    @staticmethod
    def latent_shape(unet) -> tuple[int, int, int]:
        """(C, h, w) of the UNet's latents at its configured sample size."""
        config = unet.config
        return (int(config.in_channels), int(config.sample_size), int(config.sample_size))

    def pixels(self, pipe) -> int:
        """The image side in pixels the pipeline draws by default (latent side x the VAE's scale factor)."""
        return int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)

    # -- prompts ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, pipe, text: str) -> Conditioning | torch.Tensor:
        """The conditioning the pipeline itself gives `text` (what generation conditions on), batch 1.
        SD 1.x / 2.x: encoder_hidden_states [1, L, D] as a bare tensor (what SD 1.x methods always held)."""
        embeds, _ = pipe.encode_prompt(text, pipe.device, 1, False)
        return embeds.detach()

    def unconditional(self, pipe) -> Conditioning | torch.Tensor:
        """The conditioning of CFG's unconditional branch as the pipeline builds it for no negative prompt."""
        return self.encode(pipe, "")

    @torch.no_grad()
    def token_states(self, components: Mapping, texts: Sequence[str]) -> list[TokenStates]:
        """Token states of `texts` exactly as the pipeline conditions the UNet on them (padded to
        `model_max_length`, the text encoder's last hidden state, the attention mask passed only when the
        encoder's config asks for it: diffusers `StableDiffusionPipeline.encode_prompt` with clip_skip None).
        SD 2.x's converted OpenCLIP-H text encoder has 23 layers, so its last state is OpenCLIP's penultimate
        layer, as the original SD 2 code conditions on. One TokenStates per text, float64 on the CPU.
        Raises ErasureError when `texts` is not a list of strings."""
        _check_texts(texts)
        if not texts:
            return []
        tokenizer, text_encoder = components["tokenizer"], components["text_encoder"]
        tokens = _tokens(tokenizer, list(texts))
        device = next(text_encoder.parameters()).device
        mask = tokens.attention_mask
        kwargs = {}
        if getattr(text_encoder.config, "use_attention_mask", False):
            kwargs["attention_mask"] = mask.to(device)
        hidden = text_encoder(tokens.input_ids.to(device), **kwargs)[0].detach().to("cpu", torch.float64)
        return [TokenStates(t, hidden[k], int(mask[k].sum()) - 2) for k, t in enumerate(texts)]

    # -- the network --------------------------------------------------------------------------------------
    @staticmethod
    def cross_attention_projections(unet: torch.nn.Module) -> dict[str, torch.nn.Module]:
        """Every cross-attention key / value projection {module name ("….attn2.to_k") → module}, in
        `named_modules()` order: diffusers names the text cross-attention `attn2` in every
        BasicTransformerBlock of SD 1.x, 2.x and SDXL."""
        return {name: module for name, module in unet.named_modules()
                if name.rsplit(".", 2)[-2:-1] == ["attn2"] and name.endswith((".to_k", ".to_v"))}

    def check_method(self, method: str) -> None:
        """Raise ErasureError (one line: the method, this family, why) where `method` (a spec name) does not
        run on this family (`not_supported[method]`); the methods call it before any work."""
        if method in self.not_supported:
            raise ErasureError(f"{method} on {self.title}: {self.not_supported[method]}")

    def whitebox_text(self) -> str | None:
        """Why the white-box attack (one text encoder whose token embeddings it relaxes) does not apply, or None."""
        return self.not_supported.get("unlearndiffatk")


SLD_CLASS = "diffusers.pipelines.deprecated.stable_diffusion_safe.StableDiffusionPipelineSafe"
SEGA_CLASS = "diffusers.SemanticStableDiffusionPipeline"
# SAFREE (jaehong31/SAFREE): the authors' StableDiffusionPipeline subclass (SD 1.x and SD 2.x, which share the
# pipeline) and their StableDiffusionXLPipeline one (models/modified_stable_diffusion_xl_pipeline.py); ours in
# erasure/generate/inference/safree.py
SAFREE_CLASS = "erasure.generate.inference.safree.SAFREEStableDiffusionPipeline"
SAFREE_XL_CLASS = "erasure.generate.inference.safree.SAFREEStableDiffusionXLPipeline"
_SD1_ONLY = "diffusers ships the {} pipeline for SD 1.x only ({}; its loop calls the UNet without added conditions)"

SD1 = ModelFamily(
    name="sd1", title="SD 1.x", pipeline_class="StableDiffusionPipeline",
    hub_ids=HUB_IDS["sd1"],
    prediction_type="epsilon", image_size=512,
    inference_pipelines={"sld": SLD_CLASS, "sega": SEGA_CLASS, "safree": SAFREE_CLASS},
)


SD2 = ModelFamily(
    name="sd2", title="SD 2.x", pipeline_class="StableDiffusionPipeline",
    # (stable-diffusion-2-1-base predicts ε at 512 px: it loads as the SD 1.x family's behaviour, by its scheduler)
    hub_ids=HUB_IDS["sd2"],
    prediction_type="v_prediction", image_size=768,
    not_supported={
        "sld": "SLD's element-wise safety threshold and guidance scale are set in ε units (diffusers' "
               "StableDiffusionPipelineSafe, SD 1.x); SD 2.x's v-differences are ε's / √ᾱ_t, so its presets "
               "would be another method",
        "sega": "SEGA's edit momentum accumulates guidance over timesteps in the UNet's output units (diffusers' "
                "SemanticStableDiffusionPipeline, SD 1.x); SD 2.x's v-differences are ε's / √ᾱ_t, so its "
                "defaults would be another method",
    },
    inference_pipelines={"safree": SAFREE_CLASS},
)


@dataclass(frozen=True)
class _SDXL(ModelFamily):
    """SDXL: two text encoders (CLIP ViT-L, OpenCLIP bigG), their penultimate states concatenated
    (D = 2048) as encoder_hidden_states, the second's pooled projection and the size / crop time ids as added
    conditions (diffusers StableDiffusionXLPipeline.encode_prompt / _get_add_time_ids / __call__)."""

    @torch.no_grad()
    def encode(self, pipe, text: str) -> Conditioning:
        embeds, _, pooled, _ = pipe.encode_prompt(text, device=pipe.device, num_images_per_prompt=1,
                                                  do_classifier_free_guidance=False)
        return Conditioning(embeds.detach(), {"text_embeds": pooled.detach(), "time_ids": self.time_ids(pipe, embeds.dtype)})

    def unconditional(self, pipe) -> Conditioning:
        # StableDiffusionXLPipeline: no negative prompt and force_zeros_for_empty_prompt (SDXL base's
        # model_index.json: true) -> zeros for both the token states and the pooled embedding
        if getattr(pipe.config, "force_zeros_for_empty_prompt", False):
            cond = self.encode(pipe, "")
            return Conditioning(torch.zeros_like(cond.hidden),
                                {"text_embeds": torch.zeros_like(cond.added["text_embeds"]),
                                 "time_ids": cond.added["time_ids"]})
        return self.encode(pipe, "")

    def time_ids(self, pipe, dtype: torch.dtype) -> torch.Tensor:
        """[1, 6]: (original H, W, crop top, left, target H, W) as the pipeline's defaults make them (original =
        target = the default image size, no crop), float `dtype`, on the pipeline's device."""
        size = self.pixels(pipe)
        return torch.tensor([[size, size, 0, 0, size, size]], dtype=dtype, device=pipe.device)

    @torch.no_grad()
    def token_states(self, components: Mapping, texts: Sequence[str]) -> list[TokenStates]:
        """Both encoders' penultimate hidden states, concatenated along the width ([L, 768 + 1280]), as
        StableDiffusionXLPipeline.encode_prompt builds prompt_embeds (clip_skip None: hidden_states[-2]);
        the last subject index from the first tokenizer's mask (both tokenizers split alike)."""
        _check_texts(texts)
        if not texts:
            return []
        parts, mask = [], None
        for tok_key, enc_key in (("tokenizer", "text_encoder"), ("tokenizer_2", "text_encoder_2")):
            tokenizer, encoder = components[tok_key], components[enc_key]
            tokens = _tokens(tokenizer, list(texts))
            mask = tokens.attention_mask if mask is None else mask
            device = next(encoder.parameters()).device
            out = encoder(tokens.input_ids.to(device), output_hidden_states=True)
            parts.append(out.hidden_states[-2].detach().to("cpu", torch.float64))
        hidden = torch.cat(parts, dim=-1)
        return [TokenStates(t, hidden[k], int(mask[k].sum()) - 2) for k, t in enumerate(texts)]


SDXL = _SDXL(
    name="sdxl", title="SDXL", pipeline_class="StableDiffusionXLPipeline",
    hub_ids=HUB_IDS["sdxl"],
    prediction_type="epsilon", image_size=1024, text_encoders=("text_encoder", "text_encoder_2"),
    not_supported={
        "sld": _SD1_ONLY.format("SLD", "StableDiffusionPipelineSafe"),
        "sega": _SD1_ONLY.format("SEGA", "SemanticStableDiffusionPipeline"),
        "unlearndiffatk": "UnlearnDiffAtk relaxes the tokens of ONE text encoder; SDXL conditions on two and on "
                          "a pooled embedding (the authors' attack is for SD 1.x)",
        # training-time methods (their spec names), refused by ModelFamily.check_method before any work
        "advunlearn": "AdvUnlearn adversarially trains ONE CLIP text encoder (OPTML-Group/AdvUnlearn@9d23124, "
                      "SD 1.x only); SDXL conditions on two encoders and a pooled projection, and which to train "
                      "(and attack) is a choice its authors never made",
    },
    inference_pipelines={"safree": SAFREE_XL_CLASS},
)

FAMILIES: dict[str, ModelFamily] = {f.name: f for f in (SD1, SD2, SDXL)}


def get_family(name: str) -> ModelFamily:
    if name not in FAMILIES:
        raise ErasureError(f"model family {name!r}: not one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


def family_of(unet, scheduler_config: Mapping | None = None) -> ModelFamily:
    """The family of a loaded network: SDXL where the UNet takes text-and-time added conditions
    (`addition_embed_type` "text_time"), else SD 2.x where the scheduler predicts v, else SD 1.x."""
    config = unet.config if hasattr(unet, "config") else unet
    if getattr(config, "addition_embed_type", None) == "text_time" or (
            isinstance(config, Mapping) and config.get("addition_embed_type") == "text_time"):
        return SDXL
    if scheduler_config is not None and dict(scheduler_config).get("prediction_type") == "v_prediction":
        return SD2
    return SD1


def family_of_pipeline(pipe) -> ModelFamily:
    return family_of(pipe.unet, pipe.scheduler.config)


def family_of_components(components: Mapping) -> ModelFamily:
    """The family of a pipeline's components (`unet`, and `scheduler` or `scheduler_config`)."""
    scheduler = components.get("scheduler_config")
    if scheduler is None and components.get("scheduler") is not None:
        scheduler = components["scheduler"].config
    return family_of(components["unet"], scheduler)


def family_of_source(source: str | Path) -> ModelFamily:
    """The family of a base before loading it: from a local diffusers directory's (or cached hub snapshot's)
    model_index.json `_class_name` and scheduler config, else from the hub ids the families know, else SD 1.x."""
    from erasure.hub import hub_snapshot, is_hub_id
    from erasure.worlds.hub_ids import pinned_revision

    folder = Path(str(source)).expanduser()
    if not folder.is_dir() and is_hub_id(str(source)):  # the snapshot the loader reads: the pinned one if pinned
        found = hub_snapshot(str(source), pinned_revision(str(source)))
        folder = found.folder if found else folder
    index = folder / "model_index.json"
    if index.is_file():
        try:
            name = json.loads(index.read_text()).get("_class_name")
            scheduler = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
        except (OSError, ValueError):
            name, scheduler = None, {}
        if name == SDXL.pipeline_class:
            return SDXL
        if scheduler.get("prediction_type") == "v_prediction":
            return SD2
        return SD1
    for family in FAMILIES.values():
        if str(source) in family.hub_ids:
            return family
    return SD1
