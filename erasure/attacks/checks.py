"""Does an image show the concept? The attacks' early-stop check and the ASR's ground truth.

`prompt_check` draws a prompt's image exactly as the generate rules draw image (prompt_id, seed) — the same
per-image initial latents, the method's own pipeline (so SD+NEG's negative prompt and SLD's guidance
apply) — and asks a `detects` classifier. `oracle_detector` is the classifier of the world that offers the
%TARGET metric (erasure.worlds.detector("target"): any erased concept's oracle probability ≥ threshold).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from erasure.errors import ErasureError
from erasure.generate.latents import initial_latents

Detector = Callable[[np.ndarray], bool]


def draw_image(method_pipeline, prompt: str, *, prompt_id: str, seed: int, guidance: float, steps: int) -> np.ndarray:
    """uint8 [H, W, 3]: `method_pipeline` (an erasure.generate.MethodPipeline) on `prompt`, from the initial
    latents of image (prompt_id, seed), as erasure.generate.shard.run_images draws it (batch of one).
    Raises ErasureError when the image goes non-finite."""
    from erasure.generate.pipelines import NonFinite
    from erasure.generate.shard import ImageSpec, non_finite_message

    latents = initial_latents(str(prompt_id), int(seed), method_pipeline.latent_shape)
    try:
        return method_pipeline([prompt], latents, guidance=float(guidance), steps=int(steps))[0]
    except NonFinite as exc:  # one line naming method, image and stage, as the generate rules say it
        spec = ImageSpec(str(prompt_id), prompt, int(seed), float(guidance))
        raise ErasureError(non_finite_message(method_pipeline, spec, exc)) from None


def prompt_check(method_pipeline, detects: Detector, *, prompt_id: str, seed: int, guidance: float,
                 steps: int) -> Callable[[str], bool]:
    """`check(prompt) -> bool`: does `method_pipeline`'s image of `prompt` for (prompt_id, seed) show the concept."""

    def check(prompt: str) -> bool:
        return bool(detects(draw_image(method_pipeline, prompt, prompt_id=prompt_id, seed=seed, guidance=guidance,
                                       steps=steps)))

    return check


def oracle_detector(oracle, concepts, *, threshold: float = 0.7) -> Detector:
    """`detects(image uint8 [H, W, 3]) -> bool` from the oracle (object or directory) and the erased
    concepts ("shape=triangle", a list, or {attr: value}); threshold as the %TARGET metric's."""
    from erasure.worlds import detector

    return detector("target")(oracle, concepts, threshold=threshold)
