"""Inpainting and denoising: let the energy fill in what is missing or wrong.

    mask = make_mask((16, 1, 28, 28), "center")          # True = missing
    result = inpaint(opened, x, mask, n_steps=200)       # known pixels never move
    result.x, result.filmstrip, result.energies

Inpainting runs Langevin on the missing pixels only: they start from uniform
noise in the model's value range and the known pixels are held at their values
(the samplers' fixed_mask / fixed_values), so the chain samples the model's
conditional density of the missing part given the rest. Denoising starts from
the whole corrupted image and runs a short chain on every pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from .chains import Progress, energy_of, make_sampler, run_frames
from .inputs import load_inputs
from .models import OpenedModel, open_model

MASK_KINDS = ("center", "left", "right", "top", "bottom", "random", "box")


@dataclass
class InpaintResult:
    """x: (N, *shape) the filled/denoised inputs; filmstrip: (F, N, *shape) the chain at ``steps``;
    energies: (F, N) energy of each input per frame; mask: (N, *shape) bool, True = was free
    (all True for denoising); x_start: (N, *shape) the chain's start."""

    x: np.ndarray
    filmstrip: np.ndarray
    energies: np.ndarray
    steps: np.ndarray
    mask: np.ndarray
    x_start: np.ndarray


def make_mask(shape: tuple[int, ...], kind: str = "center", fraction: float = 0.5,
              box: tuple[int, int, int, int] | None = None, seed: int = 0) -> np.ndarray:
    """A bool mask of ``shape`` ((C, H, W) or (N, C, H, W)), True = missing.

    center: a centred square of side fraction*H by fraction*W; left/right/top/bottom: that
    fraction of the columns/rows; random: each pixel missing with probability fraction
    (all channels together, a new draw per image); box: (top, left, height, width) in pixels.
    """
    if kind not in MASK_KINDS:
        raise ConfigError(f"unknown mask kind {kind!r}; allowed: {', '.join(MASK_KINDS)}")
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (3, 4):
        raise ConfigError(f"masks are for images, shape (C, H, W) or (N, C, H, W); got {shape}")
    if not 0.0 < float(fraction) < 1.0 and kind != "box":
        raise ConfigError(f"mask fraction must be between 0 and 1 (exclusive), got {fraction}")
    h, w = shape[-2:]
    mask = np.zeros(shape, dtype=bool)
    if kind == "random":
        n = shape[0] if len(shape) == 4 else 1
        pixels = np.random.default_rng([seed, 5]).random((n, h, w)) < float(fraction)
        mask[...] = pixels[:, None] if len(shape) == 4 else pixels
        return mask
    rows, cols = slice(0, h), slice(0, w)
    ch, cw = max(1, round(h * float(fraction))), max(1, round(w * float(fraction)))
    if kind == "center":
        rows, cols = slice((h - ch) // 2, (h - ch) // 2 + ch), slice((w - cw) // 2, (w - cw) // 2 + cw)
    elif kind == "left":
        cols = slice(0, cw)
    elif kind == "right":
        cols = slice(w - cw, w)
    elif kind == "top":
        rows = slice(0, ch)
    elif kind == "bottom":
        rows = slice(h - ch, h)
    else:
        if box is None or len(box) != 4:
            raise ConfigError("a 'box' mask needs box = (top, left, height, width) in pixels")
        top, left, bh, bw = (int(v) for v in box)
        if bh < 1 or bw < 1 or top < 0 or left < 0 or top + bh > h or left + bw > w:
            raise ConfigError(f"box {tuple(box)} does not fit in a {h}x{w} image")
        rows, cols = slice(top, top + bh), slice(left, left + bw)
    mask[..., rows, cols] = True
    return mask


def corrupt(x: np.ndarray, mask: np.ndarray | None = None, noise_std: float = 0.0, seed: int = 0,
            value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """A corrupted copy of x: (N, *shape): Gaussian noise of std ``noise_std`` on every entry
    (clipped to value_range), then uniform noise in value_range where ``mask`` is True."""
    if noise_std < 0:
        raise ConfigError(f"noise_std must be >= 0, got {noise_std}")
    rng = np.random.default_rng([seed, 3])
    lo, hi = float(value_range[0]), float(value_range[1])
    out = np.array(x, dtype=np.float32, copy=True)
    if noise_std > 0:
        out += rng.normal(0.0, float(noise_std), size=out.shape).astype(np.float32)
        np.clip(out, lo, hi, out=out)
    if mask is not None:
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), out.shape)
        out[mask] = rng.uniform(lo, hi, size=int(mask.sum())).astype(np.float32)
    return out


