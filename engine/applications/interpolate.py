"""Interpolation and reconstruction: walk between two inputs, and let the energy tidy the path.

    result = interpolate(opened, a, b, n=8, refine_steps=20)
    result.linear      # (P, n, *shape): (1 - t) a + t b at t = 0 ... 1
    result.path        # (P, n, *shape): each inner point after a few Langevin steps
    result.energy_linear, result.energy_path   # (P, n)

The straight line between two data points usually crosses regions the model
finds unlikely (high energy: a blend of two digits is no digit). A few Langevin
steps from each point (endpoints held fixed) pull the inner points down to
nearby low-energy inputs, which shows how the model's modes connect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backend
from ..errors import ConfigError
from .chains import Progress, array_module, energy_of, make_sampler, run_frames
from .inpaint import InpaintResult, denoise, inpaint
from .inputs import load_inputs
from .models import OpenedModel, open_model


@dataclass
class InterpolationResult:
    """P paths of n points: t (n,) in [0, 1]; linear and path: (P, n, *shape); energy_linear and
    energy_path: (P, n) float64 (path = linear when refine_steps is 0)."""

    t: np.ndarray
    linear: np.ndarray
    path: np.ndarray
    energy_linear: np.ndarray
    energy_path: np.ndarray


def interpolate(model: OpenedModel | Any, a: Any, b: Any, n: int = 8, refine_steps: int = 0,
                step_size: float | None = None, noise: float | str | None = None, clip_grad: float | None = None,
                clamp: Any = None, seed: int = 0, progress: Progress | None = None) -> InterpolationResult:
    """Paths from a to b: each (*shape) or (P, *shape) -> P paths of n >= 2 points.

    refine_steps > 0 runs that many Langevin steps from every inner point, the two endpoints
    held fixed; sampler settings default to the model's training sampler (chains.make_sampler).
    progress: see chains.run_frames (called only when refining).
    """
    energy = energy_of(model)
    shape = tuple(getattr(energy, "input_shape", np.shape(a)[-1:]))
    a, b = _batch(a, shape, "a"), _batch(b, shape, "b")
    if a.shape != b.shape:
        raise ConfigError(f"a and b must hold the same number of inputs, got {a.shape[0]} and {b.shape[0]}")
    if int(n) < 2:
        raise ConfigError(f"an interpolation needs n >= 2 points, got {n}")
    p, n = a.shape[0], int(n)
    t = np.linspace(0.0, 1.0, n)
    tt = t.reshape(1, n, *([1] * len(shape))).astype(np.float32)
    linear = ((1.0 - tt) * a[:, None] + tt * b[:, None]).astype(np.float32)  # (P, n, *shape)
    flat = linear.reshape(p * n, *shape)
    xp = array_module(energy)
    e_linear = backend.to_numpy(energy.energy(xp.asarray(flat))).astype(np.float64).reshape(p, n)
    if int(refine_steps) <= 0:
        return InterpolationResult(t, linear, linear.copy(), e_linear, e_linear.copy())
    sampler, steps = make_sampler(model, refine_steps, step_size, noise, clip_grad, clamp)
    ends = np.zeros((p, n) + (1,) * len(shape), dtype=bool)
    ends[:, [0, -1]] = True
    ends = ends.reshape(p * n, *([1] * len(shape)))
    run = run_frames(energy, flat, sampler, steps, 2, seed, fixed_mask=ends, fixed_values=flat, progress=progress)
    return InterpolationResult(t, linear, run.x.reshape(linear.shape), e_linear, run.energies[-1].reshape(p, n))


def reconstruct(model: OpenedModel | Any, x_corrupt: Any, mask: Any = None, **kwargs: Any) -> InpaintResult:
    """Restore x_corrupt: (N, *shape): inpaint where mask (True = missing) is set, else denoise it.

    kwargs go to :func:`~.inpaint.inpaint` or :func:`~.inpaint.denoise`.
    """
    if mask is None:
        return denoise(model, x_corrupt, **kwargs)
    return inpaint(model, x_corrupt, mask, **kwargs)


def _batch(x: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    x = np.asarray(backend.to_numpy(x), dtype=np.float32)
    if x.shape == shape:
        return x[None]
    if x.ndim == len(shape) + 1 and x.shape[1:] == shape:
        return x
    raise ConfigError(f"{name} has shape {x.shape}; the model takes {shape} or (P, {', '.join(map(str, shape))})")


# --- preset function -----------------------------------------------------------------------------


def interpolate_inputs(model: Any, data: str = "builtin_digits", pairs: int = 4, n: int = 8,
                       refine_steps: int = 20, step_size: float | None = None, noise: float | str | None = None,
                       clip_grad: float | None = None, seed: int = 0) -> InterpolationResult:
    """Interpolate ``pairs`` pairs of inputs drawn from ``data`` (a name or file, see inputs.load_inputs)."""
    opened = open_model(model)
    x, _ = load_inputs(data, 2 * int(pairs), opened.input_shape, opened.value_range, seed)
    return interpolate(opened, x[0::2], x[1::2], n, refine_steps, step_size, noise, clip_grad, seed=seed)


PRESET_FUNCTIONS = {"interpolate": interpolate_inputs}
