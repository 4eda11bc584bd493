"""A built-in texture that needs no download: grey cobblestones, generated deterministically.

``texture_image``: one (1, size, size) float32 image in [-1, 1]. Stones are the cells of a
jittered-grid Voronoi diagram (about ``cell`` pixels across), each with its own grey level,
a little darker towards its rim, separated by dark mortar about two pixels wide, with a
faint pixel grain. Distances wrap around, so the image tiles seamlessly.

``make_texture_crops``: n random size x size crops of that image (the same picture for
every seed; the seed only picks the crops), like the "texture" file format
(:func:`engine.data.images.load_texture_crops`). resources/textures/builtin_texture.png
holds the same image for people to look at.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["TEXTURE_SIZE", "make_texture_crops", "texture_image"]

TEXTURE_SIZE = 128  # the shipped image is 128 x 128 pixels
MORTAR = 0.08  # grey level of the mortar, in [0, 1]
CELL = 12  # about the width of a stone, in pixels


@functools.lru_cache(maxsize=2)
def _texture_cached(size: int, cell: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x7E47]))
    k = max(1, size // cell)
    gy, gx = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    centres = (np.stack([gy, gx], -1).reshape(-1, 2) + 0.5 + rng.uniform(-0.35, 0.35, (k * k, 2))) * (size / k)
    shade = rng.uniform(0.35, 0.85, k * k)
    c = np.arange(size) + 0.5
    py, px = np.meshgrid(c, c, indexing="ij")
    dy = py[..., None] - centres[:, 0]
    dx = px[..., None] - centres[:, 1]
    dy -= size * np.round(dy / size)  # wrap around: the texture tiles
    dx -= size * np.round(dx / size)
    d = np.sqrt(dy * dy + dx * dx)  # (size, size, cells)
    nearest = np.argpartition(d, 1, axis=-1)[..., :2]
    d12 = np.take_along_axis(d, nearest, -1)
    first = d12.argmin(-1)
    d1 = d12.min(-1)
    d2 = d12.max(-1)
    owner = np.take_along_axis(nearest, first[..., None], -1)[..., 0]
    rim = (d2 - d1) / 2.0  # about the distance to the cell's border, in pixels
    stone = shade[owner] * (0.55 + 0.45 * np.clip(rim / 5.0, 0.0, 1.0) ** 0.7)
    inside = np.clip(rim - 0.8, 0.0, 1.0)  # 0 in the mortar, a one-pixel ramp to the stone
    v = MORTAR + (stone - MORTAR) * inside + rng.normal(0.0, 0.03, (size, size))
    v = np.clip(v, 0.0, 1.0) * 2.0 - 1.0
    return v[None].astype(np.float32)


def texture_image(size: int = TEXTURE_SIZE, cell: int = CELL, seed: int = 0) -> np.ndarray:
    """The cobblestone texture: (1, size, size) float32 in [-1, 1] (a copy)."""
    size, cell = int(size), int(cell)
    if size < 8 or cell < 4 or cell > size:
        raise ValueError(f"need size >= 8 and 4 <= cell <= size, got size={size}, cell={cell}")
    return _texture_cached(size, cell, int(seed)).copy()


def make_texture_crops(n: int = 2000, seed: int = 0, size: int = 32) -> tuple[np.ndarray, None]:
    """n random size x size crops of :func:`texture_image`: (x (n, 1, size, size) float32, None).

    The seed picks the crop positions, not the texture: every seed crops the same image.
    """
    n, size = int(n), int(size)
    if n < 1 or not 1 <= size <= TEXTURE_SIZE:
        raise ValueError(f"need n >= 1 and 1 <= size <= {TEXTURE_SIZE}, got n={n}, size={size}")
    tex = _texture_cached(TEXTURE_SIZE, CELL, 0)[0]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC409]))
    ys = rng.integers(0, TEXTURE_SIZE - size + 1, n)
    xs = rng.integers(0, TEXTURE_SIZE - size + 1, n)
    rows = ys[:, None] + np.arange(size)[None, :]
    cols = xs[:, None] + np.arange(size)[None, :]
    return np.ascontiguousarray(tex[rows[:, :, None], cols[:, None, :]][:, None]), None
