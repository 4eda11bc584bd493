"""engine.ops.conv_winograd against the naive loops, and its use by Conv2d inside EnergyNet.fixed_weights."""

from __future__ import annotations

import numpy as np
import pytest

from engine.layers import conv2d as conv2d_layer
from engine.models.energy_net import EnergyNet
from engine.ops import conv_winograd as cw
from engine.samplers.langevin import LangevinSampler
from tests.engine import reference as ref
from tests.gradcheck import forward_tolerance, parameterize, product_cases

# k = 2s with even outputs: stride 2 (W2's k4 s2), stride 1 (k2), stride 3 (k6), batch 1, non-square
CASES = [
    dict(N=2, C=3, H=8, W=12, O=5, s=2, p=1, bias=True),
    dict(N=1, C=4, H=7, W=11, O=3, s=1, p=0, bias=False),
    dict(N=3, C=2, H=13, W=19, O=3, s=3, p=1, bias=True),
    dict(N=2, C=2, H=10, W=10, O=3, s=2, p=0, bias=True),
    dict(N=1, C=2, H=7, W=9, O=4, s=1, p=1, bias=True),
    dict(N=2, C=6, H=4, W=4, O=4, s=2, p=1, bias=False),  # one tile per image
]


def _data(N, C, H, W, O, s, bias, dtype, seed=0):
    rng = np.random.default_rng(seed)
    k = 2 * s
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((O, C, k, k)) / np.sqrt(C * k * k)
    b = rng.standard_normal(O) if bias else None
    return x, w, b


@parameterize(*product_cases(CASES, dtype=[np.float32, np.float64]))
def test_forward_and_input_gradient_match_naive_loops(N, C, H, W, O, s, p, bias, dtype):
    x, w, b = _data(N, C, H, W, O, s, bias, dtype)
    k = 2 * s
    oh, ow = ref.out_size(H, k, s, p), ref.out_size(W, k, s, p)
    assert cw.applies(k, s, oh, ow)
    u = cw.transform_weights(w.astype(dtype), s)
    assert u.shape == (9, O, C * s * s) and u.dtype == dtype
    xi = ref.to_internal(x).astype(dtype)
    y = cw.forward(xi, u, None if b is None else b.astype(dtype), s, p, oh, ow)
    assert y.shape == (O, oh, ow, N) and y.dtype == dtype
    tol = forward_tolerance(dtype)
    np.testing.assert_allclose(ref.from_internal(y), ref.conv2d(x, w, b, s, p), **tol)

    gy = np.random.default_rng(1).standard_normal((N, O, oh, ow))
    gx = cw.backward_input(ref.to_internal(gy).astype(dtype), u, xi.shape, s, p)
    assert gx.shape == xi.shape and gx.dtype == dtype
    np.testing.assert_allclose(ref.from_internal(gx), ref.conv2d_grad_input(gy, w, x.shape, s, p), **tol)


def test_input_gradient_is_the_adjoint_of_forward_float64():
    """<forward(x), gy> == <x, backward(gy)>: the backward is the forward's exact transpose."""
    x, w, _ = _data(2, 3, 12, 8, 4, 2, False, np.float64, seed=3)
    xi = ref.to_internal(x)
    u = cw.transform_weights(w, 2)
    y = cw.forward(xi, u, None, 2, 1, 6, 4)
    gy = np.random.default_rng(4).standard_normal(y.shape)
    gx = cw.backward_input(gy, u, xi.shape, 2, 1)
    assert np.vdot(y, gy) == pytest.approx(np.vdot(xi, gx), rel=1e-12)


def test_odd_outputs_and_other_kernels_do_not_apply():
    assert not cw.applies(4, 2, 5, 4)  # odd output rows: no whole 2x2 tiles
    assert not cw.applies(3, 1, 8, 8)  # kernel not 2s
    assert not cw.applies(4, 1, 8, 8)


