"""Safe Latent Diffusion (Schramowski et al., CVPR 2023) through diffusers' StableDiffusionPipelineSafe, the
concepts joined with ", " as its safety concept; the sld_* call arguments are the settings
(erasure.methods.settings.SLDSettings: the presets are diffusers' SafetyConfig.MEDIUM / .MAX)."""

from __future__ import annotations


def build(name, kind, base, concepts, settings):
    from diffusers.pipelines.deprecated.stable_diffusion_safe import StableDiffusionPipelineSafe

    from erasure.generate.pipelines import MethodPipeline, compose, concept_text

    text = concept_text(concepts)
    pipe = compose(StableDiffusionPipelineSafe, base)
    pipe.safety_concept = text
    return MethodPipeline(name, kind, pipe, call_kwargs=settings.to_json(), extra={"safety_concept": text})
