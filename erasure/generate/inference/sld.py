"""Safe Latent Diffusion (Schramowski et al., CVPR 2023) through diffusers' SLD pipeline (its model family's:
SD 1.x only, erasure.worlds.families), the
concepts joined with ", " as its safety concept; the sld_* call arguments are the settings
(erasure.methods.settings.SLDSettings: the presets are diffusers' SafetyConfig.MEDIUM / .MAX)."""

from __future__ import annotations


def build(name, kind, base, concepts, settings):
    from erasure.generate.pipelines import MethodPipeline, concept_text
    from erasure.worlds.families import family_of_pipeline

    text = concept_text(concepts)
    pipe = family_of_pipeline(base).compose("sld", base)  # SD 1.x only: the family says why not elsewhere
    pipe.safety_concept = text
    return MethodPipeline(name, kind, pipe, call_kwargs=settings.to_json(), extra={"safety_concept": text})
