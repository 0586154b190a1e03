"""The toy renderer's concept regions (World.concept_masks, MACE's stand-in for Grounded-SAM): the masks draw
nothing from the RNG, cover the named shape's pixels, and a background concept gets the complement."""

import numpy as np
import pytest

from erasure import worlds
from erasure.errors import ErasureError
from erasure.worlds.toy.render import render, sample_labels


def test_masks_change_no_image_and_cover_the_shape():
    labels = sample_labels(16, np.random.default_rng(3))
    plain = render(labels, np.random.default_rng(4))
    images, masks = render(labels, np.random.default_rng(4), return_masks=True)
    assert np.array_equal(plain, images) and masks.shape == (16, 32, 32) and masks.dtype == bool
    # a shape covers a few % to a third of the image, never none or all of it
    share = masks.mean(axis=(1, 2))
    assert (share > 0.03).all() and (share < 0.5).all()


def test_concept_masks_name_the_concept():
    world = worlds.world_for("toy:shipped")
    images, masks = world.concept_masks("triangle", 8, seed=0)
    assert images.shape == (8, 32, 32, 3) and masks.shape == (8, 32, 32)
    _, red = world.concept_masks("red", 8, seed=0)
    # red is drawn on the shape: its pixels inside the mask are redder than outside on average
    imgs, m = world.concept_masks("red", 32, seed=1)
    inside = imgs[m].astype(float)
    assert (inside[:, 0] - inside[:, 1:].mean(1)).mean() > 80
    _, beach = world.concept_masks("beach", 8, seed=0)
    assert beach.mean() > 0.5  # the background: the complement of the shape
    with pytest.raises(ErasureError, match="names no toy attribute"):
        world.concept_masks("a photo", 2, seed=0)
    assert worlds.world_for("CompVis/stable-diffusion-v1-4").concept_masks("nudity", 2, 0) is None
