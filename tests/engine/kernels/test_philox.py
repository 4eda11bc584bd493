"""The Philox4x32-10 twin of the kernels' noise: Random123's known answers, then the normals it makes."""

from __future__ import annotations

import math

import numpy as np

from engine.kernels import random as k_random

from .emulate import philox4x32_10, philox_normal

# Random123's tests/kat_vectors, the "philox4x32 10" lines: counter (4 words), key (2 words) -> output (4 words).
KAT = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF),
     (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def test_philox_twin_gives_random123_known_answers():
    for counter, key, expect in KAT:
        out = philox4x32_10(tuple(np.array([c], dtype=np.uint32) for c in counter), *key)
        assert tuple(int(v[0]) for v in out) == expect


def test_device_source_uses_the_constants_of_the_twin():
    """The CUDA Philox names the multipliers and key increments the twin is checked with."""
    src = k_random.SOURCE
    for constant in ("0xD2511F53u", "0xCD9E8D57u", "0x9E3779B9u", "0xBB67AE85u"):
        assert constant in src
    assert "round < 10" in src and "5.9604644775390625e-08f" in src  # 10 rounds; 2^-24
    assert 2.0**-24 == 5.9604644775390625e-08


def test_philox_normals_are_standard_normal():
    z = philox_normal(np.arange(200_000), call=0, k0=12345, k1=678).astype(np.float64)
    n = z.size
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1.0) < 5 * math.sqrt(2.0 / n)
    assert abs(np.mean(z**3)) < 5 * math.sqrt(15.0 / n)  # skewness 0
    assert abs(np.mean(z**4) - 3.0) < 5 * math.sqrt(96.0 / n)  # kurtosis 3
    assert np.abs(z).max() <= math.sqrt(-2.0 * math.log(2.0**-24)) + 1e-5  # the Box-Muller bound
    # tail mass beyond 2 sigma: 4.55 %
    assert abs(np.mean(np.abs(z) > 2.0) - 0.0455) < 0.003


def test_philox_normals_of_other_counters_and_keys_are_uncorrelated():
    idx = np.arange(50_000)
    a = philox_normal(idx, 0, 1, 2).astype(np.float64)
    for b in (philox_normal(idx, 1, 1, 2), philox_normal(idx, 0, 2, 2), philox_normal(idx + 1, 0, 1, 2),
              philox_normal(idx + (1 << 32), 0, 1, 2)):
        assert abs(np.corrcoef(a, b)[0, 1]) < 5 / math.sqrt(idx.size)
    # neighbours within one call are independent too
    assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < 5 / math.sqrt(idx.size)


def test_stream_key_comes_from_the_generator_and_calls_advance():
    rng = np.random.Generator(np.random.PCG64(0))
    stream = k_random.PhiloxStream(rng)
    u = np.random.Generator(np.random.PCG64(0)).random(2)
    np.testing.assert_array_equal(stream.key, (u * 2.0**32).astype(np.uint32))
    assert stream.key.dtype == np.uint32
    assert [stream.next_call() for _ in range(2)] == [(0, 0), (1, 0)]
    stream.calls = (1 << 32) + 5
    lo, hi = stream.next_call()
    assert (int(lo), int(hi)) == (5, 1) and type(lo) is np.uint32 and type(hi) is np.uint32


def test_each_generator_gets_its_own_stream_for_its_lifetime():
    class Rng:  # any generator with random(n, dtype=...)
        def random(self, n, dtype=np.float64):
            return np.full(n, 0.5, dtype=dtype)

    a, b = Rng(), Rng()
    assert k_random.stream_of(a) is k_random.stream_of(a)
    assert k_random.stream_of(a) is not k_random.stream_of(b)
    n = len(k_random._streams)
    del a
    assert len(k_random._streams) == n - 1  # dropped with its generator
