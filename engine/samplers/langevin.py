"""Langevin dynamics, the practical form used to train EBMs.

    x <- clamp(x - step * clip(dE/dx, -c, c) + noise * N(0, 1), lo, hi)

With step = a/2 and noise = sqrt(a) this is the textbook discretisation
x' = x - (a/2) dE/dx + N(0, a); EBM practice tunes the two separately.
"""

from __future__ import annotations

from typing import Any

from ..backend import get_array_module


def langevin_update_(x: Any, grad: Any, step: float, noise: float, rng: Any,
                     clip_grad: float | None = None, clamp: tuple[float, float] | None = None) -> Any:
    """One update of x in place (grad is consumed as scratch); returns x.

    x, grad: same shape; rng: the run's generator on x's backend.
    """
    xp = get_array_module(x)
    if clip_grad is not None:
        xp.clip(grad, -float(clip_grad), float(clip_grad), out=grad)
    grad *= -float(step)
    x += grad
    if noise:
        eps = rng.standard_normal(x.shape, dtype=x.dtype)
        eps *= float(noise)
        x += eps
    if clamp is not None:
        xp.clip(x, float(clamp[0]), float(clamp[1]), out=x)
    return x
