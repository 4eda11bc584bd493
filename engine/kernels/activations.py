"""Activations on the GPU: one pass each way instead of four or five xp calls.

Same formulas, same operation order and the same saved state as
engine.ops.activations (the twin), so a layer's backward works with either:

* swish:      s = 0.5 tanh(x / 2) + 0.5, y = x s; saves (y, s);
              backward gx = ((1 - s) y + s) gy;
* leaky ReLU: scale = 1 for x > 0 else 0, then scale = scale (1 - slope) + slope
              (the twin's passes, so x > 0 gets exactly the twin's value), y = x scale;
              saves scale; its backward is one multiply and stays an xp call.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from . import launch

KERNELS = ("swish_forward", "swish_backward", "leaky_relu_forward")

SOURCE = r"""
extern "C" __global__ void swish_forward(const float* x, float* y, float* s, i64 n) {
    GRID_STRIDE(i, n) {
        float v = x[i];
        float si = tanhf(v * 0.5f) * 0.5f + 0.5f;
        s[i] = si;
        y[i] = v * si;
    }
}

extern "C" __global__ void swish_backward(const float* gy, const float* y, const float* s, float* gx, i64 n) {
    GRID_STRIDE(i, n) {
        float si = s[i];
        float g = (1.0f - si) * y[i];
        g = g + si;
        gx[i] = g * gy[i];
    }
}

extern "C" __global__ void leaky_relu_forward(const float* x, float* y, float* scale,
                                              float one_minus_slope, float slope, int has_slope, i64 n) {
    GRID_STRIDE(i, n) {
        float v = x[i];
        float sc = v > 0.0f ? 1.0f : 0.0f;
        if (has_slope) sc = sc * one_minus_slope + slope;
        scale[i] = sc;
        y[i] = v * sc;
    }
}
"""


def _contiguous(x: Any) -> Any:
    return backend.cupy_module().ascontiguousarray(x)


def swish_forward(x: Any) -> tuple[Any, tuple]:
    """y = x sigmoid(x) for float32 CuPy x (any shape); returns (y, (y, s)) as the twin does."""
    cp = backend.cupy_module()
    x = _contiguous(x)
    y, s = cp.empty_like(x), cp.empty_like(x)
    launch("swish_forward", x.size, (x, y, s, np.int64(x.size)))
    return y, (y, s)


def swish_backward(gy: Any, saved: tuple) -> Any:
    """gx from gy and the (y, s) saved by swish_forward."""
    cp = backend.cupy_module()
    y, s = saved
    if not gy.shape == y.shape == s.shape:
        raise ValueError(f"swish_backward: gy {gy.shape} does not fit the saved {y.shape}")
    gy = _contiguous(gy)
    gx = cp.empty_like(gy)
    launch("swish_backward", gy.size, (gy, _contiguous(y), _contiguous(s), gx, np.int64(gy.size)))
    return gx


def leaky_relu_forward(x: Any, slope: float) -> tuple[Any, Any]:
    """(y, scale) with scale = dy/dx, as the twin returns."""
    cp = backend.cupy_module()
    x = _contiguous(x)
    y, scale = cp.empty_like(x), cp.empty_like(x)
    slope = float(slope)
    launch("leaky_relu_forward", x.size, (x, y, scale, np.float32(1.0 - slope), np.float32(slope),
                                          np.int32(slope != 0.0), np.int64(x.size)))
    return y, scale
