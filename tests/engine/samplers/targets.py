"""Analytic energies with exact gradients for the sampler tests (NumPy or CuPy)."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.backend import get_array_module


class Gaussian:
    """E(x) = sum_i (x_i - m_i)^2 / (2 s_i^2): exp(-E) is N(m, diag(s^2)).

    mean, std: broadcastable to input_shape.
    """

    def __init__(self, mean: Any, std: Any, input_shape: tuple[int, ...] | None = None):
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        self.input_shape = tuple(input_shape or np.broadcast(self.mean, self.std).shape)
        self.calls = 0

    def _params(self, x: Any) -> tuple[Any, Any]:
        xp = get_array_module(x)
        return xp.asarray(self.mean, dtype=x.dtype), xp.asarray(1.0 / self.std**2, dtype=x.dtype)

    def energy(self, x: Any) -> Any:
        m, prec = self._params(x)
        d = x - m
        return 0.5 * (d * d * prec).reshape(x.shape[0], -1).sum(axis=1)

    def energy_and_grad(self, x: Any) -> tuple[Any, Any]:
        self.calls += 1
        m, prec = self._params(x)
        d = x - m
        return 0.5 * (d * d * prec).reshape(x.shape[0], -1).sum(axis=1), d * prec


class Quartic:
    """A non-Gaussian energy: E(x) = sum_i (x_i^4 / 4 - x_i^2 / 2 + 0.3 x_i) (double well)."""

    def __init__(self, input_shape: tuple[int, ...]):
        self.input_shape = tuple(input_shape)

    def energy(self, x: Any) -> Any:
        return (x**4 / 4 - x**2 / 2 + 0.3 * x).reshape(x.shape[0], -1).sum(axis=1)

    def energy_and_grad(self, x: Any) -> tuple[Any, Any]:
        return self.energy(x), x**3 - x + 0.3


def assert_moments(x: np.ndarray, mean: Any, std: Any, n_se: float = 4.5) -> None:
    """Per-coordinate sample mean and variance of x: (N, D) within n_se standard errors.

    SE of the mean: s / sqrt(N); of the variance (Gaussian): s^2 sqrt(2 / (N - 1)).
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    mean = np.broadcast_to(np.asarray(mean, dtype=np.float64), x.shape[1:])
    var = np.broadcast_to(np.asarray(std, dtype=np.float64) ** 2, x.shape[1:])
    se_mean = np.sqrt(var / n)
    se_var = var * np.sqrt(2.0 / (n - 1))
    got_mean, got_var = x.mean(axis=0), x.var(axis=0, ddof=1)
    assert np.all(np.abs(got_mean - mean) < n_se * se_mean), (got_mean, mean, se_mean)
    assert np.all(np.abs(got_var - var) < n_se * se_var), (got_var, var, se_var)