def masked_mse(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean squared difference of a and b over the entries where mask is True (all without one)."""
    d = (np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) ** 2
    if mask is None:
        return float(d.mean())
    mask = np.broadcast_to(np.asarray(mask, dtype=bool), d.shape)
    return float(d[mask].mean()) if mask.any() else 0.0


def inpaint(model: OpenedModel | Any, x: np.ndarray, mask: np.ndarray, n_steps: int | None = 200,
            step_size: float | None = None, noise: float | str | None = None, clip_grad: float | None = None,
            clamp: Any = None, frames: int = 8, seed: int = 0, progress: Progress | None = None) -> InpaintResult:
    """Fill the entries of x: (N, *shape) where mask (bool, broadcastable, True = missing) is set.

    The missing entries start from uniform noise in the clamp range (the model's value range)
    and move by Langevin dynamics; the others stay exactly at x. Sampler settings default to
    the model's training sampler (see chains.make_sampler; n_steps None = the training length).
    progress: see chains.run_frames.
    """
    x = np.asarray(x, dtype=np.float32)
    sampler, n = make_sampler(model, n_steps, step_size, noise, clip_grad, clamp)
    lo, hi = sampler.clamp if sampler.clamp is not None else _value_range(model)
    try:
        free = np.ascontiguousarray(np.broadcast_to(np.asarray(mask, dtype=bool), x.shape))
    except ValueError:
        raise ConfigError(f"the mask has shape {np.shape(mask)}, which does not fit the inputs' {x.shape}") from None
    x0 = corrupt(x, free, 0.0, seed, (lo, hi))
    run = run_frames(energy_of(model), x0, sampler, n, frames, seed, fixed_mask=~free, fixed_values=x,
                     progress=progress)
    return InpaintResult(run.x, run.filmstrip, run.energies, run.steps, free, x0)


def denoise(model: OpenedModel | Any, x_noisy: np.ndarray, n_steps: int | None = 10,
            step_size: float | None = None, noise: float | str | None = 0.0, clip_grad: float | None = None,
            clamp: Any = None, frames: int = 8, seed: int = 0, progress: Progress | None = None) -> InpaintResult:
    """Denoise x_noisy: (N, *shape) by a short Langevin run (no extra noise by default) from it.
    progress: see chains.run_frames."""
    x_noisy = np.asarray(x_noisy, dtype=np.float32)
    sampler, n = make_sampler(model, n_steps, step_size, noise, clip_grad, clamp)
    run = run_frames(energy_of(model), x_noisy, sampler, n, frames, seed, progress=progress)
    return InpaintResult(run.x, run.filmstrip, run.energies, run.steps, np.ones(x_noisy.shape, bool), x_noisy)


def _value_range(model: Any) -> tuple[float, float]:
    return model.value_range if isinstance(model, OpenedModel) else (-1.0, 1.0)


# --- preset functions: TOML-friendly arguments, used by the presets, the CLI and the GUI -------------


@dataclass
class RestorationRun:
    """An inpaint/denoise run on named inputs: truth (N, *shape), corrupted (N, *shape), the result,
    and the mean squared error to the truth over the corrupted region before and after."""

    truth: np.ndarray
    corrupted: np.ndarray
    result: InpaintResult
    mse_before: float
    mse_after: float
    labels: np.ndarray | None = None


def inpaint_images(model: Any, data: str = "builtin_digits", images: Any = None, n: int = 16,
                   mask: str = "center", fraction: float = 0.5, box: Any = None, n_steps: int | None = 200,
                   step_size: float | None = None, noise: float | str | None = None, clip_grad: float | None = None,
                   frames: int = 8, seed: int = 0) -> RestorationRun:
    """Inpaint n images (from ``images``, an (N, *shape) array, else the inputs named ``data``)
    masked by ``mask`` (see make_mask); mse_* are over the masked pixels, the start being noise."""
    opened = open_model(model)
    truth, labels = _inputs(opened, data, images, n, seed)
    m = make_mask(truth.shape, mask, fraction, None if box is None else tuple(box), seed)
    result = inpaint(opened, truth, m, n_steps, step_size, noise, clip_grad, frames=frames, seed=seed)
    return RestorationRun(truth, result.x_start, result, masked_mse(result.x_start, truth, m),
                          masked_mse(result.x, truth, m), labels)


def denoise_images(model: Any, data: str = "builtin_digits", images: Any = None, n: int = 16,
                   noise_std: float = 0.4, n_steps: int | None = 10, step_size: float | None = None,
                   noise: float | str | None = 0.0, clip_grad: float | None = None, frames: int = 8,
                   seed: int = 0) -> RestorationRun:
    """Add Gaussian noise of std ``noise_std`` to n images and denoise them; mse_* over all pixels."""
    opened = open_model(model)
    truth, labels = _inputs(opened, data, images, n, seed)
    noisy = corrupt(truth, None, noise_std, seed, opened.value_range)
    result = denoise(opened, noisy, n_steps, step_size, noise, clip_grad, frames=frames, seed=seed)
    return RestorationRun(truth, noisy, result, masked_mse(noisy, truth), masked_mse(result.x, truth), labels)


def _inputs(opened: OpenedModel, data: str, images: Any, n: int, seed: int) -> tuple[np.ndarray, Any]:
    if images is None:
        return load_inputs(data, n, opened.input_shape, opened.value_range, seed)
    x = np.asarray(images, dtype=np.float32)
    if x.shape[1:] != opened.input_shape:
        raise ConfigError(f"the images have shape {x.shape}; the model takes (N, {opened.input_shape})")
    return x[:n], None


PRESET_FUNCTIONS = {"inpaint": inpaint_images, "denoise": denoise_images}
