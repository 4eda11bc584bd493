"""Elementwise activations: forward returns (y, saved), backward(gy, saved) -> gx.

Each saves the least its backward needs and works in place on its own
temporaries (``out=``), so a pass costs a few streaming sweeps over memory.
Python floats only: a NumPy float64 scalar would upcast float32 arrays.
"""

from __future__ import annotations

from typing import Any

from ..backend import get_array_module


def sigmoid(x: Any) -> Any:
    """1 / (1 + exp(-x)) without overflow warnings (exp(-x) -> inf gives 0)."""
    xp = get_array_module(x)
    with _quiet(xp):
        s = xp.negative(x)
        xp.exp(s, out=s)
        s += 1.0
        xp.reciprocal(s, out=s)
    return s


def swish_forward(x: Any) -> tuple[Any, tuple]:
    """Swish/SiLU: y = x * sigmoid(x)."""
    s = sigmoid(x)
    y = x * s
    return y, (y, s)


def swish_backward(gy: Any, saved: tuple) -> Any:
    """dy/dx = s + y (1 - s)."""
    y, s = saved
    g = 1.0 - s
    g *= y
    g += s
    g *= gy
    return g


def relu_forward(x: Any) -> tuple[Any, Any]:
    xp = get_array_module(x)
    mask = x > 0
    return xp.maximum(x, 0.0), mask


def relu_backward(gy: Any, mask: Any) -> Any:
    return gy * mask


def leaky_relu_forward(x: Any, slope: float) -> tuple[Any, Any]:
    """y = x for x > 0, slope * x otherwise."""
    xp = get_array_module(x)
    mask = x > 0
    y = x * float(slope)
    if 0.0 <= slope <= 1.0:
        xp.maximum(x, y, out=y)
    else:
        xp.copyto(y, x, where=mask)
    return y, mask


def leaky_relu_backward(gy: Any, mask: Any, slope: float) -> Any:
    xp = get_array_module(gy)
    gx = gy * float(slope)
    xp.copyto(gx, gy, where=mask)
    return gx


def softplus_forward(x: Any) -> tuple[Any, Any]:
    """y = log(1 + exp(x)), stable for large |x|."""
    xp = get_array_module(x)
    return xp.logaddexp(0.0, x).astype(x.dtype, copy=False), x


def softplus_backward(gy: Any, x: Any) -> Any:
    s = sigmoid(x)
    s *= gy
    return s


def elu_forward(x: Any, alpha: float) -> tuple[Any, tuple]:
    """y = x for x > 0, alpha (exp(x) - 1) otherwise."""
    xp = get_array_module(x)
    mask = x > 0
    with _quiet(xp):
        y = xp.expm1(x)
    y *= float(alpha)
    xp.copyto(y, x, where=mask)
    return y, (y, mask)


def elu_backward(gy: Any, saved: tuple, alpha: float) -> Any:
    """dy/dx = 1 for x > 0, y + alpha otherwise."""
    xp = get_array_module(gy)
    y, mask = saved
    gx = y + float(alpha)
    gx *= gy
    xp.copyto(gx, gy, where=mask)
    return gx


class _quiet:
    """np.errstate(over='ignore') for NumPy, nothing for CuPy."""

    def __init__(self, xp: Any):
        self._ctx = xp.errstate(over="ignore") if hasattr(xp, "errstate") else None

    def __enter__(self) -> None:
        if self._ctx is not None:
            self._ctx.__enter__()

    def __exit__(self, *exc: Any) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(*exc)
