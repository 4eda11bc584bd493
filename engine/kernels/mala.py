"""MALA's log acceptance on the GPU: one block per chain, float64 sums, one launch.

    log alpha[n] = -(E(x')[n] - E(x)[n]) - (s/4) sum_d G^2 + sqrt(s/2) sum_d G xi,
    G = g_old + g_new (float32, as the twin), the products summed in float64

(engine.samplers.mala.mala_log_accept, the twin, takes about ten xp calls
for it). Each of the block's REDUCE_BLOCK threads sums a strided part of the
chain's entries; a tree in shared memory adds the partial sums.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import backend
from . import launch_rows

KERNELS = ("mala_log_accept",)

SOURCE = r"""
extern "C" __global__ void mala_log_accept(const double* e_old, const double* e_new, const float* g_old,
                                           const float* g_new, const float* xi, double* log_alpha,
                                           i64 dim, double quarter_step, double root_half_step) {
    __shared__ double sq[REDUCE_BLOCK];
    __shared__ double dot[REDUCE_BLOCK];
    i64 row = blockIdx.x;
    const float* a = g_old + row * dim;
    const float* b = g_new + row * dim;
    const float* z = xi + row * dim;
    double s1 = 0.0, s2 = 0.0;
    for (i64 d = threadIdx.x; d < dim; d += blockDim.x) {
        float G = a[d] + b[d];
        s1 += (double)(G * G);
        s2 += (double)(G * z[d]);
    }
    sq[threadIdx.x] = s1;
    dot[threadIdx.x] = s2;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half >>= 1) {
        if (threadIdx.x < half) {
            sq[threadIdx.x] += sq[threadIdx.x + half];
            dot[threadIdx.x] += dot[threadIdx.x + half];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        double d_e = e_new[row] - e_old[row];
        log_alpha[row] = -d_e - quarter_step * sq[0] + root_half_step * dot[0];
    }
}
"""


def mala_log_accept(e_old: Any, e_new: Any, g_old: Any, g_new: Any, xi: Any, step_size: float) -> Any:
    """log alpha: (N,) float64, as the twin; g_old, g_new, xi: (N, *shape) float32 CuPy arrays."""
    cp = backend.cupy_module()
    n = g_old.shape[0]
    if not (g_new.shape == xi.shape == g_old.shape and e_old.shape == e_new.shape == (n,)):
        raise ValueError(f"mala_log_accept: shapes {e_old.shape}, {e_new.shape}, {g_old.shape}, "
                         f"{g_new.shape}, {xi.shape} do not fit (N,), (N,) and (N, *shape)")
    dim = int(np.prod(g_old.shape[1:], dtype=np.int64))
    s = float(step_size)
    out = cp.empty(n, dtype=np.float64)
    args = [cp.ascontiguousarray(a, dtype=np.float64) for a in (e_old, e_new)]
    args += [cp.ascontiguousarray(a) for a in (g_old, g_new, xi)]
    launch_rows("mala_log_accept", n, (*args, out, np.int64(dim), np.float64(s / 4.0),
                                       np.float64(math.sqrt(s / 2.0))))
    return out
