"""Spectral normalisation: sigma from power iteration, the normalised weight, and its gradient."""

from __future__ import annotations

import numpy as np
import pytest

from engine.models import EnergyNet
from tests.engine import reference as ref
from tests.engine.reference import make_layer
from tests.gradcheck import check_layer_gradients

SN_SPECS = {
    "conv": {"type": "conv2d", "in_channels": 4, "out_channels": 8, "kernel_size": 3, "padding": 1,
             "spectral_norm": True},
    "conv_k4_s2": {"type": "conv2d", "in_channels": 3, "out_channels": 5, "kernel_size": 4, "stride": 2,
                   "padding": 1, "spectral_norm": True},
    "linear_tall": {"type": "linear", "in_features": 7, "out_features": 20, "spectral_norm": True},
    "linear_wide": {"type": "linear", "in_features": 30, "out_features": 5, "spectral_norm": True},
    "linear_1x1": {"type": "linear", "in_features": 1, "out_features": 1, "spectral_norm": True},
}


def matrix(layer):
    w = np.asarray(layer.params["weight"], np.float64)
    return w.reshape(w.shape[0], -1)


def sigma_of(layer):
    return layer.effective_weight()[1]


@pytest.mark.parametrize("name", list(SN_SPECS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_power_iteration_converges_to_largest_singular_value(name, seed):
    layer = make_layer(SN_SPECS[name], seed=seed)
    top = np.linalg.svd(matrix(layer), compute_uv=False)[0]
    sigmas = [sigma_of(layer)]
    assert sigmas[0] <= top * (1 + 1e-12)  # u^T W v never exceeds the spectral norm
    for _ in range(300):
        layer.power_iteration()
        sigmas.append(sigma_of(layer))
    sigmas = np.array(sigmas)
    np.testing.assert_allclose(sigmas[-1], top, rtol=1e-9)
    assert np.all(np.diff(sigmas) >= -1e-12 * top), "sigma must not decrease under power iteration"
    w_eff, sigma = layer.effective_weight()
    assert sigma == pytest.approx(sigmas[-1])
    np.testing.assert_allclose(w_eff, layer.params["weight"] / sigma, rtol=1e-15)
    eff_top = np.linalg.svd(np.asarray(w_eff).reshape(w_eff.shape[0], -1), compute_uv=False)[0]
    assert eff_top == pytest.approx(1.0, rel=1e-9)
    np.testing.assert_allclose(np.linalg.norm(layer.buffers["sn_u"]), 1.0, rtol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(layer.buffers["sn_v"]), 1.0, rtol=1e-9)


@pytest.mark.parametrize("name", ["conv", "linear_tall"])
def test_power_iteration_in_float32(name):
    layer = make_layer(SN_SPECS[name], dtype=np.float32, seed=3)
    for _ in range(200):
        layer.power_iteration()
    assert layer.buffers["sn_u"].dtype == np.float32 and layer.buffers["sn_v"].dtype == np.float32
    top = np.linalg.svd(matrix(layer), compute_uv=False)[0]
    assert sigma_of(layer) == pytest.approx(top, rel=1e-5)
    w_eff, _ = layer.effective_weight()
    assert w_eff.dtype == np.float32


def test_initial_sigma_is_close_to_the_spectral_norm():
    """init runs a few power iterations, so the first forward already divides by roughly sigma_max."""
    for seed in range(5):
        layer = make_layer(SN_SPECS["conv"], seed=seed)
        top = np.linalg.svd(matrix(layer), compute_uv=False)[0]
        assert 0.5 * top < sigma_of(layer) <= top * (1 + 1e-12)


@pytest.mark.parametrize("name", list(SN_SPECS))
def test_u_v_stay_fixed_between_power_iterations(name):
    """forward and backward never move u, v: the gradient check below relies on it."""
    layer = make_layer(SN_SPECS[name], seed=4)
    u0, v0 = layer.buffers["sn_u"].copy(), layer.buffers["sn_v"].copy()
    x = _input(layer, np.random.default_rng(5))
    y1 = layer.forward(x, save=True, param_grads=True)
    layer.backward(np.ones_like(y1), param_grads=True)
    y2 = layer.forward(x)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(layer.buffers["sn_u"], u0)
    np.testing.assert_array_equal(layer.buffers["sn_v"], v0)
    layer.power_iteration()
    assert not np.array_equal(layer.buffers["sn_v"], v0) or not np.array_equal(layer.buffers["sn_u"], u0) \
        or matrix(layer).size == 1


def _input(layer, rng):
    if layer.kind == "linear":
        return rng.standard_normal((3, layer.config["in_features"]))
    return ref.to_internal(rng.standard_normal((2, layer.config["in_channels"], 7, 6)))


@pytest.mark.parametrize("name", list(SN_SPECS))
@pytest.mark.parametrize("iterations", [0, 3])
def test_gradient_with_u_v_fixed(name, iterations):
    layer = make_layer(SN_SPECS[name], seed=6)
    for _ in range(iterations):
        layer.power_iteration()
    check_layer_gradients(layer, _input(layer, np.random.default_rng(7)), max_entries=80)


def test_without_spectral_norm_power_iteration_is_a_no_op():
    layer = make_layer({"type": "linear", "in_features": 3, "out_features": 2}, seed=8)
    w = layer.params["weight"].copy()
    layer.power_iteration()
    assert layer.buffers == {}
    w_eff, sigma = layer.effective_weight()
    assert sigma == 1.0
    np.testing.assert_array_equal(w_eff, w)


@pytest.mark.parametrize("name", ["conv", "conv_k4_s2", "linear_wide"])
def test_matches_torch_spectral_norm_with_the_same_u_v(name):
    """torch.nn.utils.parametrizations.spectral_norm in eval mode uses u, v as constants, like us."""
    torch = pytest.importorskip("torch")
    layer = make_layer(SN_SPECS[name], seed=9)
    for _ in range(2):
        layer.power_iteration()
    c = layer.config
    if layer.kind == "linear":
        module = torch.nn.Linear(c["in_features"], c["out_features"], dtype=torch.float64)
    else:
        module = torch.nn.Conv2d(c["in_channels"], c["out_channels"], c["kernel_size"], c["stride"],
                                 c["padding"], dtype=torch.float64)
    module = torch.nn.utils.parametrizations.spectral_norm(module)
    param = module.parametrizations.weight
    with torch.no_grad():
        param.original.copy_(torch.tensor(layer.params["weight"]))
        module.bias.copy_(torch.tensor(layer.params["bias"]))
        param[0]._u.copy_(torch.tensor(layer.buffers["sn_u"]))
        param[0]._v.copy_(torch.tensor(layer.buffers["sn_v"]))
    module.eval()
    rng = np.random.default_rng(10)
    x = _input(layer, rng)
    x_torch = torch.tensor(x if layer.kind == "linear" else ref.from_internal(x), requires_grad=True)
    yt = module(x_torch)
    gy_torch = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(gy_torch))

    y = layer.forward(x, save=True, param_grads=True)
    gy = gy_torch if layer.kind == "linear" else ref.to_internal(gy_torch)
    gx = layer.backward(gy, param_grads=True)
    to_nchw = (lambda a: a) if layer.kind == "linear" else ref.from_internal
    np.testing.assert_allclose(to_nchw(y), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_nchw(gx), x_torch.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads["weight"], param.original.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(layer.grads["bias"], module.bias.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_energy_net_power_iteration_reaches_every_sn_layer():
    config = {"input_shape": [2, 6, 6], "layers": [
        SN_SPECS["conv_k4_s2"] | {"in_channels": 2}, {"type": "swish"}, {"type": "flatten"},
        {"type": "linear", "in_features": 45, "out_features": 8, "spectral_norm": True}, {"type": "elu"},
        {"type": "linear", "in_features": 8, "out_features": 1}]}
    net = EnergyNet(config, seed=11, dtype=np.float64, xp=np)
    state = net.state_dict()
    assert {"0.sn_u", "0.sn_v", "3.sn_u", "3.sn_v"} <= set(state)
    assert "5.sn_u" not in state
    for _ in range(300):
        net.power_iteration()
    for i in (0, 3):
        top = np.linalg.svd(matrix(net.layers[i]), compute_uv=False)[0]
        assert net.layers[i].effective_weight()[1] == pytest.approx(top, rel=1e-9)
    x = np.random.default_rng(12).standard_normal((2, 2, 6, 6))
    from tests.gradcheck import check_net_gradients  # noqa: PLC0415

    check_net_gradients(net, x, max_entries=40)
