"""2-D convolution as im2col + one GEMM, on activations laid out (C, H, W, N).

Channels first and the batch last make every step one 2-D matrix product
with no transposes, and every strided copy moves contiguous runs of N samples:
    y[O, P*N]       = w[O, C*kh*kw] @ col[C*kh*kw, P*N]     (P = OH*OW)
    gcol[C*k*k, PN] = w.T @ gy            -> col2im -> gx
    gw[O, C*k*k]    = gy @ col.T
im2col/col2im loop over the kh*kw taps with strided slice copies (no loop
over pixels or samples). Padding is never materialised: each tap copies the
rows and columns that fall inside the image and zeroes the rest. Strided
layers whose kernel is a multiple of the stride (k4 s2) take the row-window
path of engine.ops.conv_rows instead: a half-size col, same arithmetic.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import kernels
from ..backend import get_array_module
from ..kernels import conv as gpu
from . import conv_rows
from ._geometry import conv_output_size, strided, tap_range
from ._parallel import run_chunks
from .blas import gemm, matmul


def im2col(x: Any, kh: int, kw: int, stride: int, padding: int, oh: int, ow: int, out: Any | None = None) -> Any:
    """x: (C, H, W, N) -> col (C, kh, kw, oh, ow, N), zeros where a tap falls in the padding.

    ``out``: a col buffer filled by an earlier call with the same geometry; its
    padding zeros are still in place, so only the image part is copied again.
    """
    if kernels.usable(x):  # CuPy: one gather kernel instead of kh*kw slice copies
        return gpu.im2col(x, kh, kw, stride, padding, oh, ow, out)
    xp = get_array_module(x)
    C, H, W, N = x.shape
    fresh = out is None
    col = xp.empty((C, kh, kw, oh, ow, N), dtype=x.dtype) if fresh else out
    assert col.shape == (C, kh, kw, oh, ow, N)
    rows = [tap_range(i, padding, stride, H, oh) for i in range(kh)]
    cols = [tap_range(j, padding, stride, W, ow) for j in range(kw)]

    def fill(c0: int, c1: int) -> None:
        for i, (a0, a1, h0) in enumerate(rows):
            for j, (b0, b1, w0) in enumerate(cols):
                dst = col[c0:c1, i, j]
                if a1 == a0 or b1 == b0:
                    if fresh:
                        dst[...] = 0
                    continue
                dst[:, a0:a1, b0:b1] = x[c0:c1, strided(h0, a1 - a0, stride), strided(w0, b1 - b0, stride)]
                if fresh:
                    dst[:, :a0] = 0
                    dst[:, a1:] = 0
                    dst[:, a0:a1, :b0] = 0
                    dst[:, a0:a1, b1:] = 0

    run_chunks(fill, C, col.size, xp is not np)
    return col


def col2im(col: Any, h: int, w: int, stride: int, padding: int) -> Any:
    """col: (C, kh, kw, oh, ow, N) -> (C, h, w, N), summing the taps that overlap.

    Taps whose offsets agree modulo the stride write the same pixels (a phase);
    each phase's first tap is copied in and the others added, in tap order, so
    the sums are exactly those of adding every tap to zeros, without a zeroing
    pass over the whole output (W2's 64-channel layer, 32 images: 4.0 -> 2.6 ms).
    """
    if kernels.usable(col):  # CuPy: one gather kernel, same summation order
        return gpu.col2im(col, h, w, stride, padding)
    xp = get_array_module(col)
    C, kh, kw, oh, ow, N = col.shape
    out = xp.empty((C, h, w, N), dtype=col.dtype)
    rows = [tap_range(i, padding, stride, h, oh) for i in range(kh)]
    cols = [tap_range(j, padding, stride, w, ow) for j in range(kw)]
    phases: dict[tuple[int, int], list[tuple[int, int]]] = {
        (ph, pw): [] for ph in range(min(stride, h)) for pw in range(min(stride, w))}
    for i, (a0, a1, h0) in enumerate(rows):
        for j, (b0, b1, w0) in enumerate(cols):
            if a1 > a0 and b1 > b0:
                phases[h0 % stride, w0 % stride].append((i, j))

    def fill(c0: int, c1: int) -> None:
        for (ph, pw), taps in phases.items():
            grid = out[c0:c1, ph::stride, pw::stride]  # the pixels this phase's taps write
            if not taps:
                grid[...] = 0
                continue
            (i, j), rest = taps[0], taps[1:]
            (a0, a1, h0), (b0, b1, w0) = rows[i], cols[j]
            r0, q0 = h0 // stride, w0 // stride
            r1, q1 = r0 + a1 - a0, q0 + b1 - b0
            grid[:, :r0] = 0  # pixels of the phase the first tap does not reach
            grid[:, r1:] = 0
            grid[:, r0:r1, :q0] = 0
            grid[:, r0:r1, q1:] = 0
            grid[:, r0:r1, q0:q1] = col[c0:c1, i, j, a0:a1, b0:b1]
            for i, j in rest:
                (a0, a1, h0), (b0, b1, w0) = rows[i], cols[j]
                out[c0:c1, strided(h0, a1 - a0, stride), strided(w0, b1 - b0, stride)] += \
                    col[c0:c1, i, j, a0:a1, b0:b1]

    run_chunks(fill, C, col.size, xp is not np)
    return out


def conv2d_forward(x: Any, w: Any, b: Any | None, stride: int, padding: int,
                   col_buffer: Any | None = None) -> tuple[Any, Any]:
    """x: (C, H, W, N), w: (O, C, kh, kw), b: (O,) -> y (O, OH, OW, N) and col for gw.

    col_buffer: the col of an earlier call with the same shapes, to reuse (see im2col).
    """
    xp = get_array_module(x)
    C, H, W, N = x.shape
    O, Cw, kh, kw = w.shape
    if Cw != C:
        raise ValueError(f"conv2d: input has {C} channels, weight expects {Cw}")
    oh, ow = conv_output_size(H, kh, stride, padding), conv_output_size(W, kw, stride, padding)
    rows = _row_windows(x, w.shape, stride, oh, ow)
    taps, oh_col = (stride, conv_rows.z_rows(oh, kh, stride)) if rows else (kh, oh)
    if col_buffer is not None and col_buffer.shape != (C, taps, kw, oh_col, ow, N):
        col_buffer = None  # a buffer of the other path
    col = im2col(x, taps, kw, stride, padding, oh_col, ow, out=col_buffer)
    if rows:
        return conv_rows.forward(col, w, b, stride, oh, ow), col
    cols = col.reshape(C * kh * kw, -1)
    if b is None:
        y = matmul(w.reshape(O, -1), cols)
    else:  # bias first, then the product accumulated onto it: one pass less over y
        y = xp.empty((O, cols.shape[1]), dtype=x.dtype)
        y[...] = b[:, None]
        gemm(w.reshape(O, -1), cols, y, beta=1.0)
    return y.reshape(O, oh, ow, N), col


def conv2d_backward_input(gy: Any, w: Any, in_shape: tuple, stride: int, padding: int) -> Any:
    """gy: (O, OH, OW, N) -> gx: (C, H, W, N) (the shape of the forward input)."""
    O, oh, ow, N = gy.shape
    _, C, kh, kw = w.shape
    if _row_windows(gy, w.shape, stride, oh, ow):
        gz = conv_rows.backward_z(gy, w, stride, (C, stride, kw, conv_rows.z_rows(oh, kh, stride), ow, N))
        gx = col2im(gz, in_shape[1], in_shape[2], stride, padding)
    else:
        gcol = matmul(w.reshape(O, -1).T, gy.reshape(O, -1))
        gx = col2im(gcol.reshape(C, kh, kw, oh, ow, N), in_shape[1], in_shape[2], stride, padding)
    assert gx.shape == tuple(in_shape)
    return gx


def conv2d_backward_params(gy: Any, col: Any, w_shape: tuple, with_bias: bool) -> tuple[Any, Any | None]:
    """gy: (O, OH, OW, N), col from the forward -> (gw: w_shape, gb: (O,) or None)."""
    O = gy.shape[0]
    g2 = gy.reshape(O, -1)
    if col.shape[1] != w_shape[2]:  # the row-window path's z: s row phases where col has k row taps
        gw = conv_rows.backward_params(gy, col, w_shape, col.shape[1])
    else:
        gw = matmul(g2, col.reshape(math.prod(w_shape[1:]), g2.shape[1]).T).reshape(w_shape)
    gb = g2.sum(axis=1) if with_bias else None
    return gw, gb


def _row_windows(a: Any, w_shape: tuple, stride: int, oh: int, ow: int) -> bool:
    """Whether this convolution takes the row-window path (NumPy, square k a multiple of s > 1).

    a: the input or output gradient, (C|O, H, W, N); forward and backward decide alike.
    """
    O, _, kh, kw = w_shape
    return kh == kw and get_array_module(a) is np and conv_rows.pays_off(O, kh, stride, oh, ow, a.shape[-1])
