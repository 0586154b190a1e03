"""Generation: inference-time methods (sd, sd-neg, sld-*, sega) and fine-tuned runs, sharded seeded
resumable image generation, and manifests."""

from erasure.generate.methods import MethodPipeline, build_inference_method, load_method, resolve_concepts
from erasure.generate.sampling import initial_latents, latent_seed, make_scheduler, resolve_sampling
from erasure.generate.shard import (
    ImageSpec, enumerate_images, generate_shard, merge_manifests, run_images, shard_images,
)

__all__ = ["ImageSpec", "MethodPipeline", "build_inference_method", "enumerate_images", "generate_shard",
           "initial_latents", "latent_seed", "load_method", "make_scheduler", "merge_manifests",
           "resolve_concepts", "resolve_sampling", "run_images", "shard_images"]
