"""WeightedSum: products of experts and "A but not B", analytic and neural."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.energies import Banana, DoubleWell, Energy, GaussianMixture, Ring, WeightedSum
from engine.errors import ConfigError
from engine.models import EnergyNet
from engine.models.presets import mlp_2d

from ._fd import input_grad_check


def _points(n: int = 6, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2.0, 2.0, size=(n, 2))


def _net() -> EnergyNet:
    return EnergyNet(mlp_2d(width=8, depth=2), seed=5, dtype=np.float64, xp=np)


@pytest.mark.parametrize("weights", [None, [0.5, 2.0, 1.0], [1.0, -0.3, 0.7]])
def test_sum_and_gradient_are_exact(weights):
    parts = [GaussianMixture(), Ring(radius=1.0, width=0.4), Banana()]
    ws = WeightedSum(parts, weights)
    assert isinstance(ws, Energy) and ws.input_shape == (2,)
    x = _points()
    w = [1.0] * 3 if weights is None else weights
    e, g = ws.energy_and_grad(x)
    np.testing.assert_allclose(e, sum(wi * p.energy(x) for wi, p in zip(w, parts)), rtol=1e-13)
    np.testing.assert_allclose(g, sum(wi * p.energy_and_grad(x)[1] for wi, p in zip(w, parts)), rtol=1e-13)
    np.testing.assert_allclose(ws.energy(x), e, rtol=1e-13)
    input_grad_check(ws.energy, g, x)


def test_composes_with_an_energy_net_and_nested_sums():
    net = _net()
    inner = WeightedSum([DoubleWell(), net], [1.0, -0.5])
    ws = WeightedSum([inner, GaussianMixture()], [2.0, 1.0])
    x = _points()
    e, g = ws.energy_and_grad(x)
    np.testing.assert_allclose(e, 2.0 * (DoubleWell().energy(x) - 0.5 * net.energy(x)) + GaussianMixture().energy(x),
                               rtol=1e-12)
    input_grad_check(ws.energy, g, x)


def test_output_dtype_follows_the_input():
    net = _net()  # float64 network
    ws = WeightedSum([Ring(), net])
    e, g = ws.energy_and_grad(_points().astype(np.float32))
    assert e.dtype == g.dtype == ws.energy(_points().astype(np.float32)).dtype == np.float32


def test_product_of_experts_keeps_only_the_shared_mode():
    # two mixtures that share only the mode at (2, 0): their product concentrates there
    a = GaussianMixture(means=[[2.0, 0.0], [-2.0, 0.0]], stds=0.3)
    b = GaussianMixture(means=[[2.0, 0.0], [0.0, 2.0]], stds=0.3)
    poe = WeightedSum([a, b])
    e = poe.energy(np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.0]]))
    assert e[0] < e[1] - 20 and e[0] < e[2] - 20
    not_b = WeightedSum([a, b], [1.0, -0.5])  # a but not b: the mode at (2, 0) is penalised
    e = not_b.energy(np.array([[2.0, 0.0], [-2.0, 0.0]]))
    assert e[1] < e[0]


def test_spec_round_trip_and_errors():
    ws = WeightedSum([Ring(), WeightedSum([Banana(), DoubleWell()], [1.0, 0.5])], [1.0, -0.25])
    spec = json.loads(json.dumps(ws.spec()))
    again = WeightedSum.from_spec(spec)
    assert again.spec() == ws.spec()
    x = _points()
    np.testing.assert_array_equal(again.energy(x), ws.energy(x))
    with pytest.raises(ConfigError, match="no spec"):
        WeightedSum([Ring(), _net()]).spec()
    with pytest.raises(ConfigError, match="share one input shape"):
        WeightedSum([Ring(), GaussianMixture(means=[[0.0, 0.0, 0.0]])])
    with pytest.raises(ConfigError, match="weights"):
        WeightedSum([Ring(), Banana()], [1.0])
    with pytest.raises(ConfigError, match="finite"):
        WeightedSum([Ring()], [float("nan")])
    with pytest.raises(ConfigError, match="at least one"):
        WeightedSum([])
    with pytest.raises(ConfigError, match="not an energy"):
        WeightedSum([Ring(), object()])
