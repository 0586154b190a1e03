"""SEGA (Brack et al., NeurIPS 2023) through diffusers' semantic-guidance pipeline (its model family's: SD 1.x
only, erasure.worlds.families): the concepts, joined
with ", ", as one editing prompt guided in the reverse direction; the edit_* call arguments are the settings
(erasure.methods.settings.SEGASettings)."""

from __future__ import annotations


def build(name, kind, base, concepts, settings):
    from erasure.generate.pipelines import MethodPipeline, concept_text
    from erasure.worlds.families import family_of_pipeline

    pipe = family_of_pipeline(base).compose("sega", base)  # SD 1.x only: the family says why not elsewhere
    return MethodPipeline(name, kind, pipe, call_kwargs={
        **settings.to_json(), "editing_prompt": [concept_text(concepts)], "reverse_editing_direction": [True]})
