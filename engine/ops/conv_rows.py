"""Stride-s convolutions with k % s == 0 as GEMMs over row windows of a half-size im2col.

With k = s * k' the kernel's row taps i = s*i' + a split into k' row offsets i'
and s phases a. Gathering only the phases and the column taps,
    z[c, a, j, r, ox, n] = xpad[c, s*r + a, s*ox + j, n]      r < OH + k' - 1
(which is im2col with an s x k kernel over OH + k' - 1 output rows), every row
offset i' reads the same matrix z[(c, a, j), (r, ox, n)] shifted by i'*OW*N
columns, so
    y[o, :]  = sum_i' w_i'[o, (c, a, j)] @ z[:, i'*OW*N : i'*OW*N + OH*OW*N]
    gz[:, window_i'] += w_i'.T @ gy      (then col2im of the s x k kernel)
    gw_i'    = gy @ z[:, window_i'].T
with w_i'[o, (c, a, j)] = w[o, c, s*i' + a, j]. The arithmetic is im2col's
exactly (no padded taps, no wrapped columns); z is about half of im2col's col
for k = 4, s = 2, and its col2im scatters s*k taps instead of k*k. On W2's
stride-2 layers, where im2col and col2im moved more memory than the GEMMs could
hide, this is the path (see pays_off).

Activations are (C, H, W, N), as in engine.ops.conv.
"""

from __future__ import annotations

from typing import Any

from ..backend import get_array_module
from .blas import gemm, has_direct_blas


def applies(kernel: int, stride: int) -> bool:
    """Whether the kernel splits into two or more row offsets of s phases."""
    return stride > 1 and kernel % stride == 0 and kernel // stride > 1


def pays_off(out_channels: int, kernel: int, stride: int, oh: int, ow: int, n: int) -> bool:
    """Whether this path beats plain im2col: the col entries it saves outnumber the weights it reorders.

    Per input channel it gathers k*OW*N*(k*OH - s*R) fewer entries and copies
    O*k*k weights into row-offset order (every call: the weights may have changed).
    Measured on W2: its 64- and 128-channel layers gain (L2 26.6 -> 21.7 ms forward,
    L3 backward 21 -> 15 ms per half batch), the 256-channel one loses 1 ms each way.
    """
    if not (has_direct_blas() and applies(kernel, stride)):
        return False
    saved = ow * n * (kernel * oh - stride * z_rows(oh, kernel, stride))
    return saved > out_channels * kernel


def z_rows(oh: int, k: int, s: int) -> int:
    """Rows r of z: OH + k' - 1."""
    return oh + k // s - 1


def row_weights(w: Any, s: int) -> Any:
    """w: (O, C, k, k) -> (k', O, C*s*k): w_i'[o, (c, a, j)] = w[o, c, s*i' + a, j]."""
    xp = get_array_module(w)
    O, C, k, _ = w.shape
    kq = k // s
    return xp.ascontiguousarray(w.reshape(O, C, kq, s, k).transpose(2, 0, 1, 3, 4)).reshape(kq, O, C * s * k)


def forward(z: Any, w: Any, b: Any | None, s: int, oh: int, ow: int) -> Any:
    """z: (C, s, k, R, OW, N) from im2col -> y: (O, OH, OW, N)."""
    xp = get_array_module(z)
    n = z.shape[-1]
    zf = z.reshape(z.shape[0] * z.shape[1] * z.shape[2], -1)
    taps = row_weights(w, s)
    step, length = ow * n, oh * ow * n
    y = xp.empty((w.shape[0], oh, ow, n), dtype=z.dtype)
    yf = y.reshape(w.shape[0], length)
    if b is not None:
        yf[...] = b[:, None]
    for i, tap in enumerate(taps):
        gemm(tap, zf[:, i * step: i * step + length], yf, beta=1.0 if (i or b is not None) else 0.0)
    return y


def backward_z(gy: Any, w: Any, s: int, z_shape: tuple) -> Any:
    """gy: (O, OH, OW, N) -> gz: z_shape (C, s, k, R, OW, N), for col2im."""
    xp = get_array_module(gy)
    O, oh, ow, n = gy.shape
    gyf = gy.reshape(O, -1)
    step, length = ow * n, oh * ow * n
    gz = xp.empty(z_shape, dtype=gy.dtype)
    gzf = gz.reshape(z_shape[0] * z_shape[1] * z_shape[2], -1)
    gzf[:, length:] = 0  # row offset 0 overwrites [0, length); the others accumulate
    for i, tap in enumerate(row_weights(w, s)):
        gemm(tap.T, gyf, gzf[:, i * step: i * step + length], beta=1.0 if i else 0.0)
    return gz


def backward_params(gy: Any, z: Any, w_shape: tuple, s: int) -> Any:
    """gy: (O, OH, OW, N), z from the forward -> gw: w_shape (O, C, k, k)."""
    xp = get_array_module(gy)
    O, oh, ow, n = gy.shape
    _, C, k, _ = w_shape
    kq = k // s
    gyf = gy.reshape(O, -1)
    zf = z.reshape(C * s * k, -1)
    step, length = ow * n, oh * ow * n
    g = xp.empty((kq, O, C * s * k), dtype=gy.dtype)
    for i in range(kq):
        gemm(gyf, zf[:, i * step: i * step + length].T, g[i])
    # (i', O, C, a, j) -> (O, C, i', a, j) = (O, C, k, k)
    return xp.ascontiguousarray(g.reshape(kq, O, C, s, k).transpose(1, 2, 0, 3, 4)).reshape(w_shape)
