"""Average pooling on (C, N, H, W) activations, as a loop over the k*k taps."""

from __future__ import annotations

from typing import Any

from ..backend import get_array_module
from .conv import conv_output_size


def avg_pool2d_forward(x: Any, kernel: int, stride: int) -> Any:
    """x: (C, N, H, W) -> (C, N, OH, OW), the mean over each kernel window."""
    xp = get_array_module(x)
    C, N, H, W = x.shape
    oh, ow = conv_output_size(H, kernel, stride, 0), conv_output_size(W, kernel, stride, 0)
    hs, ws = stride * (oh - 1) + 1, stride * (ow - 1) + 1
    y = xp.zeros((C, N, oh, ow), dtype=x.dtype)
    for i in range(kernel):
        for j in range(kernel):
            y += x[:, :, i : i + hs : stride, j : j + ws : stride]
    y *= 1.0 / (kernel * kernel)
    return y


def avg_pool2d_backward(gy: Any, in_shape: tuple, kernel: int, stride: int) -> Any:
    """gy: (C, N, OH, OW) -> gx: in_shape, each window gets gy / k^2."""
    xp = get_array_module(gy)
    C, N, oh, ow = gy.shape
    hs, ws = stride * (oh - 1) + 1, stride * (ow - 1) + 1
    g = gy * (1.0 / (kernel * kernel))
    gx = xp.zeros(in_shape, dtype=gy.dtype)
    for i in range(kernel):
        for j in range(kernel):
            gx[:, :, i : i + hs : stride, j : j + ws : stride] += g
    return gx
