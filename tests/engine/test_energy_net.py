"""EnergyNet on the benchmark presets W0-W2 and a net with every layer type: dE/dx and dE/dtheta
against float64 central differences, energy_and_grad, float32 against float64, batch independence."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ConfigError
from engine.models import PRESETS, EnergyNet
from tests.gradcheck import check_net_gradients

# batch size and entries checked per tensor: W2 has 2.8M parameters and ~8 ms forwards in float64
PRESET_CHECKS = {"W0": (3, 100), "W1": (2, 40), "W2": (2, 8)}

# every layer type in one small network, images in, with spectral norm on two layers
ALL_LAYERS = {"input_shape": [2, 9, 7], "layers": [
    {"type": "conv2d", "in_channels": 2, "out_channels": 4, "kernel_size": 3, "stride": 1, "padding": 1},
    {"type": "elu", "alpha": 0.7},
    {"type": "conv2d", "in_channels": 4, "out_channels": 5, "kernel_size": 4, "stride": 2, "padding": 1,
     "spectral_norm": True},
    {"type": "softplus"},
    {"type": "avg_pool2d", "kernel_size": 2, "stride": 1},
    {"type": "conv2d", "in_channels": 5, "out_channels": 3, "kernel_size": 1, "bias": False},
    {"type": "relu"},
    {"type": "flatten"},
    {"type": "linear", "in_features": 18, "out_features": 6, "spectral_norm": True},
    {"type": "leaky_relu", "slope": 0.1},
    {"type": "linear", "in_features": 6, "out_features": 5},
    {"type": "swish"},
    {"type": "linear", "in_features": 5, "out_features": 1, "bias": False},
]}
# ends with a conv to one pixel followed by an activation: the output stays an image
CONV_HEAD = {"input_shape": [1, 5, 6], "layers": [
    {"type": "conv2d", "in_channels": 1, "out_channels": 3, "kernel_size": 5, "stride": 2, "padding": 2},
    {"type": "swish"},
    {"type": "conv2d", "in_channels": 3, "out_channels": 1, "kernel_size": 3},
    {"type": "softplus"},
]}
CONFIGS = {name: PRESETS[name]() for name in ("W0", "W1", "W2")} | {"all_layers": ALL_LAYERS, "conv_head": CONV_HEAD}
BATCH = {"W0": 3, "W1": 2, "W2": 2, "all_layers": 3, "conv_head": 2}


def make_net(name, dtype=np.float64, seed=0):
    return EnergyNet(CONFIGS[name], seed=seed, dtype=dtype, xp=np)


def make_x(name, n=None, seed=1):
    shape = tuple(CONFIGS[name]["input_shape"])
    return np.random.default_rng(seed).standard_normal((n or BATCH[name], *shape))


def test_preset_architectures_are_those_of_the_design():
    w1 = EnergyNet(PRESETS["W1"](), xp=np)
    assert w1.shapes == [(16, 16, 16), (16, 16, 16), (32, 8, 8), (32, 8, 8), (64, 4, 4), (64, 4, 4),
                         (64, 2, 2), (64, 2, 2), (256,), (64,), (64,), (1,)]
    w2 = EnergyNet(PRESETS["W2"](), xp=np)
    assert [s for s in w2.shapes[::2]] == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (1, 1, 1)]
    assert w2.layers[1].config["slope"] == 0.2
    w0 = EnergyNet(PRESETS["W0"](), xp=np)
    assert w0.input_shape == (2,) and w0.shapes[-1] == (1,) and len(w0.layers) == 7
    for net in (w0, w1, w2):
        assert net.output_size == 1 and net.dtype == np.float32  # float32 unless asked


@pytest.mark.parametrize("name", list(PRESET_CHECKS))
def test_preset_gradients(name):
    n, entries = PRESET_CHECKS[name]
    net = make_net(name)
    x = make_x(name, n)
    check_net_gradients(net, x, max_entries=entries, max_entries_for={"x": 3 * entries},
                        atol=1e-9, rtol=1e-5)


@pytest.mark.parametrize("name", ["all_layers", "conv_head"])
def test_small_net_gradients(name):
    check_net_gradients(make_net(name, seed=2), make_x(name, seed=3), max_entries=60, atol=1e-9, rtol=1e-5)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_gradients_are_aligned_with_parameters(name):
    net = make_net(name)
    names = [n for n, _, _ in net.named_params()]
    params = net.parameters()
    assert len(names) == len(set(names)) == len(params)
    assert net.num_parameters() == sum(p.size for p in params)
    for layer in net.layers:
        layer.grads.clear()
    x = make_x(name)
    net.forward(x)
    net.backward(np.ones(len(x)))
    grads = net.gradients()
    assert len(grads) == len(params)
    for n, p, g in zip(names, params, grads):
        i, key = n.split(".")
        assert net.layers[int(i)].params[key] is p
        assert g.shape == p.shape and g.dtype == p.dtype, n


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_energy_and_grad_is_forward_plus_backward_without_param_grads(name, dtype):
    net = make_net(name, dtype)
    x = make_x(name).astype(dtype)
    for layer in net.layers:
        layer.grads.clear()
    e, gx = net.energy_and_grad(x)
    assert all(layer.grads == {} for layer in net.layers), "energy_and_grad must not compute dE/dtheta"
    assert e.shape == (len(x),) and gx.shape == x.shape
    assert e.dtype == dtype and gx.dtype == dtype
    e2 = net.forward(x, param_grads=False)
    gx2 = net.backward(np.ones(len(x), dtype=dtype), param_grads=False)
    np.testing.assert_array_equal(e, e2)
    np.testing.assert_array_equal(gx, gx2)
    np.testing.assert_array_equal(net.energy(x), e)
    e3 = net.forward(x, param_grads=True)
    gx3 = net.backward(np.ones(len(x), dtype=dtype), param_grads=True)
    np.testing.assert_array_equal(e3, e)
    np.testing.assert_allclose(gx3, gx, rtol=1e-6 if dtype == np.float32 else 1e-14, atol=0)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_float32_matches_float64(name):
    net64, net32 = make_net(name, np.float64, seed=4), make_net(name, np.float32, seed=4)
    for p32, p64 in zip(net32.parameters(), net64.parameters()):
        assert p32.dtype == np.float32
        np.testing.assert_array_equal(p32, p64.astype(np.float32))  # same draw, then cast
    x = make_x(name, seed=5)
    e64, e32 = net64.forward(x), net32.forward(x.astype(np.float32))
    gx64 = net64.backward(np.ones(len(x)))
    gx32 = net32.backward(np.ones(len(x), np.float32))
    scale = lambda a: float(np.abs(a).max())  # noqa: E731
    np.testing.assert_allclose(e32, e64, rtol=1e-4, atol=1e-5 * scale(e64))
    np.testing.assert_allclose(gx32, gx64, rtol=1e-3, atol=1e-4 * scale(gx64))
    for (n, _, _), g32, g64 in zip(net64.named_params(), net32.gradients(), net64.gradients()):
        assert g32.dtype == np.float32, n
        np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-4 * scale(g64), err_msg=n)
    # a float64 batch into a float32 net is cast, not an error
    np.testing.assert_array_equal(net32.energy(x), net32.energy(x.astype(np.float32)))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_samples_do_not_mix(name):
    """Energies and dE/dx of a batch equal those of each sample alone (layouts keep samples apart)."""
    net = make_net(name, seed=6)
    x = make_x(name, n=3, seed=7)
    e, gx = net.energy_and_grad(x)
    for i in range(len(x)):
        ei, gi = net.energy_and_grad(x[i : i + 1])
        np.testing.assert_allclose(ei, e[i : i + 1], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(gi, gx[i : i + 1], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", ["W1", "all_layers"])
def test_input_is_left_alone_and_views_work(name):
    net = make_net(name, seed=8)
    big = make_x(name, n=6, seed=9)
    x = big[::2]  # a strided view
    x0 = x.copy()
    e, gx = net.energy_and_grad(x)
    np.testing.assert_array_equal(x, x0)
    e2, gx2 = net.energy_and_grad(np.ascontiguousarray(x))
    np.testing.assert_array_equal(e, e2)
    np.testing.assert_array_equal(gx, gx2)


def test_param_grads_need_a_param_grads_forward():
    net = make_net("W1")
    x = make_x("W1")
    net.forward(x, param_grads=False)
    with pytest.raises(RuntimeError):
        net.backward(np.ones(len(x)), param_grads=True)


def test_energy_weights_the_per_sample_gradients():
    """backward(g) is the gradient of sum_i g_i E(x_i): linear in g."""
    net = make_net("W1", seed=10)
    x = make_x("W1", n=3, seed=11)
    g = np.array([0.5, -2.0, 3.0])
    net.forward(x)
    gx = net.backward(g)
    gw = [a.copy() for a in net.gradients()]
    net.forward(x)
    gx1 = net.backward(np.ones(3))
    gw1 = [a.copy() for a in net.gradients()]
    np.testing.assert_allclose(gx, gx1 * g[:, None, None, None], rtol=1e-12, atol=1e-16)
    for i in range(3):
        net.forward(x[i : i + 1])
        net.backward(np.ones(1))
        for acc, gi in zip(gw1, net.gradients()):
            acc -= gi
    for r in gw1:  # sum of per-sample gradients equals the batch gradient
        np.testing.assert_allclose(r, 0.0, atol=1e-12)
    assert not np.allclose(gw[0], 0.0)


def test_wrong_input_shape_raises_config_error():
    net = make_net("W1")
    with pytest.raises(ConfigError, match="1, 28, 28"):
        net.energy(np.zeros((2, 28, 28)))
    with pytest.raises(ConfigError):
        net.energy(np.zeros((2, 3, 28, 28)))


def test_classifier_outputs_are_not_an_energy():
    config = {"input_shape": [4], "layers": [{"type": "linear", "in_features": 4, "out_features": 3}]}
    net = EnergyNet(config, xp=np)
    x = np.ones((2, 4), np.float32)
    assert net.outputs(x).shape == (2, 3)
    with pytest.raises(ConfigError, match="3 outputs"):
        net.energy(x)
    with pytest.raises(ConfigError):
        net.energy_and_grad(x)


def test_same_seed_same_parameters_other_seed_other_parameters():
    a, b, c = make_net("W1", seed=12), make_net("W1", seed=12), make_net("W1", seed=13)
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters()):
        np.testing.assert_array_equal(pa, pb)
        assert not np.array_equal(pa, pc)


@pytest.mark.parametrize("last", ["swish", "elu", "softplus", "leaky_relu", "relu", "linear"])
@pytest.mark.parametrize("param_grads", [False, True])
def test_changing_the_returned_energies_in_place_leaves_gradients_alone(last, param_grads):
    """A caller may do ``e -= e.mean()``; the state saved for backward must not be that array."""
    head = {"type": "linear", "in_features": 1, "out_features": 1} if last == "linear" else {"type": last}
    config = {"input_shape": [1, 5, 5], "layers": [
        {"type": "conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3, "stride": 2, "padding": 1},
        {"type": "swish"}, {"type": "conv2d", "in_channels": 2, "out_channels": 1, "kernel_size": 3},
        {"type": "flatten"}, head]}
    net = EnergyNet(config, seed=14, dtype=np.float64, xp=np)
    x = np.random.default_rng(15).standard_normal((3, 1, 5, 5))
    e = net.forward(x, param_grads=param_grads)
    gx = net.backward(np.ones(3), param_grads=param_grads)
    grads = [g.copy() for g in net.gradients()] if param_grads else []
    e = net.forward(x, param_grads=param_grads)
    e -= 100.0
    e *= -3.0
    np.testing.assert_array_equal(net.backward(np.ones(3), param_grads=param_grads), gx)
    for a, b in zip(net.gradients() if param_grads else [], grads):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_empty_batch(name):
    """A batch of 0 samples (an empty last batch) gives empty energies and gradients, not a crash."""
    net = make_net(name)
    x = np.zeros((0, *net.input_shape))
    assert net.energy(x).shape == (0,)
    e, gx = net.energy_and_grad(x)
    assert e.shape == (0,) and gx.shape == x.shape


def test_empty_batch_parameter_gradients_are_zero_for_vector_nets():
    net = make_net("W0")
    net.forward(np.zeros((0, 2)))
    net.backward(np.zeros(0))
    for g, p in zip(net.gradients(), net.parameters()):
        assert g.shape == p.shape and not np.any(g)


def test_part_views_share_the_parameters_and_keep_their_own_layers():
    net = EnergyNet(PRESETS["convnet_small"](), seed=1)
    x = np.random.default_rng(2).uniform(-1, 1, (6, *net.input_shape)).astype(np.float32)
    with net.fixed_weights():
        views = net.part_views(3)
        assert views[0] is net
        for view in views[1:]:
            assert all(a is not b for a, b in zip(view.layers, net.layers))
            assert all(a.params is b.params for a, b in zip(view.layers, net.layers))
        e, g = net.energy_and_grad(x)
        for i, view in enumerate(views):
            e_part, g_part = view.energy_and_grad(x[2 * i: 2 * i + 2])
            np.testing.assert_allclose(e_part, e[2 * i: 2 * i + 2], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(g_part, g[2 * i: 2 * i + 2], rtol=1e-5, atol=1e-6)
