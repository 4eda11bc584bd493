"""Average pooling on (C, H, W, N) activations, as a loop over the k*k taps."""

from __future__ import annotations

from typing import Any

from ..backend import get_array_module
from .conv import conv_output_size


def _taps(kernel: int, stride: int, oh: int, ow: int):
    hs, ws = stride * (oh - 1) + 1, stride * (ow - 1) + 1
    for i in range(kernel):
        for j in range(kernel):
            yield slice(i, i + hs, stride), slice(j, j + ws, stride)


def avg_pool2d_forward(x: Any, kernel: int, stride: int) -> Any:
    """x: (C, H, W, N) -> (C, OH, OW, N), the mean over each kernel window."""
    xp = get_array_module(x)
    C, H, W, N = x.shape
    oh, ow = conv_output_size(H, kernel, stride, 0), conv_output_size(W, kernel, stride, 0)
    y = xp.zeros((C, oh, ow, N), dtype=x.dtype)
    for rows, cols in _taps(kernel, stride, oh, ow):
        y += x[:, rows, cols]
    y *= 1.0 / (kernel * kernel)
    return y


def avg_pool2d_backward(gy: Any, in_shape: tuple, kernel: int, stride: int) -> Any:
    """gy: (C, OH, OW, N) -> gx: in_shape, each window gets gy / k^2."""
    xp = get_array_module(gy)
    g = gy * (1.0 / (kernel * kernel))
    gx = xp.zeros(in_shape, dtype=gy.dtype)
    for rows, cols in _taps(kernel, stride, gy.shape[1], gy.shape[2]):
        gx[:, rows, cols] += g
    return gx
