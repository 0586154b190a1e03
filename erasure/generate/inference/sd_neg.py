"""SD+NEG: the concepts as classifier-free guidance's negative prompt (the SDD paper's SD+NEG row), joined
with ", " into one text."""

from __future__ import annotations


def build(name, kind, base, concepts, settings):
    from erasure.generate.pipelines import MethodPipeline, concept_text

    return MethodPipeline(name, kind, base, negative_prompt=concept_text(concepts))
