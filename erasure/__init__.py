"""Concept erasure in text-to-image diffusion models: SDD and its baselines."""

__version__ = "0.1.0"
