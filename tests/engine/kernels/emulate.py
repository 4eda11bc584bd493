"""NumPy emulations of the CUDA kernels in engine.kernels, written line for line after the CUDA source.

Each ``emulate_<kernel>(grid, block, args)`` does what the kernel's threads do
together, vectorised over the thread index, with the same index formulas and
the same float32 operation order. The fake CuPy of fake_cupy.py runs them in
place of a GPU, so the wrappers' launches and the kernels' index math are
checked against the NumPy twins on a machine without one. The Philox twin is
also the reference of the GPU parity tests.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

F32 = np.float32
U32 = np.uint32
MASK32 = np.uint64(0xFFFFFFFF)


# ---------------------------------------------------------------- Philox4x32-10 and its normals


def philox4x32_10(c: tuple, k0: int, k1: int) -> tuple[np.ndarray, ...]:
    """Philox4x32-10 of counters c = (c0, c1, c2, c3) (uint32 arrays) under key (k0, k1)."""
    c0, c1, c2, c3 = (np.asarray(v, dtype=np.uint64) & MASK32 for v in c)
    k0, k1 = np.uint64(k0), np.uint64(k1)
    for round_ in range(10):
        if round_ > 0:
            k0, k1 = (k0 + np.uint64(0x9E3779B9)) & MASK32, (k1 + np.uint64(0xBB67AE85)) & MASK32
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        hi0, lo0 = p0 >> np.uint64(32), p0 & MASK32
        hi1, lo1 = p1 >> np.uint64(32), p1 & MASK32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return tuple(v.astype(U32) for v in (c0, c1, c2, c3))


def philox_normal(index: np.ndarray, call: int, k0: int, k1: int) -> np.ndarray:
    """The kernels' standard normal for items ``index`` of call ``call`` (float32)."""
    index = np.asarray(index, dtype=np.uint64)
    r0, r1, _, _ = philox4x32_10((index & MASK32, index >> np.uint64(32), call & 0xFFFFFFFF, call >> 32), k0, k1)
    u1 = ((r0 >> U32(9)) * U32(2) + U32(1)).astype(F32) * F32(2.0**-24)
    u2 = (r1 >> U32(8)).astype(F32) * F32(2.0**-24)
    radius = np.sqrt(F32(-2.0) * np.log(u1))
    return (radius * np.cos(2.0 * np.pi * u2.astype(np.float64)).astype(F32)).astype(F32)


# ---------------------------------------------------------------- launch checks


def _check_grid_stride(grid: tuple, block: tuple) -> None:
    """A grid-stride kernel covers every item for any positive launch: check only that it is one."""
    assert len(grid) == 1 and len(block) == 1 and grid[0] >= 1 and 32 <= block[0] <= 1024 and block[0] % 32 == 0


def _check_rows(grid: tuple, block: tuple, rows: int) -> None:
    """One block of REDUCE_BLOCK (256) threads per row: the shared arrays have 256 entries."""
    assert grid == (rows,) and block == (256,), (grid, block, rows)


# ---------------------------------------------------------------- conv


def emulate_im2col(grid: tuple, block: tuple, args: tuple) -> None:
    _check_grid_stride(grid, block)
    x, col, C, H, W, N, kh, kw, oh, ow, stride, pad = args
    t = np.arange(int(C) * kh * kw * oh * ow * N, dtype=np.int64)
    r = t
    r, n = np.divmod(r, N)
    r, q = np.divmod(r, ow)
    r, p = np.divmod(r, oh)
    r, j = np.divmod(r, kw)
    r, i = np.divmod(r, kh)
    c = r
    h = p * stride - pad + i
    w = q * stride - pad + j
    inside = (h >= 0) & (h < H) & (w >= 0) & (w < W)
    src = np.where(inside, ((c * H + h) * W + w) * N + n, 0)
    col.reshape(-1)[t] = np.where(inside, x.reshape(-1)[src], F32(0.0))


