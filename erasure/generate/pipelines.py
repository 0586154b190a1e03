"""The pipelines that generate a method's images: inference-time rules on the base model (SD, SD+NEG, SLD,
SEGA; erasure.methods.specs lists them) and fine-tuned or edited runs (`{run}@{step}`, `{run}.student@{step}`,
loaded by erasure.checkpoints).

Every method is a `MethodPipeline`: a diffusers pipeline plus the call arguments that make it that method,
called the same way (prompts, initial latents, CFG scale, steps) so that images pair up across methods.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from erasure import paths
from erasure.errors import ErasureError
from erasure.generate.latents import make_scheduler
from erasure.methods import specs
from erasure.paths import MethodId

KINDS = specs.INFERENCE_KINDS


def resolve_concepts(value) -> list[str]:
    """A list of concept strings or a named set, expanded by erasure.methods.concepts (shared with erase)."""
    from erasure.methods.concepts import resolve_concepts as resolve

    return [str(c) for c in resolve(value)]


def concept_text(concepts: Sequence[str]) -> str:
    """One text for all concepts, as the paper gives "nudity, sexual" to SD+NEG, SLD and SEGA."""
    return ", ".join(concepts)


@dataclass
class MethodPipeline:
    name: str
    kind: str  # sd | sd-neg | sld | sega | finetuned
    pipe: object
    call_kwargs: dict = field(default_factory=dict)
    negative_prompt: str | None = None
    run: str | None = None
    step: int | None = None
    extra: dict = field(default_factory=dict)  # identity only (not passed to the pipeline)

    @property
    def family(self):
        """The model family of the pipeline's network (erasure.worlds.families)."""
        from erasure.worlds.families import family_of_pipeline

        return family_of_pipeline(self.pipe)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(C, h, w) of the initial latents."""
        return self.family.latent_shape(self.pipe.unet)

    @property
    def image_size(self) -> int:
        """The image side in pixels."""
        return self.family.pixels(self.pipe)

    def identity(self) -> dict:
        """What makes this method's images what they are, besides weights and sampling (fingerprint)."""
        return {"name": self.name, "kind": self.kind, "negative_prompt": self.negative_prompt,
                "call": {k: v for k, v in sorted(self.call_kwargs.items())}, "run": self.run, "step": self.step,
                **self.extra}

    @torch.inference_mode()
    def __call__(self, prompts: Sequence[str], latents: torch.Tensor, *, guidance: float, steps: int) -> np.ndarray:
        """uint8 [B, H, W, 3] images for `prompts` from the initial `latents` [B, C, h, w].

        Raises NonFinite (before anything is returned) when a latent after any denoising step, the VAE
        decoder's output or the final float image holds NaN or inf for some batch item."""
        size = self.image_size
        unet = self.pipe.unet
        kwargs = {**self.call_kwargs, **_latent_check(self.pipe)}
        if self.negative_prompt is not None:
            kwargs["negative_prompt"] = [self.negative_prompt] * len(prompts)
        # the decoder's output is checked before the pipeline clamps it to [0, 1] (clamp maps inf to 1)
        hook = self.pipe.vae.decoder.register_forward_hook(_decoder_check)
        try:
            out = self.pipe(
                prompt=list(prompts), height=size, width=size, num_inference_steps=int(steps),
                guidance_scale=float(guidance), latents=latents.to(device=unet.device, dtype=unet.dtype),
                output_type="np", **kwargs,
            )
        finally:
            hook.remove()
        images = np.asarray(out.images, dtype=np.float32)
        # numpy's float->uint8 cast turns NaN into 0 (an all-black image) with only a RuntimeWarning
        _raise_if_non_finite(images, "decoded image")
        return (images * 255).round().clip(0, 255).astype(np.uint8)  # as diffusers' numpy_to_pil


class NonFinite(FloatingPointError):
    """A batch produced NaN / inf: `what` (latents, decoder output, decoded image), the batch `items` hit,
    and the denoising `step` (None after the loop). generate_shard turns it into one ErasureError line."""

    def __init__(self, what: str, items: list[int], step: int | None = None):
        super().__init__(f"non-finite {what} in batch items {items}" + ("" if step is None else f" at step {step}"))
        self.what, self.items, self.step = what, items, step


def _raise_if_non_finite(values, what: str, step: int | None = None) -> None:
    """`values` [B, ...] (torch or numpy): raise NonFinite naming the items with any NaN / inf."""
    if torch.is_tensor(values):
        ok = torch.isfinite(values).flatten(1).all(dim=1).cpu().numpy()
    else:
        ok = np.isfinite(values).reshape(len(values), -1).all(axis=1)
    if not ok.all():
        raise NonFinite(what, [int(i) for i in np.flatnonzero(~ok)], step)