def test_the_path_is_chosen_for_many_channels_and_small_images():
    """Measured on W2 (see pays_off): its 128- and 256-channel layers gain, the 64-channel one loses."""
    x = np.zeros((1, 1, 1, 1), np.float32)
    assert cw.pays_off(128, 256, 4, 2, 8, 8, x)
    assert cw.pays_off(256, 512, 4, 2, 4, 4, x)
    assert not cw.pays_off(64, 128, 4, 2, 16, 16, x)
    assert not cw.pays_off(256, 512, 4, 2, 5, 5, x)  # odd outputs


W2_LIKE = {"input_shape": [3, 16, 16], "layers": [
    {"type": "conv2d", "in_channels": 3, "out_channels": 128, "kernel_size": 3, "stride": 1, "padding": 1},
    {"type": "leaky_relu", "slope": 0.2},
    {"type": "conv2d", "in_channels": 128, "out_channels": 256, "kernel_size": 4, "stride": 2, "padding": 1},
    {"type": "leaky_relu", "slope": 0.2},
    {"type": "conv2d", "in_channels": 256, "out_channels": 1, "kernel_size": 8, "stride": 1, "padding": 0},
]}


def _count_transforms(monkeypatch) -> list[int]:
    calls = []
    real = cw.transform_weights

    def counting(w, s):
        calls.append(1)
        return real(w, s)

    monkeypatch.setattr(conv2d_layer.conv_winograd, "transform_weights", counting)
    return calls


def test_energy_net_uses_winograd_only_inside_fixed_weights(monkeypatch):
    calls = _count_transforms(monkeypatch)
    net = EnergyNet(W2_LIKE, seed=0, dtype=np.float64)
    x = np.random.default_rng(0).uniform(-1, 1, (6, 3, 16, 16))
    e0, g0 = net.energy_and_grad(x)
    assert calls == []
    with net.fixed_weights():
        e1, g1 = net.energy_and_grad(x)
        _, g2 = net.energy_and_grad(x)
    assert calls == [1], "the weights are transformed once per scope"
    np.testing.assert_allclose(e1, e0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g1, g0, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(g2, g1)
    assert all(layer.derived is None for layer in net.layers), "the scope's derived weights are dropped"


def test_a_new_scope_sees_changed_weights(monkeypatch):
    net = EnergyNet(W2_LIKE, seed=0, dtype=np.float64)
    x = np.random.default_rng(1).uniform(-1, 1, (4, 3, 16, 16))
    with net.fixed_weights():
        net.energy_and_grad(x)
    net.layers[2].params["weight"] *= 0.5  # what an optimizer step does: in place
    with net.fixed_weights():
        e, g = net.energy_and_grad(x)
    e_ref, g_ref = net.energy_and_grad(x)
    np.testing.assert_allclose(e, e_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g, g_ref, rtol=1e-10, atol=1e-12)


def test_training_passes_keep_the_im2col_path(monkeypatch):
    """Parameter gradients need the forward's col: a saving forward with param_grads never transforms."""
    calls = _count_transforms(monkeypatch)
    net = EnergyNet(W2_LIKE, seed=0)
    x = np.random.default_rng(2).uniform(-1, 1, (4, 3, 16, 16)).astype(np.float32)
    with net.fixed_weights():
        e = net.forward(x, param_grads=True)
        net.backward(np.ones_like(e), param_grads=True)
    assert calls == []
    assert net.layers[2].grads["weight"].shape == (256, 128, 4, 4)


def test_langevin_runs_inside_a_fixed_weights_scope(monkeypatch):
    calls = _count_transforms(monkeypatch)
    monkeypatch.setenv("EBM_CHAIN_PROCESSES", "0")
    net = EnergyNet(W2_LIKE, seed=0)
    sampler = LangevinSampler(step_size=0.01, noise=0.005, clip_grad=0.03, clamp=(-1.0, 1.0), n_steps=3)
    x0 = np.random.default_rng(3).uniform(-1, 1, (4, 3, 16, 16)).astype(np.float32)
    sampler.run(net, x0, np.random.default_rng(4))
    assert calls == [1]
    assert all(layer.derived is None for layer in net.layers)
