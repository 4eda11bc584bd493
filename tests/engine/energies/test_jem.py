"""JEM: logits as energies, exact input and parameter gradients of the hybrid loss."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.energies import Energy
from engine.errors import ConfigError
from engine.models import JEM, PRESETS, EnergyNet
from engine.models.jem import cross_entropy, logsumexp
from engine.models.presets import conv, linear
from engine.training.optimizers import Adam

from ._fd import central_diff, input_grad_check

SWISH = {"type": "swish"}

CONFIGS = {
    "mlp": {"input_shape": [2], "layers": [linear(2, 6), SWISH, linear(6, 3)]},
    "conv_flatten": {"input_shape": [1, 5, 5], "layers": [conv(1, 2, 3, 2, 1), SWISH, {"type": "flatten"},
                                                          linear(18, 4)]},
    # logits come out of a conv as (K, 1, 1): exercises the image-layout backward
    "all_conv": {"input_shape": [2, 4, 4], "layers": [conv(2, 3, 3, 2, 1), SWISH, conv(3, 3, 2, 1, 0)]},
}


def _jem(name: str, seed: int = 0) -> JEM:
    return JEM(CONFIGS[name], seed=seed, dtype=np.float64, xp=np)


def _x(jem: JEM, n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *jem.input_shape))


def _np_logsumexp(f: np.ndarray) -> np.ndarray:
    return np.log(np.exp(f).sum(axis=1))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_energies_are_read_from_the_logits(name):
    jem = _jem(name)
    assert isinstance(jem, Energy)
    x = _x(jem, 3)
    f = jem.logits(x)
    assert f.shape == (3, jem.num_classes)
    np.testing.assert_allclose(jem.energy(x), -_np_logsumexp(f), rtol=1e-13)
    y = np.array([0, 2, 1])
    np.testing.assert_allclose(jem.energy_xy(x, y), -f[np.arange(3), y], rtol=1e-13)
    np.testing.assert_allclose(jem.energy_xy(x, 1), -f[:, 1], rtol=1e-13)
    # p(y|x) = exp(-E(x, y)) / exp(-E(x))
    np.testing.assert_allclose(np.exp(jem.energy(x) - jem.energy_xy(x, 2)),
                               np.exp(f[:, 2]) / np.exp(f).sum(axis=1), rtol=1e-12)


def test_logsumexp_and_cross_entropy_are_stable():
    f = np.array([[1000.0, 0.0, -1000.0], [-5.0, -5.0, -5.0]])
    np.testing.assert_allclose(logsumexp(f), [1000.0, -5.0 + math.log(3.0)])
    loss, g = cross_entropy(f, np.array([1, 2]))
    assert loss == pytest.approx((1000.0 + math.log(3.0)) / 2)
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g.sum(axis=1), 0.0, atol=1e-15)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_input_gradients_marginal_and_conditional(name):
    jem = _jem(name)
    x = _x(jem, 3)
    e, g = jem.energy_and_grad(x)
    assert g.shape == x.shape
    np.testing.assert_allclose(e, jem.energy(x), rtol=1e-13)
    input_grad_check(jem.energy, g, x)
    y = np.array([2, 0, 1])
    e, g = jem.energy_and_grad(x, y)
    np.testing.assert_allclose(e, jem.energy_xy(x, y), rtol=1e-13)
    input_grad_check(lambda z: jem.energy_xy(z, y), g, x)
    cond = jem.conditional(1)  # the Energy view the samplers use
    assert isinstance(cond, Energy) and cond.input_shape == jem.input_shape
    e, g = cond.energy_and_grad(x)
    input_grad_check(cond.energy, g, x)
    np.testing.assert_allclose(e, jem.energy_xy(x, 1), rtol=1e-13)
    e2, g2 = jem.conditional(np.array([1, 1, 1])).energy_and_grad(x)
    np.testing.assert_array_equal(e2, e)
    np.testing.assert_array_equal(g2, g)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_backward_of_any_logit_gradient(name):
    jem = _jem(name)
    x = _x(jem, 2)
    gf = np.random.default_rng(7).standard_normal((2, jem.num_classes))
    jem.net.outputs(x, save=True, param_grads=False)
    gx = jem.backward_outputs(gf, param_grads=False)
    np.testing.assert_allclose(gx, central_diff(lambda: np.sum(gf * jem.logits(x)), x), rtol=1e-6, atol=1e-8)


def _reference_loss(jem: JEM, x_lab, y, x_pos, x_neg, alpha, gen_weight) -> float:
    """The hybrid loss from the logits, written out independently."""
    total = 0.0
    if x_lab is not None:
        f = jem.logits(x_lab)
        total += float(np.mean(_np_logsumexp(f) - f[np.arange(len(y)), y]))
    if x_pos is not None:
        ep, en = -_np_logsumexp(jem.logits(x_pos)), -_np_logsumexp(jem.logits(x_neg))
        total += gen_weight * float(ep.mean() - en.mean() + alpha * ((ep**2).mean() + (en**2).mean()))
    return total


CASES = [
    ("mlp", True, True, 0.0, 1.0),
    ("mlp", True, True, 0.1, 0.5),
    ("conv_flatten", True, True, 0.1, 1.0),
    ("all_conv", True, True, 0.2, 2.0),
    ("conv_flatten", True, False, 0.0, 1.0),  # classifier only
    ("all_conv", False, True, 0.1, 1.0),  # generative only
]


@pytest.mark.parametrize("name,labelled,generative,alpha,gen_weight", CASES)
def test_hybrid_loss_parameter_gradients(name, labelled, generative, alpha, gen_weight):
    jem = _jem(name, seed=2)
    k = jem.num_classes
    x_lab, y = (_x(jem, 3, seed=10), np.array([0, k - 1, 1])) if labelled else (None, None)
    x_pos, x_neg = (_x(jem, 2, seed=11), 1.5 * _x(jem, 3, seed=12)) if generative else (None, None)
    out = jem.loss_and_grads(x_lab, y, x_pos, x_neg, alpha=alpha, gen_weight=gen_weight)
    ref = _reference_loss(jem, x_lab, y, x_pos, x_neg, alpha, gen_weight)
    assert out.total == pytest.approx(ref, rel=1e-12)
    assert out.total == pytest.approx(out.cross_entropy + gen_weight * out.generative, rel=1e-12)
    assert math.isnan(out.accuracy) != labelled and math.isnan(out.energy_pos) != generative
    grads = [g.copy() for g in jem.gradients()]
    params = jem.parameters()
    assert len(grads) == len(params) and all(g.shape == p.shape for g, p in zip(grads, params))
    for (pname, _, _), p, g in zip(jem.named_params(), params, grads):
        numeric = central_diff(lambda: _reference_loss(jem, x_lab, y, x_pos, x_neg, alpha, gen_weight), p)
        np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-8, err_msg=pname)


def test_hybrid_loss_errors():
    jem = _jem("mlp")
    x = _x(jem, 2)
    with pytest.raises(ConfigError, match="together"):
        jem.loss_and_grads(x, None, None, None)
    with pytest.raises(ConfigError, match="both"):
        jem.loss_and_grads(x, np.array([0, 1]), x, None)
    with pytest.raises(ConfigError, match="nothing to train"):
        jem.loss_and_grads(None, None, None, None)
    with pytest.raises(ConfigError, match=r"\[0, 3\)"):
        jem.loss_and_grads(x, np.array([0, 3]), None, None)
    with pytest.raises(ConfigError, match="empty"):
        jem.loss_and_grads(x, np.array([0, 1]), x, x[:0])
    with pytest.raises(ConfigError, match="integers"):
        jem.energy_xy(x, np.array([0.0, 1.0]))
    with pytest.raises(ConfigError, match="outside"):
        jem.conditional(5)
    with pytest.raises(ConfigError, match="at least 2 outputs"):
        JEM({"input_shape": [2], "layers": [linear(2, 1)]})


def _blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    return centres[y] + 0.5 * rng.standard_normal((n, 2)), y


def test_accuracy_on_a_separable_toy():
    # hand-set: class = argmax of (x, -x, y) is right on these points
    jem = JEM({"input_shape": [2], "layers": [linear(2, 3)]}, dtype=np.float64, xp=np)
    jem.net.layers[0].params["weight"][...] = [[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]
    jem.net.layers[0].params["bias"][...] = 0.0
    x = np.array([[2.0, 0.1], [-2.0, 0.3], [0.1, 2.0], [3.0, -1.0]])
    y = np.array([0, 1, 2, 0])
    assert jem.accuracy(x, y) == 1.0
    assert jem.accuracy(x, (y + 1) % 3) == 0.0
    assert jem.accuracy(x, y, batch_size=3) == 1.0
    # and learned: a few Adam steps on the cross-entropy separate three blobs
    jem = JEM(CONFIGS["mlp"], seed=0, dtype=np.float32, xp=np)
    x, y = _blobs(96, seed=0)
    x = x.astype(np.float32)
    opt = Adam(jem.parameters(), lr=0.05)
    before = jem.accuracy(x, y)
    for _ in range(60):
        out = jem.loss_and_grads(x, y, None, None)
        opt.step(jem.gradients())
    x_test, y_test = _blobs(200, seed=1)
    assert before < 0.9
    assert out.accuracy == 1.0 and jem.accuracy(x_test.astype(np.float32), y_test) >= 0.99


def test_presets_build_and_run():
    jem = JEM(PRESETS["jem_digits"](), seed=0)
    assert jem.num_classes == 10 and jem.input_shape == (1, 28, 28)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 1, 28, 28)).astype(np.float32)
    e, g = jem.energy_and_grad(x, 3)
    assert e.shape == (2,) and g.shape == x.shape and g.dtype == np.float32 and np.isfinite(g).all()
    net = EnergyNet(PRESETS["convnet_small"](), seed=0)
    assert net.output_size == 1 and net.num_parameters() < EnergyNet(PRESETS["W1"]()).num_parameters()
    e, g = net.energy_and_grad(x)
    assert e.shape == (2,) and g.shape == x.shape
