"""Procedural renderer: one coloured, filled shape on a textured background, 32x32 RGB.

Images are drawn at 64x64 and averaged 2x2 down, which anti-aliases edges without a graphics library.
Everything is vectorised over a chunk of images so that tens of thousands render in seconds, and every
random draw comes from the caller's `numpy.random.Generator`, so a seed fixes the bytes.
"""

from __future__ import annotations

import numpy as np

from erasure.worlds.toy.vocab import ATTRIBUTES, BACKGROUNDS, COLOURS, FILLS, SHAPES

SIZE = 32
_HI = 2 * SIZE
_CHUNK = 1024

PALETTE = {
    "red": (225, 30, 30),
    "yellow": (250, 225, 20),
    "blue": (35, 55, 225),
    "purple": (165, 40, 200),
    "white": (250, 250, 250),
}
_PALETTE = np.array([PALETTE[c] for c in COLOURS], dtype=np.float32)
_DARK = 0.4  # brightness of the second tone in striped / dotted fills

_TRIANGLE = SHAPES.index("triangle")
_BEACH = BACKGROUNDS.index("beach")


def sample_labels(n: int, rng: np.random.Generator, *, beach_triangle_bias: float = 0.9) -> dict[str, np.ndarray]:
    """Draw `n` label tuples (attribute -> int index array). Uniform except that the beach shows a triangle
    with probability `beach_triangle_bias` (the built-in bias that erasure should remove)."""
    labels = {attr: rng.integers(0, len(values), size=n) for attr, values in ATTRIBUTES.items()}
    beach = labels["background"] == _BEACH
    is_tri = rng.random(n) < beach_triangle_bias
    others = np.array([i for i in range(len(SHAPES)) if i != _TRIANGLE])
    other_pick = others[rng.integers(0, len(others), size=n)]
    labels["shape"] = np.where(beach, np.where(is_tri, _TRIANGLE, other_pick), labels["shape"])
    return labels


def _backgrounds(bg: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(bg)
    yy, xx = np.mgrid[0:_HI, 0:_HI].astype(np.float32)
    out = np.empty((n, _HI, _HI, 3), dtype=np.float32)
    noise = rng.normal(0.0, 1.0, size=(n, _HI, _HI, 1)).astype(np.float32)
    jitter = rng.uniform(-12, 12, size=(n, 1, 1, 1)).astype(np.float32)
    col_noise = rng.normal(0.0, 1.0, size=(n, 1, _HI, 1)).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1, 1)).astype(np.float32)
    blob_c = rng.uniform(0, _HI, size=(n, 2, 2)).astype(np.float32)
    blob_s = rng.uniform(7, 13, size=(n, 2)).astype(np.float32)
    stars = np.repeat(np.repeat(rng.random((n, SIZE, SIZE, 1)) < 0.012, 2, axis=1), 2, axis=2)
    for k, name in enumerate(BACKGROUNDS):
        idx = np.nonzero(bg == k)[0]
        if idx.size == 0:
            continue
        z, j = noise[idx], jitter[idx]
        if name == "plain":
            img = np.full((idx.size, _HI, _HI, 3), 128.0, np.float32) + 3 * z
        elif name == "grass":
            # vertical blades: per-column brightness plus a little pixel noise
            base = np.array([45, 125, 40], np.float32)
            blades = col_noise[idx] * np.array([8, 22, 8], np.float32)
            img = base + blades + 6 * z
        elif name == "sky":
            t = (yy / (_HI - 1))[None, :, :, None]
            top, bottom = np.array([80, 140, 225], np.float32), np.array([150, 195, 245], np.float32)
            img = top + t * (bottom - top) + 2 * z
            cloud = np.zeros((idx.size, _HI, _HI), np.float32)
            for b in range(2):
                cx = blob_c[idx, b, 0][:, None, None]
                cy = blob_c[idx, b, 1][:, None, None]
                s = blob_s[idx, b][:, None, None]
                cloud += np.exp(-((xx - cx) ** 2 + ((yy - cy) * 2) ** 2) / (2 * s**2))
            img = img + np.minimum(cloud, 1.0)[..., None] * np.array([45, 35, 10], np.float32)
        elif name == "beach":
            ripple = np.sin(2 * np.pi * (yy + 0.3 * xx)[None, :, :, None] / 9.0 + phase[idx])
            img = np.array([215, 190, 135], np.float32) + ripple * np.array([12, 12, 10], np.float32) + 5 * z
        elif name == "night":
            img = np.array([12, 14, 42], np.float32) + 3 * z
            img = np.where(stars[idx], np.array([230, 230, 200], np.float32), img)
        else:  # pragma: no cover - vocab and renderer out of sync
            raise AssertionError(name)
        out[idx] = img + j
    return out


