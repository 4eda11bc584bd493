"""The presets against an equivalent torch.nn.Sequential in float64 with the same weights:
energies, dE/dx and dE/dtheta."""

from __future__ import annotations

import numpy as np
import pytest

from engine.models import PRESETS, EnergyNet

torch = pytest.importorskip("torch")
nn = torch.nn


def torch_sequential(net: EnergyNet) -> "nn.Sequential":
    """The same architecture in torch (float64), with the engine net's parameters copied in."""
    modules = []
    for layer in net.layers:
        c = layer.config
        if layer.kind == "conv2d":
            assert not c["spectral_norm"]
            m = nn.Conv2d(c["in_channels"], c["out_channels"], c["kernel_size"], c["stride"], c["padding"],
                          bias=c["bias"], dtype=torch.float64)
        elif layer.kind == "linear":
            assert not c["spectral_norm"]
            m = nn.Linear(c["in_features"], c["out_features"], bias=c["bias"], dtype=torch.float64)
        elif layer.kind == "swish":
            m = nn.SiLU()
        elif layer.kind == "leaky_relu":
            m = nn.LeakyReLU(c["slope"])
        elif layer.kind == "relu":
            m = nn.ReLU()
        elif layer.kind == "softplus":
            m = nn.Softplus()
        elif layer.kind == "elu":
            m = nn.ELU(c["alpha"])
        elif layer.kind == "flatten":
            m = nn.Flatten()
        elif layer.kind == "avg_pool2d":
            m = nn.AvgPool2d(c["kernel_size"], c["stride"])
        else:  # pragma: no cover - a new layer type needs a line here
            raise AssertionError(f"no torch twin for {layer.kind}")
        with torch.no_grad():
            for key, value in layer.params.items():
                getattr(m, key).copy_(torch.from_numpy(np.asarray(value, np.float64)))
        modules.append(m)
    return nn.Sequential(*modules)


ALL_TYPES = {"input_shape": [3, 8, 7], "layers": [
    {"type": "conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3, "padding": 1},
    {"type": "elu", "alpha": 0.5},
    {"type": "avg_pool2d", "kernel_size": 2},
    {"type": "conv2d", "in_channels": 4, "out_channels": 4, "kernel_size": 2, "stride": 1, "bias": False},
    {"type": "softplus"},
    {"type": "relu"},
    {"type": "flatten"},
    {"type": "linear", "in_features": 24, "out_features": 5},
    {"type": "leaky_relu", "slope": 0.3},
    {"type": "linear", "in_features": 5, "out_features": 1},
]}
CASES = {"W0": (PRESETS["W0"](), 4), "W1": (PRESETS["W1"](), 3), "W2": (PRESETS["W2"](), 2),
         "all_types": (ALL_TYPES, 3)}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch_sequential(name):
    config, n = CASES[name]
    net = EnergyNet(config, seed=0, dtype=np.float64, xp=np)
    model = torch_sequential(net)
    x = np.random.default_rng(1).standard_normal((n, *net.input_shape))
    g = np.random.default_rng(2).standard_normal(n)  # weights of a loss sum_i g_i E(x_i)

    xt = torch.tensor(x, requires_grad=True)
    et = model(xt).reshape(n)
    et.backward(torch.tensor(g))

    e = net.forward(x)
    gx = net.backward(g)
    np.testing.assert_allclose(e, et.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-9, atol=1e-13)
    torch_grads = [p.grad.numpy() for p in model.parameters()]
    ours = net.gradients()
    assert len(ours) == len(torch_grads)  # same order: layer by layer, weight then bias
    for (pname, _, _), a, b in zip(net.named_params(), ours, torch_grads):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-13 * max(1.0, float(np.abs(b).max())), err_msg=pname)
    e_only, gx_only = net.energy_and_grad(x)
    np.testing.assert_allclose(e_only, e, rtol=1e-14)


@pytest.mark.parametrize("name", ["W1", "W2"])
def test_float32_net_is_close_to_torch_float64(name):
    config, n = CASES[name]
    net32 = EnergyNet(config, seed=3, dtype=np.float32, xp=np)
    net64 = EnergyNet(config, seed=3, dtype=np.float64, xp=np)
    model = torch_sequential(net64)
    x = np.random.default_rng(4).uniform(-1, 1, (n, *net32.input_shape))
    xt = torch.tensor(x, requires_grad=True)
    model(xt).sum().backward()
    e, gx = net32.energy_and_grad(x.astype(np.float32))
    ref_e, ref_g = model(torch.tensor(x)).detach().numpy().reshape(n), xt.grad.numpy()
    np.testing.assert_allclose(e, ref_e, rtol=1e-4, atol=1e-5 * np.abs(ref_e).max())
    np.testing.assert_allclose(gx, ref_g, rtol=1e-3, atol=1e-4 * np.abs(ref_g).max())
