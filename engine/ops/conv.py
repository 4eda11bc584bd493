"""2-D convolution as im2col + one GEMM, on activations laid out (C, N, H, W).

With channels first, forward, input gradient and weight gradient are each one
2-D matrix product with no transposes:
    y[O, N*P]      = w[O, C*kh*kw] @ col[C*kh*kw, N*P]
    gcol[C*k*k, NP] = w.T @ gy            -> col2im -> gx
    gw[O, C*k*k]   = gy @ col.T
im2col/col2im loop over the kh*kw taps with strided slice copies (no loop over
pixels or samples), split over channel blocks on the CPU cores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import get_array_module
from ._parallel import run_chunks


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def pad_input(x: Any, padding: int) -> Any:
    """x: (C, N, H, W) -> zero-padded copy (C, N, H+2p, W+2p); x itself for p == 0."""
    if padding == 0:
        return x
    xp = get_array_module(x)
    C, N, H, W = x.shape
    out = xp.empty((C, N, H + 2 * padding, W + 2 * padding), dtype=x.dtype)

    def fill(c0: int, c1: int) -> None:
        o = out[c0:c1]
        o[:, :, :padding] = 0
        o[:, :, H + padding :] = 0
        o[:, :, padding : H + padding, :padding] = 0
        o[:, :, padding : H + padding, W + padding :] = 0
        o[:, :, padding : H + padding, padding : W + padding] = x[c0:c1]

    run_chunks(fill, C, out.size, xp is not np)
    return out


def im2col(xpad: Any, kh: int, kw: int, stride: int, oh: int, ow: int) -> Any:
    """xpad: (C, N, Hp, Wp) -> col (C, kh, kw, N, oh, ow)."""
    xp = get_array_module(xpad)
    C, N = xpad.shape[:2]
    col = xp.empty((C, kh, kw, N, oh, ow), dtype=xpad.dtype)
    hs, ws = stride * (oh - 1) + 1, stride * (ow - 1) + 1

    def fill(c0: int, c1: int) -> None:
        for i in range(kh):
            for j in range(kw):
                col[c0:c1, i, j] = xpad[c0:c1, :, i : i + hs : stride, j : j + ws : stride]

    run_chunks(fill, C, col.size, xp is not np)
    return col


def col2im(col: Any, hp: int, wp: int, stride: int) -> Any:
    """col: (C, kh, kw, N, oh, ow) -> (C, N, hp, wp), summing overlapping taps."""
    xp = get_array_module(col)
    C, kh, kw, N, oh, ow = col.shape
    out = xp.zeros((C, N, hp, wp), dtype=col.dtype)
    hs, ws = stride * (oh - 1) + 1, stride * (ow - 1) + 1

    def add(c0: int, c1: int) -> None:
        for i in range(kh):
            for j in range(kw):
                out[c0:c1, :, i : i + hs : stride, j : j + ws : stride] += col[c0:c1, i, j]

    run_chunks(add, C, col.size, xp is not np)
    return out


def conv2d_forward(x: Any, w: Any, b: Any | None, stride: int, padding: int) -> tuple[Any, Any]:
    """x: (C, N, H, W), w: (O, C, kh, kw), b: (O,) -> y (O, N, OH, OW) and col for gw."""
    xp = get_array_module(x)
    C, N, H, W = x.shape
    O, Cw, kh, kw = w.shape
    if Cw != C:
        raise ValueError(f"conv2d: input has {C} channels, weight expects {Cw}")
    oh, ow = conv_output_size(H, kh, stride, padding), conv_output_size(W, kw, stride, padding)
    col = im2col(pad_input(x, padding), kh, kw, stride, oh, ow)
    y = xp.matmul(w.reshape(O, -1), col.reshape(C * kh * kw, -1))
    if b is not None:
        y += b[:, None]
    return y.reshape(O, N, oh, ow), col


def conv2d_backward_input(gy: Any, w: Any, in_shape: tuple, stride: int, padding: int) -> Any:
    """gy: (O, N, OH, OW) -> gx: (C, N, H, W) (the shape of the forward input)."""
    xp = get_array_module(gy)
    O, N, oh, ow = gy.shape
    _, C, kh, kw = w.shape
    H, W = in_shape[2], in_shape[3]
    gcol = xp.matmul(w.reshape(O, -1).T, gy.reshape(O, -1))
    gxpad = col2im(gcol.reshape(C, kh, kw, N, oh, ow), H + 2 * padding, W + 2 * padding, stride)
    gx = gxpad[:, :, padding : padding + H, padding : padding + W] if padding else gxpad
    assert gx.shape == tuple(in_shape)
    return gx


def conv2d_backward_params(gy: Any, col: Any, w_shape: tuple, with_bias: bool) -> tuple[Any, Any | None]:
    """gy: (O, N, OH, OW), col from the forward -> (gw: w_shape, gb: (O,) or None)."""
    O = gy.shape[0]
    g2 = gy.reshape(O, -1)
    gw = (g2 @ col.reshape(-1, g2.shape[1]).T).reshape(w_shape)
    gb = g2.sum(axis=1) if with_bias else None
    return gw, gb

