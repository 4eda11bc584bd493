"""Fully connected layer: y = x @ w.T + b, with w: (out, in) as in PyTorch."""

from __future__ import annotations

from typing import Any

from ..backend import get_array_module
from .blas import gemm, matmul


def linear_forward(x: Any, w: Any, b: Any | None) -> Any:
    """x: (N, in), w: (out, in), b: (out,) -> y: (N, out).

    The bias is written first and the product accumulated onto it (BLAS
    beta = 1), which saves a pass over y.
    """
    xp = get_array_module(x)
    if b is None:
        return matmul(x, w.T)
    y = xp.empty((x.shape[0], w.shape[0]), dtype=x.dtype)
    y[...] = b
    return gemm(x, w.T, y, beta=1.0)


def linear_backward_input(gy: Any, w: Any) -> Any:
    """gy: (N, out) -> gx: (N, in); read-only when gy is one row broadcast (see below)."""
    if w.shape[0] == 1:  # an energy head: an outer product, cheaper as a broadcast than a K=1 GEMM
        if gy.strides[0] == 0:  # every sample's gradient is the same (energy_and_grad's ones): so is gx
            return get_array_module(gy).broadcast_to(gy[:1] * w, (gy.shape[0], w.shape[1]))
        return gy * w
    return matmul(gy, w)


def linear_backward_params(gy: Any, x: Any, with_bias: bool) -> tuple[Any, Any | None]:
    """gy: (N, out), x: (N, in) -> gw: (out, in), gb: (out,) or None."""
    return matmul(gy.T, x), (gy.sum(axis=0) if with_bias else None)
