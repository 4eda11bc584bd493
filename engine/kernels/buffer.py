"""Replay-buffer gather and scatter on the GPU, with the uint8 (de)quantisation fused in.

* gather: out[b] = fresh[b] if reinit[b] else dequantize(store[index[b]]), one pass
  instead of a fancy-index gather, two or three dequantisation passes and a copyto;
* scatter: store[index[b]] = quantize(x[b]) and valid[index[b]] = True, one block
  per row; a slot that appears twice in ``index`` keeps the last row, as NumPy's
  ``store[index] = x`` does (each block checks for a later duplicate first).

Arithmetic as the twin (engine.samplers.buffer.ReplayBuffer.quantize /
dequantize) in float32: q = rint((clip(x, lo, hi) - lo) * (255 / (hi - lo))),
x = q * ((hi - lo) / 255) + lo. Indices are normalised like NumPy's (negative
counts from the end); a slot outside the buffer is skipped (scatter) or read as
NaN (gather) instead of touching memory out of bounds.
"""

from __future__ import annotations

from string import Template
from typing import Any

import numpy as np

from .. import backend
from . import launch, launch_rows

KERNELS = ("replay_gather_u8", "replay_gather_f32", "replay_scatter_u8", "replay_scatter_f32")

_GATHER = Template(r"""
extern "C" __global__ void replay_gather_$name(const $store_t* store, const i64* index, const bool* reinit,
                                               const float* fresh, float* out, i64 capacity, i64 batch,
                                               i64 dim, float scale, float lo) {
    GRID_STRIDE(t, batch * dim) {
        i64 b = t / dim;
        i64 slot = index[b];
        if (slot < 0) slot += capacity;
        float v;
        if (reinit[b]) {
            v = fresh[t];
        } else if (slot < 0 || slot >= capacity) {
            v = __int_as_float(0x7fc00000);  // NaN: a bad index shows, and nothing out of bounds is read
        } else {
            v = $load(store[slot * dim + (t - b * dim)], scale, lo);
        }
        out[t] = v;
    }
}
""")

_SCATTER = Template(r"""
extern "C" __global__ void replay_scatter_$name(const float* x, const i64* index, $store_t* store, bool* valid,
                                                i64 capacity, i64 batch, i64 dim, float lo, float hi,
                                                float scale) {
    i64 b = blockIdx.x;
    i64 slot = index[b];
    if (slot < 0) slot += capacity;
    int later = 0;  // does a later row write the same slot? then that row wins
    for (i64 o = b + 1 + threadIdx.x; o < batch; o += blockDim.x) {
        i64 other = index[o];
        if (other < 0) other += capacity;
        later |= (other == slot);
    }
    if (__syncthreads_or(later) || slot < 0 || slot >= capacity) return;
    const float* row = x + b * dim;
    for (i64 d = threadIdx.x; d < dim; d += blockDim.x) {
        store[slot * dim + d] = $save(row[d], lo, hi, scale);
    }
    if (threadIdx.x == 0) valid[slot] = true;
}
""")

# How each storage reads and writes one value (the twin's dequantize / quantize).
_CONVERT = r"""
__device__ __forceinline__ float dequantize_u8(unsigned char q, float scale, float lo) {
    float v = (float)q * scale;
    return v + lo;
}
__device__ __forceinline__ unsigned char quantize_u8(float x, float lo, float hi, float scale) {
    float v = fminf(fmaxf(x, lo), hi) - lo;
    return (unsigned char)rintf(v * scale);
}
__device__ __forceinline__ float load_f32(float v, float scale, float lo) { return v; }
__device__ __forceinline__ float save_f32(float x, float lo, float hi, float scale) { return x; }
"""

_STORAGES = {"uint8": dict(name="u8", store_t="unsigned char", load="dequantize_u8", save="quantize_u8"),
             "float32": dict(name="f32", store_t="float", load="load_f32", save="save_f32")}

SOURCE = _CONVERT + "".join(t.substitute(**kinds) for kinds in _STORAGES.values() for t in (_GATHER, _SCATTER))


def gather(store: Any, index: Any, reinit: Any, fresh: Any, storage: str,
           value_range: tuple[float, float], levels: int) -> Any:
    """(batch, *shape) float32: fresh where reinit, else the dequantised stored rows.

    store: (capacity, *shape) uint8 or float32; index: (batch,) int; reinit: (batch,) bool;
    fresh: (batch, *shape) float32.
    """
    cp = backend.cupy_module()
    capacity, batch = store.shape[0], index.shape[0]
    dim = int(np.prod(store.shape[1:], dtype=np.int64))
    lo, hi = value_range
    out = cp.empty((batch, *store.shape[1:]), dtype=np.float32)
    launch(f"replay_gather_{_STORAGES[storage]['name']}", batch * dim,
           (store, cp.ascontiguousarray(index, dtype=np.int64), cp.ascontiguousarray(reinit, dtype=np.bool_),
            cp.ascontiguousarray(fresh), out, np.int64(capacity), np.int64(batch), np.int64(dim),
            np.float32((hi - lo) / levels), np.float32(lo)))
    return out


def scatter(store: Any, valid: Any, x: Any, index: Any, storage: str,
            value_range: tuple[float, float], levels: int) -> None:
    """store[index] = quantize(x), valid[index] = True; x: (batch, *shape) float32, index: (batch,) int."""
    cp = backend.cupy_module()
    capacity, batch = store.shape[0], index.shape[0]
    dim = int(np.prod(store.shape[1:], dtype=np.int64))
    lo, hi = value_range
    launch_rows(f"replay_scatter_{_STORAGES[storage]['name']}", batch,
                (cp.ascontiguousarray(x), cp.ascontiguousarray(index, dtype=np.int64), store, valid,
                 np.int64(capacity), np.int64(batch), np.int64(dim), np.float32(lo), np.float32(hi),
                 np.float32(levels / (hi - lo))))

