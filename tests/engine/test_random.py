"""The fast float32 normal sampler draws N(0, 1)."""

import math

import numpy as np
import pytest

from engine.ops.random import standard_normal


@pytest.mark.parametrize("shape", [(7,), (3, 5), (64, 1, 28, 28)])
def test_shape_dtype_and_determinism(shape):
    a = standard_normal(np.random.default_rng(1), shape)
    b = standard_normal(np.random.default_rng(1), shape)
    assert a.shape == shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)


def test_moments_and_quantiles_match_the_standard_normal():
    n = 400_001
    z = standard_normal(np.random.default_rng(0), (n,)).astype(np.float64)
    se = 1.0 / math.sqrt(n)
    assert abs(z.mean()) < 5 * se
    assert abs(z.var() - 1.0) < 5 * math.sqrt(2.0) * se
    assert abs((z**4).mean() - 3.0) < 5 * math.sqrt(96.0) * se
    for k, p in ((1.0, 0.682689492), (2.0, 0.954499736), (3.0, 0.997300204)):
        frac = np.mean(np.abs(z) < k)
        assert abs(frac - p) < 5 * math.sqrt(p * (1 - p) / n)
    # the two halves (cosine and sine of the same radius) are uncorrelated
    h = (n + 1) // 2
    assert abs(np.corrcoef(z[: n - h], z[h:])[0, 1]) < 5 * se * math.sqrt(2)


def test_float64_uses_the_generator_itself():
    z = standard_normal(np.random.default_rng(3), (4,), np.float64)
    np.testing.assert_array_equal(z, np.random.default_rng(3).standard_normal(4))
