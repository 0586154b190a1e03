"""SD: the base model as it is (the reference every table compares to)."""

from __future__ import annotations


def build(name, kind, base, concepts, settings):
    from erasure.generate.pipelines import MethodPipeline

    return MethodPipeline(name, kind, base)
