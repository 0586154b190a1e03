"""SEGA (Brack et al., NeurIPS 2023) through diffusers' SemanticStableDiffusionPipeline: the concepts, joined
with ", ", as one editing prompt guided in the reverse direction; the edit_* call arguments are the settings
(erasure.methods.settings.SEGASettings)."""

from __future__ import annotations


def build(name, kind, base, concepts, settings):
    from diffusers import SemanticStableDiffusionPipeline

    from erasure.generate.pipelines import MethodPipeline, compose, concept_text

    pipe = compose(SemanticStableDiffusionPipeline, base)
    return MethodPipeline(name, kind, pipe, call_kwargs={
        **settings.to_json(), "editing_prompt": [concept_text(concepts)], "reverse_editing_direction": [True]})
