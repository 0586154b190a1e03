"""Generation: inference-time methods (sd, sd-neg, sld-*, sega) and fine-tuned runs, sharded seeded
resumable image generation, and manifests. Names load lazily, so that the workflow can read
`erasure.generate.settings` while planning without importing torch."""

from importlib import import_module

_EXPORTS = {
    "MethodPipeline": "pipelines", "build_inference_method": "pipelines", "load_method": "pipelines",
    "resolve_concepts": "pipelines",
    "initial_latents": "latents", "latent_seed": "latents", "make_scheduler": "latents",
    "resolve_sampling": "settings",
    "ImageSpec": "shard", "enumerate_images": "shard", "generate_shard": "shard", "merge_manifests": "manifest",
    "run_images": "shard", "shard_images": "shard",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f"erasure.generate.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'erasure.generate' has no attribute {name!r}")
