"""Fully connected layer: y = x @ w.T + b, with w: (out, in) as in PyTorch."""

from __future__ import annotations

from typing import Any


def linear_forward(x: Any, w: Any, b: Any | None) -> Any:
    """x: (N, in), w: (out, in), b: (out,) -> y: (N, out)."""
    y = x @ w.T
    if b is not None:
        y += b
    return y


def linear_backward_input(gy: Any, w: Any) -> Any:
    """gy: (N, out) -> gx: (N, in)."""
    return gy @ w


def linear_backward_params(gy: Any, x: Any, with_bias: bool) -> tuple[Any, Any | None]:
    """gy: (N, out), x: (N, in) -> gw: (out, in), gb: (out,) or None."""
    return gy.T @ x, (gy.sum(axis=0) if with_bias else None)
