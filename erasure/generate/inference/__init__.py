"""Inference-time methods, one module each, named by their spec's `implementation` (erasure.methods.specs).

The interface (erasure.generate.pipelines.build_inference_method calls it):

    build(name, kind, base, concepts, settings) -> MethodPipeline

`name` the config's method id (`inference_methods.<name>`), `kind` the spec's name, `base` the loaded base
diffusers pipeline, `concepts` the resolved concept strings ([] when none are given; a spec with
`needs_concepts` always gets some), `settings` the spec's settings dataclass as its `resolve_run` made it
from the config's keys beside `kind`. A method that changes the sampling loop composes another diffusers
pipeline from `base.components` (erasure.generate.pipelines.compose); one that changes embeddings sets
call arguments (`prompt_embeds`, `negative_prompt`) on the MethodPipeline.
"""