def emulate_col2im(grid: tuple, block: tuple, args: tuple) -> None:
    _check_grid_stride(grid, block)
    col, x, C, H, W, N, kh, kw, oh, ow, stride, pad = args
    t = np.arange(int(C) * H * W * N, dtype=np.int64)
    r = t
    r, n = np.divmod(r, N)
    r, w = np.divmod(r, W)
    r, h = np.divmod(r, H)
    c = r
    acc = np.zeros(t.shape, dtype=F32)
    flat = col.reshape(-1)
    for i in range(kh):
        hp = h + pad - i
        ok_h = (hp >= 0) & (hp % stride == 0) & (hp // stride < oh)
        p = np.where(ok_h, hp // stride, 0)
        for j in range(kw):
            wq = w + pad - j
            ok = ok_h & (wq >= 0) & (wq % stride == 0) & (wq // stride < ow)
            q = np.where(ok, wq // stride, 0)
            src = np.where(ok, ((((c * kh + i) * kw + j) * oh + p) * ow + q) * N + n, 0)
            acc = np.where(ok, acc + flat[src], acc)  # float32 adds in the kernel's order
    x.reshape(-1)[t] = acc


# ---------------------------------------------------------------- activations


def emulate_swish_forward(grid: tuple, block: tuple, args: tuple) -> None:
    _check_grid_stride(grid, block)
    x, y, s, n = args
    v = x.reshape(-1)[:n]
    si = np.tanh(v * F32(0.5)) * F32(0.5) + F32(0.5)
    s.reshape(-1)[:n] = si
    y.reshape(-1)[:n] = v * si


def emulate_swish_backward(grid: tuple, block: tuple, args: tuple) -> None:
    _check_grid_stride(grid, block)
    gy, y, s, gx, n = args
    si = s.reshape(-1)[:n]
    g = (F32(1.0) - si) * y.reshape(-1)[:n]
    g = g + si
    gx.reshape(-1)[:n] = g * gy.reshape(-1)[:n]


def emulate_leaky_relu_forward(grid: tuple, block: tuple, args: tuple) -> None:
    _check_grid_stride(grid, block)
    x, y, scale, one_minus_slope, slope, has_slope, n = args
    v = x.reshape(-1)[:n]
    sc = np.where(v > F32(0.0), F32(1.0), F32(0.0)).astype(F32)
    if has_slope:
        sc = sc * one_minus_slope + slope
    scale.reshape(-1)[:n] = sc
    y.reshape(-1)[:n] = v * sc


# ---------------------------------------------------------------- Langevin, MALA


def emulate_langevin_update(grid: tuple, block: tuple, args: tuple) -> None:
    _check_grid_stride(grid, block)
    (x, grad, mask, values, has_mask, neg_step, clip, has_clip, noise, key, call_lo, call_hi,
     lo, hi, has_clamp, n) = args
    xf = x.reshape(-1)
    g = grad.reshape(-1)[:n]
    if has_clip:
        g = np.minimum(np.maximum(g, -clip), clip)
    v = xf[:n] + g * neg_step
    if noise != F32(0.0):
        call = int(call_lo) | (int(call_hi) << 32)
        v = v + philox_normal(np.arange(n), call, int(key[0]), int(key[1])) * noise
    if has_clamp:
        v = np.minimum(np.maximum(v, lo), hi)
    if has_mask:
        v = np.where(mask.reshape(-1)[:n], values.reshape(-1)[:n], v)
    xf[:n] = v


def emulate_mala_log_accept(grid: tuple, block: tuple, args: tuple) -> None:
    e_old, e_new, g_old, g_new, xi, log_alpha, dim, quarter_step, root_half_step = args
    rows = log_alpha.shape[0]
    _check_rows(grid, block, rows)
    G = (g_old.reshape(rows, dim) + g_new.reshape(rows, dim)).astype(F32)
    sq = (G * G).astype(np.float64).sum(axis=1)
    dot = (G * xi.reshape(rows, dim)).astype(np.float64).sum(axis=1)
    d_e = e_new - e_old
    log_alpha[:] = -d_e - quarter_step * sq + root_half_step * dot


# ---------------------------------------------------------------- replay buffer


def _gather(args: tuple, load: Callable) -> None:
    store, index, reinit, fresh, out, capacity, batch, dim, scale, lo = args
    flat_store = store.reshape(-1)
    for b in range(int(batch)):
        slot = int(index[b])
        slot += capacity if slot < 0 else 0
        row = out.reshape(batch, dim)[b]
        if reinit[b]:
            row[:] = fresh.reshape(batch, dim)[b]
        elif slot < 0 or slot >= capacity:
            row[:] = np.nan
        else:
            row[:] = load(flat_store[slot * dim:(slot + 1) * dim], scale, lo)


def _scatter(grid: tuple, block: tuple, args: tuple, save: Callable) -> None:
    x, index, store, valid, capacity, batch, dim, lo, hi, scale = args
    _check_rows(grid, block, int(batch))
    norm = [int(i) + (capacity if int(i) < 0 else 0) for i in index]
    flat_store = store.reshape(-1)
    for b in range(int(batch)):
        slot = norm[b]
        if slot in norm[b + 1:] or slot < 0 or slot >= capacity:
            continue  # a later row writes this slot (or it is outside the buffer)
        flat_store[slot * dim:(slot + 1) * dim] = save(x.reshape(batch, dim)[b], lo, hi, scale)
        valid[slot] = True


def _dequantize_u8(q: np.ndarray, scale: np.float32, lo: np.float32) -> np.ndarray:
    return q.astype(F32) * scale + lo


def _quantize_u8(x: np.ndarray, lo: np.float32, hi: np.float32, scale: np.float32) -> np.ndarray:
    v = np.minimum(np.maximum(x, lo), hi) - lo
    return np.rint(v * scale).astype(np.uint8)


def emulate_replay_gather_u8(grid: tuple, block: tuple, args: tuple) -> None:
    _check_grid_stride(grid, block)
    _gather(args, _dequantize_u8)


def emulate_replay_gather_f32(grid: tuple, block: tuple, args: tuple) -> None:
    _check_grid_stride(grid, block)
    _gather(args, lambda v, scale, lo: v)


def emulate_replay_scatter_u8(grid: tuple, block: tuple, args: tuple) -> None:
    _scatter(grid, block, args, _quantize_u8)


def emulate_replay_scatter_f32(grid: tuple, block: tuple, args: tuple) -> None:
    _scatter(grid, block, args, lambda x, lo, hi, scale: x)


EMULATORS = {name[len("emulate_"):]: fn for name, fn in globals().items() if name.startswith("emulate_")}
