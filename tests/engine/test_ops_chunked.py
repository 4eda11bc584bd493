"""The multi-threaded paths of the ops (work split over the cores for large arrays) on small arrays:
the chunk threshold is forced down so every op splits its work, and results must not change."""

from __future__ import annotations

import numpy as np
import pytest

from engine.models import PRESETS, EnergyNet
from engine.ops import _parallel
from engine.ops import activations as act
from engine.ops import conv, pooling
from tests.engine import reference as ref
from tests.engine.test_ops_elementwise import ACTIVATIONS
from tests.gradcheck import parameterize


@pytest.fixture
def chunked(monkeypatch):
    if not hasattr(_parallel, "_MIN_ELEMENTS"):
        pytest.skip("engine.ops._parallel has no _MIN_ELEMENTS threshold any more")
    monkeypatch.setattr(_parallel, "_MIN_ELEMENTS", 1)


CASES = [
    dict(N=2, C=5, H=7, W=6, O=3, k=3, s=2, p=1),  # 5 channels: uneven channel blocks
    dict(N=3, C=3, H=6, W=9, O=2, k=4, s=2, p=1),
    dict(N=1, C=1, H=5, W=5, O=2, k=5, s=1, p=2),  # one channel: a single block
]


@parameterize(*CASES)
def test_conv2d_chunked(chunked, N, C, H, W, O, k, s, p):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((O, C, k, k)), rng.standard_normal(O)
    xi = ref.to_internal(x)
    y, col = conv.conv2d_forward(xi, w, b, s, p)
    np.testing.assert_allclose(ref.from_internal(y), ref.conv2d(x, w, b, s, p), rtol=1e-10, atol=1e-12)
    gy = rng.standard_normal((N, O, ref.out_size(H, k, s, p), ref.out_size(W, k, s, p)))
    gyi = ref.to_internal(gy)
    gx = conv.conv2d_backward_input(gyi, w, xi.shape, s, p)
    np.testing.assert_allclose(ref.from_internal(gx), ref.conv2d_grad_input(gy, w, x.shape, s, p),
                               rtol=1e-10, atol=1e-12)
    gw, _ = conv.conv2d_backward_params(gyi, col, w.shape, True)
    np.testing.assert_allclose(gw, ref.conv2d_grad_params(gy, x, w.shape, s, p)[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("size", [1, 2, 7, 31])
def test_activations_chunked(chunked, name, size):
    fwd, bwd, f, df = ACTIVATIONS[name]
    rng = np.random.default_rng(1)
    x = ref.away_from_zero(rng, (size,))
    gy = rng.standard_normal(size)
    y, saved = fwd(x)
    np.testing.assert_allclose(y, f(x), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(bwd(gy, saved), gy * df(x), rtol=1e-12, atol=1e-14)


def test_sigmoid_chunked(chunked):
    x = np.linspace(-40, 40, 17)
    np.testing.assert_allclose(act.sigmoid(x), ref.sigmoid(x), rtol=1e-12, atol=1e-300)


def test_avg_pool2d_chunked(chunked):
    x = np.random.default_rng(2).standard_normal((3, 5, 7, 6))
    y = pooling.avg_pool2d_forward(ref.to_internal(x), 2, 2)
    np.testing.assert_allclose(ref.from_internal(y), ref.avg_pool2d(x, 2, 2), rtol=1e-12)


@pytest.mark.parametrize("name", ["W1", "W2"])
def test_presets_chunked_equal_unchunked(monkeypatch, name):
    net = EnergyNet(PRESETS[name](), seed=3, dtype=np.float64, xp=np)
    x = np.random.default_rng(4).standard_normal((2, *net.input_shape))
    e, gx = net.energy_and_grad(x)
    if not hasattr(_parallel, "_MIN_ELEMENTS"):
        pytest.skip("engine.ops._parallel has no _MIN_ELEMENTS threshold any more")
    monkeypatch.setattr(_parallel, "_MIN_ELEMENTS", 1)
    e2, gx2 = net.energy_and_grad(x)
    np.testing.assert_allclose(e2, e, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gx2, gx, rtol=1e-10, atol=1e-15)
