"""Spectral normalisation: divide a weight by its largest singular value.

sigma = u^T W v with u, v from power iteration, which run once per training
iteration (``power_iteration``) and are held fixed in between, as in
Miyato et al. (2018) and PyTorch. With u, v constant,
    W_sn = W / sigma,   dL/dW = g / sigma - <g, W> / sigma^2 * u v^T.
"""

from __future__ import annotations

from typing import Any


def _normalize(v: Any, xp: Any) -> Any:
    return v / (float(xp.linalg.norm(v)) + 1e-12)


def init_vectors(w2: Any, rng: Any, xp: Any) -> tuple[Any, Any]:
    """Random unit u: (rows,), then a few iterations so sigma starts close."""
    u = _normalize(xp.asarray(rng.standard_normal(w2.shape[0]), dtype=w2.dtype), xp)
    v = None
    for _ in range(5):
        u, v = power_iteration(w2, u, xp)
    return u, v


def power_iteration(w2: Any, u: Any, xp: Any) -> tuple[Any, Any]:
    """One step on the (rows, cols) matrix w2: returns the new (u, v)."""
    v = _normalize(w2.T @ u, xp)
    u = _normalize(w2 @ v, xp)
    return u, v


def normalized(w: Any, u: Any, v: Any) -> tuple[Any, float]:
    """(W / sigma, sigma) for the weight w of any shape (rows first)."""
    w2 = w.reshape(w.shape[0], -1)
    sigma = float(u @ (w2 @ v))
    return w / sigma, sigma


def weight_grad(g_sn: Any, w: Any, u: Any, v: Any, sigma: float) -> Any:
    """Gradient with respect to the raw weight, given the one w.r.t. W / sigma."""
    inner = float((g_sn * w).sum())
    g = g_sn / sigma
    g -= ((inner / (sigma * sigma)) * (u[:, None] * v[None, :])).reshape(w.shape)
    return g
