"""im2col and col2im on the GPU, for activations laid out (C, H, W, N) as in engine.ops.conv.

Both are gathers with one thread per output entry, so neither needs atomics
and both are deterministic:

* im2col: col[c, i, j, p, q, n] = x[c, p*s - pad + i, q*s - pad + j, n], 0 in the padding;
* col2im: x[c, h, w, n] = sum over the taps (i, j) and output pixels (p, q) with
  p*s = h + pad - i and q*s = w + pad - j (inside the output) of col[c, i, j, p, q, n],
  added in the order i, then j, as engine.ops.conv.col2im does (so the sums agree bit for bit).

The GEMMs around them stay cuBLAS calls (cupy.matmul) in engine.ops.conv.
"""

from __future__ import annotations

from typing import Any

from .. import backend
from . import i32, launch

KERNELS = ("im2col", "col2im")

SOURCE = r"""
extern "C" __global__ void im2col(const float* x, float* col, int C, int H, int W, int N,
                                  int kh, int kw, int oh, int ow, int stride, int pad) {
    i64 total = (i64)C * kh * kw * oh * ow * N;
    GRID_STRIDE(t, total) {
        i64 r = t;
        int n = (int)(r % N); r /= N;
        int q = (int)(r % ow); r /= ow;
        int p = (int)(r % oh); r /= oh;
        int j = (int)(r % kw); r /= kw;
        int i = (int)(r % kh); r /= kh;
        int c = (int)r;
        int h = p * stride - pad + i;
        int w = q * stride - pad + j;
        float v = 0.0f;
        if (h >= 0 && h < H && w >= 0 && w < W) {
            v = x[(((i64)c * H + h) * W + w) * N + n];
        }
        col[t] = v;
    }
}

extern "C" __global__ void col2im(const float* col, float* x, int C, int H, int W, int N,
                                  int kh, int kw, int oh, int ow, int stride, int pad) {
    i64 total = (i64)C * H * W * N;
    GRID_STRIDE(t, total) {
        i64 r = t;
        int n = (int)(r % N); r /= N;
        int w = (int)(r % W); r /= W;
        int h = (int)(r % H); r /= H;
        int c = (int)r;
        float acc = 0.0f;
        for (int i = 0; i < kh; ++i) {
            int hp = h + pad - i;  // p * stride for the output row p whose tap i reads row h
            if (hp < 0 || hp % stride != 0 || hp / stride >= oh) continue;
            int p = hp / stride;
            for (int j = 0; j < kw; ++j) {
                int wq = w + pad - j;
                if (wq < 0 || wq % stride != 0 || wq / stride >= ow) continue;
                int q = wq / stride;
                acc += col[(((((i64)c * kh + i) * kw + j) * oh + p) * ow + q) * N + n];
            }
        }
        x[t] = acc;
    }
}
"""


def im2col(x: Any, kh: int, kw: int, stride: int, padding: int, oh: int, ow: int, out: Any | None = None) -> Any:
    """x: (C, H, W, N) float32 -> col (C, kh, kw, oh, ow, N), zeros in the padding; out: a buffer to fill."""
    cp = backend.cupy_module()
    x = cp.ascontiguousarray(x)
    C, H, W, N = x.shape
    col = cp.empty((C, kh, kw, oh, ow, N), dtype=x.dtype) if out is None else out
    assert col.shape == (C, kh, kw, oh, ow, N) and col.flags.c_contiguous
    launch("im2col", col.size, (x, col, *i32(C, H, W, N, kh, kw, oh, ow, stride, padding)))
    return col


def col2im(col: Any, h: int, w: int, stride: int, padding: int) -> Any:
    """col: (C, kh, kw, oh, ow, N) float32 -> (C, h, w, N), summing the taps that overlap."""
    cp = backend.cupy_module()
    col = cp.ascontiguousarray(col)
    C, kh, kw, oh, ow, N = col.shape
    out = cp.empty((C, h, w, N), dtype=col.dtype)
    launch("col2im", out.size, (col, out, *i32(C, h, w, N, kh, kw, oh, ow, stride, padding)))
    return out
