"""global_sum: (C, H, W, N) -> (N, C) summed over positions, against a naive float64 sum, with
float64 central-difference gradient checks of the layer and of a fully convolutional net using it."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ConfigError
from engine.models.energy_net import EnergyNet
from tests.engine import reference as ref
from tests.engine.reference import make_layer
from tests.gradcheck import check_layer_gradients, check_net_gradients, parameterize, product

SHAPES = [dict(N=1, C=1, H=1, W=1), dict(N=2, C=3, H=4, W=5), dict(N=3, C=2, H=7, W=3)]


def naive_spatial_sum(x_nchw: np.ndarray) -> np.ndarray:
    n, c, h, w = x_nchw.shape
    out = np.zeros((n, c))
    for i in range(h):
        for j in range(w):
            out += x_nchw[:, :, i, j]
    return out


@parameterize(*[{**s, **d} for s in SHAPES for d in product(dtype=[np.float32, np.float64])])
def test_global_sum_forward_matches_naive_sum(N, C, H, W, dtype):
    layer = make_layer({"type": "global_sum"}, dtype)
    x = np.random.default_rng(0).standard_normal((N, C, H, W))
    y = layer.forward(ref.to_internal(x).astype(dtype))
    assert y.shape == (N, C) and y.dtype == dtype and y.flags.c_contiguous
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == np.float64 else {"rtol": 1e-5, "atol": 1e-5}
    np.testing.assert_allclose(y, naive_spatial_sum(x), **tol)
    assert layer.output_shape((C, H, W)) == (C,)


@parameterize(*SHAPES)
def test_global_sum_gradients(N, C, H, W):
    x = ref.to_internal(np.random.default_rng(1).standard_normal((N, C, H, W)))
    check_layer_gradients(make_layer({"type": "global_sum"}), x)


def test_global_sum_refuses_vectors():
    with pytest.raises(ConfigError, match=r"global_sum expects images \(C, H, W\)"):
        make_layer({"type": "global_sum"}).output_shape((5,))
    with pytest.raises(ConfigError, match="unknown setting"):
        make_layer({"type": "global_sum", "mean": True})


def _fully_conv(h: int, w: int) -> dict:
    return {"input_shape": [2, h, w], "layers": [
        {"type": "conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": 3, "stride": 1, "padding": 0},
        {"type": "swish"},
        {"type": "conv2d", "in_channels": 3, "out_channels": 1, "kernel_size": 2, "stride": 2, "padding": 1},
        {"type": "global_sum"},
    ]}


def test_fully_convolutional_energy_net_gradients():
    net = EnergyNet(_fully_conv(7, 6), seed=3, dtype=np.float64)
    assert net.output_size == 1
    x = np.random.default_rng(4).standard_normal((2, 2, 7, 6))
    check_net_gradients(net, x)
