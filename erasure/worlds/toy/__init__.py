"""The toy world: procedural 32x32 images with known labels, a tiny SD-architecture model, an oracle.

Submodules are imported lazily by their users so that `import erasure.worlds.toy.vocab` stays cheap.
"""
