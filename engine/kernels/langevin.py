"""One fused Langevin update on the GPU: clip, step, noise, clamp and fixed entries in one pass.

    x <- clamp(x + (-step) clip(g, -c, c) + noise z, lo, hi);  x <- values where mask

in the twin's operation order (engine.samplers.langevin.langevin_update_ and
LangevinSampler.run's copy of the fixed values), with z from the Philox
stream of the run's generator (engine.kernels.random). Replaces about seven
xp calls (clip, two multiplies, three adds, a normal draw, clamp, copyto).
The gradient is only read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from . import launch, on_device, usable
from .random import stream_of

KERNELS = ("langevin_update",)

SOURCE = r"""
extern "C" __global__ void langevin_update(float* x, const float* grad, const bool* mask, const float* values,
                                           int has_mask, float neg_step, float clip, int has_clip,
                                           float noise, const unsigned int* key, unsigned int call_lo,
                                           unsigned int call_hi, float lo, float hi, int has_clamp, i64 n) {
    GRID_STRIDE(i, n) {
        float g = grad[i];
        if (has_clip) g = fminf(fmaxf(g, -clip), clip);
        float v = x[i] + g * neg_step;
        if (noise != 0.0f) v = v + philox_normal(i, call_lo, call_hi, key[0], key[1]) * noise;
        if (has_clamp) v = fminf(fmaxf(v, lo), hi);
        if (has_mask && mask[i]) v = values[i];
        x[i] = v;
    }
}
"""


def accepts(x: Any, grad: Any, mask: Any | None, values: Any | None) -> bool:
    """Whether the kernel takes these: x C-contiguous (updated in place), everything of x's shape
    (no broadcasting), the mask bool on the device. Otherwise the twin's xp code runs."""
    if not x.flags.c_contiguous or grad.shape != x.shape:
        return False
    return mask is None or (usable(values) and on_device(mask) and mask.dtype == np.bool_
                            and mask.shape == x.shape and values.shape == x.shape)


def langevin_update_(x: Any, grad: Any, step: float, noise: float, rng: Any,
                     clip_grad: float | None = None, clamp: tuple[float, float] | None = None,
                     mask: Any | None = None, values: Any | None = None) -> Any:
    """x updated in place (float32, C-contiguous CuPy); mask: bool of x's shape or None. Returns x."""
    cp = backend.cupy_module()
    grad = cp.ascontiguousarray(grad)
    has_mask = mask is not None
    if has_mask:
        mask = cp.ascontiguousarray(mask)
        values = cp.ascontiguousarray(values)
    else:
        mask, values = _placeholder(cp, np.bool_), x  # never read: has_mask is 0
    noise32 = np.float32(noise or 0.0)
    if noise32 != 0.0:
        stream = stream_of(rng)
        key, (call_lo, call_hi) = stream.key, stream.next_call()
    else:  # no noise, no draw: the stream does not advance (as the twin draws nothing)
        key, call_lo, call_hi = _placeholder(cp, np.uint32), np.uint32(0), np.uint32(0)
    clip = 0.0 if clip_grad is None else float(clip_grad)
    lo, hi = (0.0, 0.0) if clamp is None else (float(clamp[0]), float(clamp[1]))
    launch("langevin_update", x.size,
           (x, grad, mask, values, np.int32(has_mask), np.float32(-float(step)), np.float32(clip),
            np.int32(clip_grad is not None), noise32, key, call_lo, call_hi, np.float32(lo), np.float32(hi),
            np.int32(clamp is not None), np.int64(x.size)))
    return x


_placeholders: dict[str, Any] = {}


def _placeholder(cp: Any, dtype: Any) -> Any:
    """A tiny device array passed where a pointer argument is unused (its flag is 0)."""
    name = np.dtype(dtype).str
    a = _placeholders.get(name)
    if a is None or not isinstance(a, cp.ndarray):
        a = _placeholders[name] = cp.zeros(2, dtype=dtype)
    return a