def _decoder_check(module, inputs, output) -> None:
    _raise_if_non_finite(output, "VAE decoder output")


def _latent_check(pipe) -> dict:
    """Call arguments that check the latents after every denoising step: `callback_on_step_end` where the
    pipeline has it (SD 1.x / 2.x / SDXL's text-to-image pipelines), the older `callback` (SLD's and SEGA's
    deprecated pipelines)."""
    parameters = inspect.signature(pipe.__call__).parameters
    if "callback_on_step_end" in parameters:
        def on_step_end(pipeline, step, timestep, tensors):
            _raise_if_non_finite(tensors["latents"], "latents", step)
            return tensors

        return {"callback_on_step_end": on_step_end, "callback_on_step_end_tensor_inputs": ["latents"]}
    if "callback" in parameters:
        def callback(step, timestep, latents):
            _raise_if_non_finite(latents, "latents", step)

        return {"callback": callback, "callback_steps": 1}
    return {}


def compose(cls, base, **overrides):
    """`cls` built from the base pipeline's components (only those its constructor takes), no safety checker
    (erasure.worlds.families.compose)."""
    from erasure.worlds.families import compose as build

    return build(cls, base, **overrides)


def build_inference_method(name: str, spec: Mapping, base) -> MethodPipeline:
    """An inference-time method (config `inference_methods.<name>` = `spec`) on the loaded base pipeline:
    its kind's spec (erasure.methods.specs) names the settings class its keys resolve to and the module
    that builds it (erasure/generate/inference/: `build(name, kind, base, concepts, settings)`). Raises
    ErasureError for an unknown kind, a missing concept list, or an unknown key, value or preset."""
    from erasure.methods.settings import resolve_inference

    method_spec, settings = resolve_inference(name, spec)
    concepts = resolve_concepts(spec["concepts"]) if spec.get("concepts") else []
    return method_spec.implementation_object()(name, method_spec.name, base, concepts, settings)


def load_method(method: str, spec: Mapping | None, *, base_model: str, results: str | Path, world: str,
                scheduler: str, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> MethodPipeline:
    """The pipeline that draws method `method`'s images.

    Args:
        method: a method id: an inference-time name (config `inference_methods`) or a run's `{run}@{step}` /
            `{run}.student@{step}` (erasure.paths.MethodId).
        spec: config `inference_methods.<method>` (its `kind` names an inference-time spec of
            erasure.methods.specs); ignored for a run.
        base_model: the config's base_model; results: the results root; world: the world name (the run's
            checkpoints are results/{world}/models/{run}/step-{NNNNNN}/).
        scheduler: a name of erasure.generate.settings.SCHEDULERS, built from the base's scheduler config.
        device, dtype: where the pipeline runs and its parameters' dtype (float16 on a GPU).

    Returns:
        A MethodPipeline: called with prompts and initial latents [B, C, h, w], it returns uint8 images
        [B, H, W, 3].

    Raises:
        ErasureError: an unknown method or kind, missing concepts, an unknown SLD preset, or an unreadable
            base model or checkpoint (erasure.checkpoints.load_method_pipeline).
    """
    from erasure.models import load_base_pipeline

    method_id = MethodId.parse(method)
    if method_id.finetuned:
        from erasure.checkpoints import load_method_pipeline

        pipe = load_method_pipeline(
            base_model, paths.run_dir(results, world, method_id.run), method_id.step, method_id.which,
            results_root=results, device="cpu", dtype=dtype,
        )
        pipe.set_progress_bar_config(disable=True)
        built = MethodPipeline(method, "finetuned", pipe, run=method_id.run, step=method_id.step,
                               extra={"which": method_id.which})
    else:
        if spec is None:
            raise ErasureError(f"inference_methods: unknown method {method!r}")
        base = load_base_pipeline(base_model, results_root=results, device="cpu", dtype=dtype)
        built = build_inference_method(method, spec, base)
    built.pipe.scheduler = make_scheduler(scheduler, built.pipe.scheduler)
    # Weights are read in the job's dtype (fp16 on a GPU: half the bytes to cast and move; each value is the
    # same rounding of the file's as a cast after loading), then moved; the cast catches what was built in
    # float32 on top of them (peft keeps LoRA adapters float32). SDPA is diffusers' default attention.
    built.pipe.to(device)
    if dtype != torch.float32:
        # SDXL's VAE overflows in fp16: its pipeline upcasts it to float32 for decoding where
        # vae.config.force_upcast (SDXL base: true)
        built.pipe.to(dtype=dtype)
    return built
