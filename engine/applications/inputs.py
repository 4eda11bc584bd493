"""Inputs for the applications by name: built-in images, toy points, uniform noise, or files.

    x, y = load_inputs("builtin_digits", n=16, input_shape=(1, 28, 28))

Images are brought to the model's input shape (colour to grey by luminance or
grey repeated to 3 channels; resized bilinearly) and to its value range (the
engine's images live in [-1, 1]). Built-in images are generated fresh with a
seed the shipped models were not trained on, so they are held-out examples.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..data import builtin, toy2d
from ..data.dataset import load_dataset
from ..errors import ConfigError, DataError

NOISE = "noise"
HELD_OUT_SEED = 7919  # built-in images for the applications: never the training seed (0)
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def input_names() -> list[str]:
    """The names load_inputs understands besides file paths."""
    return [NOISE, *builtin.GENERATORS, *toy2d.TOY_DATASETS]


def load_inputs(ref: str | os.PathLike[str], n: int, input_shape: tuple[int, ...],
                value_range: tuple[float, float] = (-1.0, 1.0), seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """(x: (n, *input_shape) float32, labels (n,) int64 or None).

    ref: "noise" (uniform in value_range), a built-in image set, a toy 2D density, or a
    file/folder that engine.data.load_dataset reads (.npy, idx, cifar, a folder of images).
    A file with fewer than n samples gives them all; more: a seeded random subset of n.
    """
    n = int(n)
    if n < 1:
        raise ConfigError(f"the number of inputs must be >= 1, got {n}")
    shape = tuple(int(s) for s in input_shape)
    lo, hi = float(value_range[0]), float(value_range[1])
    text = os.fspath(ref)
    rng = np.random.default_rng([seed, 11])
    if text == NOISE:
        return rng.uniform(lo, hi, size=(n, *shape)).astype(np.float32), None
    if text in builtin.GENERATORS:
        size = shape[-1] if len(shape) == 3 else 28
        x, y = builtin.GENERATORS[text](n, HELD_OUT_SEED + int(seed), size=size)
        return _fit_images(x, shape, text, lo, hi), y
    if text in toy2d.TOY_DATASETS:
        if shape != (2,):
            raise ConfigError(f"{text} is a 2D point set, but the model takes inputs of shape {shape}")
        return toy2d.TOY_DATASETS[text].sample(n, rng), None
    path = Path(text).expanduser()
    if not path.exists():
        raise DataError(f"no inputs {text!r}: not a file or folder, and not one of {', '.join(input_names())}")
    data, _ = load_dataset({"path": str(path), "val_fraction": 0.0})
    index = np.arange(len(data)) if len(data) <= n else np.sort(rng.choice(len(data), size=n, replace=False))
    x = data.x[index]
    y = None if data.y is None else data.y[index]
    if x.ndim == 4:
        return _fit_images(x, shape, path.name, lo, hi), y
    if tuple(x.shape[1:]) != shape:
        raise DataError(f"{path} holds samples of shape {tuple(x.shape[1:])}; the model takes {shape}")
    return x.astype(np.float32), y


def _fit_images(x: np.ndarray, shape: tuple[int, ...], what: str, lo: float, hi: float) -> np.ndarray:
    """x: (N, C, H, W) in [-1, 1] -> (N, *shape) in [lo, hi]."""
    if len(shape) != 3:
        raise ConfigError(f"{what} holds images, but the model takes inputs of shape {shape}")
    c = shape[0]
    if x.shape[1] != c:
        if x.shape[1] == 3 and c == 1:
            x = np.einsum("nchw,c->nhw", x, _LUMA)[:, None]
        elif x.shape[1] == 1:
            x = np.repeat(x, c, axis=1)
        else:
            raise ConfigError(f"{what} has {x.shape[1]} channels; the model takes {c}")
    if x.shape[2:] != shape[1:]:
        x = resize_images(x, shape[1:])
    if (lo, hi) != (-1.0, 1.0):
        x = lo + (x + 1.0) * (0.5 * (hi - lo))
    return np.ascontiguousarray(x, dtype=np.float32)


def resize_images(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize (pixel centres aligned) of x: (N, C, H, W) -> (N, C, *size)."""
    h, w = x.shape[2:]
    oh, ow = (int(s) for s in size)
    ys = np.clip((np.arange(oh) + 0.5) * (h / oh) - 0.5, 0, h - 1)
    xs = np.clip((np.arange(ow) + 0.5) * (w / ow) - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None].astype(np.float32), (xs - x0)[None, :].astype(np.float32)
    top = x[:, :, y0][:, :, :, x0] * (1 - fx) + x[:, :, y0][:, :, :, x1] * fx
    bottom = x[:, :, y1][:, :, :, x0] * (1 - fx) + x[:, :, y1][:, :, :, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)

