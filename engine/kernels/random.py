"""Gaussian noise inside the kernels: Philox4x32-10, counter based, so no cuRAND call per step.

A normal for item ``index`` of call ``call`` of a stream with key (k0, k1):

    (r0, r1, r2, r3) = philox4x32_10(counter = (index lo, index hi, call lo, call hi), key = (k0, k1))
    u1 = (2 (r0 >> 9) + 1) 2^-24        in (0, 1): log(u1) is finite
    u2 = (r1 >> 8) 2^-24                in [0, 1)
    z  = sqrt(-2 log u1) cos(2 pi u2)   (Box-Muller; |z| <= 5.77)

Each item of each call has its own counter, so the draws are independent and
the same whatever the launch configuration. Philox4x32-10 is Salmon et al.'s
generator (Random123, SC'11); its known-answer vectors are checked in the
tests against a NumPy twin of this device code.

A :class:`PhiloxStream` belongs to one run's generator (``backend.make_rng``):
its key is drawn from that generator once, on the device (no copy to the
host), and the call counter advances on the host, so a run stays
reproducible from its seed.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

KERNELS: tuple[str, ...] = ()  # device functions only, used by engine.kernels.langevin

SOURCE = r"""
__device__ __forceinline__ void philox4x32_10(unsigned int c[4], unsigned int k0, unsigned int k1) {
    for (int round = 0; round < 10; ++round) {
        if (round > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
        unsigned int hi0 = __umulhi(0xD2511F53u, c[0]), lo0 = 0xD2511F53u * c[0];
        unsigned int hi1 = __umulhi(0xCD9E8D57u, c[2]), lo1 = 0xCD9E8D57u * c[2];
        unsigned int n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
        c[0] = n0; c[1] = lo1; c[2] = n2; c[3] = lo0;
    }
}

__device__ __forceinline__ float philox_normal(i64 index, unsigned int call_lo, unsigned int call_hi,
                                               unsigned int k0, unsigned int k1) {
    unsigned int c[4] = {(unsigned int)index, (unsigned int)((unsigned long long)index >> 32), call_lo, call_hi};
    philox4x32_10(c, k0, k1);
    float u1 = (float)((c[0] >> 9) * 2u + 1u) * 5.9604644775390625e-08f;  // 2^-24
    float u2 = (float)(c[1] >> 8) * 5.9604644775390625e-08f;
    return sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2);
}
"""


class PhiloxStream:
    """Key and call counter of one generator's kernel noise.

    key: (2,) uint32 on the generator's device, drawn from ``rng`` once;
    calls: how many calls have drawn noise so far.
    """

    def __init__(self, rng: Any):
        u = rng.random(2, dtype=np.float64)
        self.key = (u * 4294967296.0).astype(np.uint32)  # floor(u 2^32) < 2^32
        self.calls = 0

    def next_call(self) -> tuple[np.uint32, np.uint32]:
        """(lo, hi) words of this call's counter; advances the counter."""
        call = self.calls
        self.calls += 1
        return np.uint32(call & 0xFFFFFFFF), np.uint32(call >> 32)


_streams: "weakref.WeakKeyDictionary[Any, PhiloxStream]" = weakref.WeakKeyDictionary()


def stream_of(rng: Any) -> PhiloxStream:
    """The kernel-noise stream of ``rng`` (made on first use, dropped with the generator)."""
    stream = _streams.get(rng)
    if stream is None:
        stream = _streams[rng] = PhiloxStream(rng)
    return stream