def _shape_masks(shape: np.ndarray, cx, cy, r) -> np.ndarray:
    yy, xx = np.mgrid[0:_HI, 0:_HI].astype(np.float32) + 0.5
    dx = (xx[None] - cx[:, None, None]) / r[:, None, None]
    dy = (yy[None] - cy[:, None, None]) / r[:, None, None]
    adx, ady = np.abs(dx), np.abs(dy)
    masks = np.zeros(dx.shape, dtype=bool)
    # extents are tuned so the five shapes cover similar areas
    for k, name in enumerate(SHAPES):
        sel = shape == k
        if not sel.any():
            continue
        a, b, dyk = adx[sel], ady[sel], dy[sel]
        if name == "circle":
            m = a**2 + b**2 <= 1.0
        elif name == "square":
            m = np.maximum(a, b) <= 0.82
        elif name == "triangle":
            m = (dyk <= 0.8) & (a <= (dyk + 1.1) * 0.6)
        elif name == "cross":
            m = ((a <= 0.34) & (b <= 1.05)) | ((b <= 0.34) & (a <= 1.05))
        elif name == "diamond":
            m = a + b <= 1.2
        else:  # pragma: no cover
            raise AssertionError(name)
        masks[sel] = m
    return masks


def _fills(fill: np.ndarray, colour: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-pixel foreground colour: solid, diagonal stripes, or dark dots on the colour."""
    n = len(fill)
    yy, xx = np.mgrid[0:_HI, 0:_HI].astype(np.float32)
    off = rng.uniform(0, 12, size=(n, 2)).astype(np.float32)
    jitter = rng.uniform(-12, 12, size=(n, 1, 1, 3)).astype(np.float32)
    base = _PALETTE[colour][:, None, None, :] + jitter
    tone = np.ones((n, _HI, _HI), np.float32)
    stripes = ((xx + yy)[None] + off[:, :1, None]) % 10 >= 5
    gx = (xx[None] + off[:, :1, None]) % 10 - 5
    gy = (yy[None] + off[:, 1:, None]) % 10 - 5
    dots = gx**2 + gy**2 <= 2.4**2
    striped = fill == FILLS.index("striped")
    dotted = fill == FILLS.index("dotted")
    tone[striped] = np.where(stripes[striped], 1.0, _DARK)
    tone[dotted] = np.where(dots[dotted], _DARK, 1.0)
    return base * tone[..., None]


def render(labels: dict[str, np.ndarray], rng: np.random.Generator, *, return_geometry: bool = False,
           return_masks: bool = False):
    """Render images for `labels` -> uint8 [N, 32, 32, 3] (and, optionally, centre/size in 32-px units, or the
    shape's pixels, bool [N, 32, 32]: at least half of the 2x2 drawing pixels inside the shape). The masks
    draw nothing from `rng`: the same seed gives the same images with or without them."""
    n = len(labels["shape"])
    images = np.empty((n, SIZE, SIZE, 3), dtype=np.uint8)
    shape_masks = np.empty((n, SIZE, SIZE), dtype=bool)
    geometry = {"cx": np.empty(n, np.float32), "cy": np.empty(n, np.float32), "r": np.empty(n, np.float32)}
    for start in range(0, n, _CHUNK):
        sl = slice(start, min(n, start + _CHUNK))
        m = sl.stop - sl.start
        r = rng.uniform(10, 15, size=m).astype(np.float32)
        cx = rng.uniform(r + 3, _HI - r - 3).astype(np.float32)
        cy = rng.uniform(r + 3, _HI - r - 3).astype(np.float32)
        bg = _backgrounds(labels["background"][sl], rng)
        fg = _fills(labels["fill"][sl], labels["colour"][sl], rng)
        mask = _shape_masks(labels["shape"][sl], cx, cy, r)[..., None]
        hi = np.where(mask, fg, bg)
        lo = hi.reshape(m, SIZE, 2, SIZE, 2, 3).mean(axis=(2, 4))
        images[sl] = np.clip(np.rint(lo), 0, 255).astype(np.uint8)
        shape_masks[sl] = mask[..., 0].reshape(m, SIZE, 2, SIZE, 2).mean(axis=(2, 4)) >= 0.5
        geometry["cx"][sl], geometry["cy"][sl], geometry["r"][sl] = cx / 2, cy / 2, r / 2
    if return_geometry:
        return images, geometry
    if return_masks:
        return images, shape_masks
    return images


def to_tensor_images(images: np.ndarray):
    """uint8 [N, 32, 32, 3] -> float tensor [N, 3, 32, 32] in [0, 1] (the oracle's input convention)."""
    import torch

    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)
