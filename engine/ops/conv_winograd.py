"""Winograd F(2x2, 2x2) for stride-s convolutions with k = 2s (W2's k4 s2 layers).

Split by phase, such a convolution is a 2x2 stride-1 convolution over s*s*C
channels:
    xq[(c, a, b), r, q, n] = xpad[c, s*r + a, s*q + b, n]     (im2col, s x s kernel)
    g[o, (c, a, b), i', j'] = w[o, c, s*i' + a, s*j' + b]
    y[o, r, q, n] = sum_{i', j'} g[:, :, i', j'] @ xq[:, r + i', q + j', n]
Winograd's minimal algorithm computes each 2x2 output tile from a 3x3 input
tile d with 9 products instead of 16:
    y_tile = A^T [ (G g G^T) * (B^T d B) ] A,   B^T = [[1,-1,0],[0,1,0],[0,-1,1]],
    G = [[1,0],[1,1],[0,1]],                    A^T = [[1,1,0],[0,1,1]]
Every transform entry is 0 or +-1, so the transforms add and subtract and
lose nothing to rounding beyond the sums themselves. Over the channels the
product is 9 GEMMs, one per transform point (xi, nu):
    M[xi nu] = U[xi nu] (O, s*s*C) @ V[xi nu] (s*s*C, tiles*N)
and the input gradient runs the same steps transposed (U^T @ A gy A^T, then
B . B^T scattered back onto overlapping tiles).

The GEMMs do 9/16 of direct convolution's arithmetic; the transforms cost
passes over the activations. They pay where channels are many and images
small (see pays_off). U changes only with the weights, so callers transform
the weights once for as long as they stay fixed (Conv2d does this inside
EnergyNet.fixed_weights, around Langevin runs). NumPy only; activations are
(C, H, W, N) as in engine.ops.conv.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import get_array_module
from .blas import gemm
from .conv import col2im, im2col


def applies(kernel: int, stride: int, oh: int, ow: int) -> bool:
    """Whether the convolution splits into 2x2 kernels (k = 2s) with whole 2x2 output tiles."""
    return kernel == 2 * stride and oh % 2 == 0 and ow % 2 == 0


def pays_off(in_channels: int, out_channels: int, kernel: int, stride: int, oh: int, ow: int, x: Any) -> bool:
    """Whether this path beats the im2col paths (NumPy): GEMM work saved per transformed entry.

    Per output pixel and sample it saves 7*O*C multiply-adds (16 products of
    s*s*C channels become 9) and transforms about 36*C input and 9*O output
    entries. Measured on W2, one core, 32 images, MKL (ms, forward / input
    gradient, against the row-window path): 128->256 channels on 16x16
    13.1 -> 10.4 / 13.4 -> 11.7 (ratio 33), 256->512 on 8x8 12.5 -> 8.5 /
    13.0 -> 10.9 (ratio 66); 64->128 on 32x32 loses, 15.1 -> 19.3 / 14.9 -> 17.5
    (ratio 17). OpenBLAS ranks them the same.
    """
    if get_array_module(x) is not np or not applies(kernel, stride, oh, ow):
        return False
    saved = 7 * in_channels * out_channels
    moved = 36 * in_channels + 9 * out_channels
    return saved > 25 * moved


def transform_weights(w: Any, s: int) -> Any:
    """w: (O, C, 2s, 2s) -> U: (9, O, C*s*s), U[3*xi + nu] = (G g G^T)[xi, nu]."""
    xp = get_array_module(w)
    O, C = w.shape[:2]
    # one reordering copy to (i', j', o, c, a, b); then G's sums run over whole contiguous blocks
    g = xp.ascontiguousarray(w.reshape(O, C, 2, s, 2, s).transpose(2, 4, 0, 1, 3, 5)).reshape(2, 2, O, C * s * s)
    u = xp.empty((3, 3, O, C * s * s), dtype=w.dtype)
    u[0, 0], u[0, 2], u[2, 0], u[2, 2] = g[0, 0], g[0, 1], g[1, 0], g[1, 1]
    xp.add(g[0, 0], g[0, 1], out=u[0, 1])
    xp.add(g[1, 0], g[1, 1], out=u[2, 1])
    xp.add(g[0, 0], g[1, 0], out=u[1, 0])
    xp.add(g[0, 1], g[1, 1], out=u[1, 2])
    xp.add(u[0, 1], u[2, 1], out=u[1, 1])
    return u.reshape(9, O, C * s * s)


def forward(x: Any, u: Any, b: Any | None, s: int, padding: int, oh: int, ow: int) -> Any:
    """x: (C, H, W, N), u from transform_weights, b: (O,) -> y: (O, OH, OW, N)."""
    xp = get_array_module(x)
    n = x.shape[-1]
    _, O, cq = u.shape
    ty, tx = oh // 2, ow // 2
    xq = im2col(x, s, s, s, padding, oh + 1, ow + 1).reshape(cq, oh + 1, ow + 1, n)
    # V = B^T d B: rows, then columns; the middle row and column are plain copies
    mid = xq[:, 1:oh:2]
    t = xp.empty((2, cq, ty, ow + 1, n), dtype=x.dtype)
    xp.subtract(xq[:, 0:oh:2], mid, out=t[0])
    xp.subtract(xq[:, 2:oh + 1:2], mid, out=t[1])
    v = xp.empty((3, 3, cq, ty, tx, n), dtype=x.dtype)
    for xi, rows in enumerate((t[0], mid, t[1])):
        centre = rows[:, :, 1:ow:2]
        xp.subtract(rows[:, :, 0:ow:2], centre, out=v[xi, 0])
        v[xi, 1] = centre
        xp.subtract(rows[:, :, 2:ow + 1:2], centre, out=v[xi, 2])
    length = ty * tx * n
    vf = v.reshape(9, cq, length)
    m = xp.empty((9, O, length), dtype=x.dtype)
    for i in range(9):
        gemm(u[i], vf[i], m[i])
    m = m.reshape(3, 3, O, ty, tx, n)
    if b is not None:  # M[1, 1] enters every output of its tile exactly once
        m[1, 1] += b[:, None, None, None]
    # y = A^T M A: rows, then columns written into the tile's four positions
    p = xp.empty((2, 3, O, ty, tx, n), dtype=x.dtype)
    xp.add(m[0], m[1], out=p[0])
    xp.add(m[1], m[2], out=p[1])
    y = xp.empty((O, oh, ow, n), dtype=x.dtype)
    for r in range(2):
        xp.add(p[r, 0], p[r, 1], out=y[:, r::2, 0::2])
        xp.add(p[r, 1], p[r, 2], out=y[:, r::2, 1::2])
    return y


def backward_input(gy: Any, u: Any, in_shape: tuple, s: int, padding: int) -> Any:
    """gy: (O, OH, OW, N) -> gx: in_shape (C, H, W, N), the transpose of forward."""
    xp = get_array_module(gy)
    O, oh, ow, n = gy.shape
    C, H, W, _ = in_shape
    cq = u.shape[2]
    ty, tx = oh // 2, ow // 2
    # gM = A gY A^T: corners are the tile's outputs, edges their sums, the centre all four
    g = [[gy[:, r::2, c::2] for c in range(2)] for r in range(2)]
    gm = xp.empty((3, 3, O, ty, tx, n), dtype=gy.dtype)
    gm[0, 0], gm[0, 2], gm[2, 0], gm[2, 2] = g[0][0], g[0][1], g[1][0], g[1][1]
    xp.add(g[0][0], g[0][1], out=gm[0, 1])
    xp.add(g[1][0], g[1][1], out=gm[2, 1])
    xp.add(g[0][0], g[1][0], out=gm[1, 0])
    xp.add(g[0][1], g[1][1], out=gm[1, 2])
    xp.add(gm[0, 1], gm[2, 1], out=gm[1, 1])
    length = ty * tx * n
    gmf = gm.reshape(9, O, length)
    gv = xp.empty((3, 3, cq, ty, tx, n), dtype=gy.dtype)
    gvf = gv.reshape(9, cq, length)
    for i in range(9):
        gemm(u[i].T, gmf[i], gvf[i])
    # gd = B gV B^T, tiles overlapping by one row and column: columns, then rows
    gt = xp.empty((3, cq, ty, ow + 1, n), dtype=gy.dtype)
    for xi in range(3):
        _untransform(xp, gv[xi, 0], gv[xi, 1], gv[xi, 2], gt[xi], axis=2)
    gq = xp.empty((cq, oh + 1, ow + 1, n), dtype=gy.dtype)
    _untransform(xp, gt[0], gt[1], gt[2], gq, axis=1)
    return col2im(gq.reshape(C, s, s, oh + 1, ow + 1, n), H, W, s, padding)


def _untransform(xp: Any, g0: Any, g1: Any, g2: Any, out: Any, axis: int) -> None:
    """out along axis (2T + 1 entries) = B^T's transpose of (g0, g1, g2) (T tiles each), summed where tiles overlap.

    Entry 2t gets g0[t] + g2[t - 1], entry 2t + 1 gets g1[t] - g0[t] - g2[t]; each
    entry is written once (no zeroing, no read-back).
    """
    def along(a: Any, sl: slice) -> Any:
        return a[(slice(None),) * axis + (sl,)]

    size = out.shape[axis]
    along(out, slice(0, 1))[...] = along(g0, slice(0, 1))
    xp.add(along(g0, slice(1, None)), along(g2, slice(0, -1)), out=along(out, slice(2, size - 1, 2)))
    along(out, slice(size - 1, size))[...] = along(g2, slice(-1, None))
    odd = along(out, slice(1, size - 1, 2))
    xp.subtract(g1, g0, out=odd)
    odd -= g2
