"""Float64 central differences for the energy tests (every entry; arrays are tiny here)."""

from __future__ import annotations

from typing import Callable

import numpy as np


def central_diff(loss: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d loss / d array by central differences, perturbing ``array`` in place (restored)."""
    assert array.dtype == np.float64 and array.flags.writeable
    out = np.empty(array.shape)
    for idx in np.ndindex(array.shape):
        old = float(array[idx])
        try:
            array[idx] = old + eps
            plus = float(loss())
            array[idx] = old - eps
            minus = float(loss())
        finally:
            array[idx] = old
        out[idx] = (plus - minus) / (2.0 * eps)
    return out


def input_grad_check(energy_fn: Callable[[np.ndarray], np.ndarray], grad: np.ndarray, x: np.ndarray,
                     rtol: float = 1e-6, atol: float = 1e-7, seed: int = 0) -> None:
    """Check grad = d/dx sum(gy * E(x)) for a random gy (grad given for gy = 1 per sample, rows scaled)."""
    gy = np.random.default_rng(seed).standard_normal(x.shape[0])
    numeric = central_diff(lambda: np.sum(gy * energy_fn(x)), x)
    analytic = grad * gy.reshape(-1, *([1] * (x.ndim - 1)))
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol)
