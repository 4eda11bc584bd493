"""Image batches as one picture: value range to 0..255, tiles in a grid with thin gaps."""

from __future__ import annotations

import math

import numpy as np

GAP_VALUE = 96  # grey between tiles: visible on black and on white images


def to_uint8(images: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """images: (N, C, H, W) or (N, H, W) in ``value_range`` -> (N, H, W) or (N, H, W, 3) uint8.

    One channel gives grey, three give RGB; any other count shows the first channel.
    Values outside the range are clipped, NaN shows black.
    """
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {x.shape}")
    lo, hi = float(value_range[0]), float(value_range[1])
    scale = 255.0 / (hi - lo) if hi > lo else 255.0
    y = np.nan_to_num((x - lo) * scale, nan=0.0, posinf=255.0, neginf=0.0)
    y = np.clip(np.rint(y), 0, 255).astype(np.uint8)
    if y.shape[1] == 3:
        return np.ascontiguousarray(y.transpose(0, 2, 3, 1))
    return np.ascontiguousarray(y[:, 0])


def tile_images(images: np.ndarray, value_range: tuple[float, float], ncols: int | None = None,
                gap: int = 1, gap_value: int = GAP_VALUE) -> np.ndarray:
    """images: (N, C, H, W) -> one uint8 picture (rows*(H+gap)-gap, cols*(W+gap)-gap[, 3]).

    ``ncols`` defaults to ceil(sqrt(N)); empty cells of the last row stay ``gap_value``.
    Row 0 of the result is the top of the picture (draw it with the y axis pointing down).
    """
    tiles = to_uint8(images, value_range)
    n, h, w = tiles.shape[:3]
    if n == 0:
        return np.full((1, 1) + tiles.shape[3:], gap_value, dtype=np.uint8)
    cols = max(1, min(n, int(ncols) if ncols else math.ceil(math.sqrt(n))))
    rows = math.ceil(n / cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap) + tiles.shape[3:], gap_value, dtype=np.uint8)
    for k in range(n):
        r, c = divmod(k, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tiles[k]
    return out


def evenly_spaced(count: int, at_most: int) -> np.ndarray:
    """Up to ``at_most`` indices into range(count), evenly spaced, first and last included."""
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    k = min(count, at_most)
    return np.unique(np.rint(np.linspace(0, count - 1, k)).astype(np.int64))
