"""Analytic 2D energies: exact gradients, exact normalisation, spec round trips."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.energies import (ANALYTIC_ENERGIES, Banana, DoubleWell, Energy, GaussianMixture, Ring,
                             energy_from_spec)
from engine.errors import ConfigError

from ._fd import input_grad_check

ENERGIES = [
    GaussianMixture(),
    GaussianMixture(means=[[0.0, 0.0], [1.5, -0.5], [-1.0, 1.0]],
                    covariances=[[[0.5, 0.2], [0.2, 0.3]], [[0.2, -0.05], [-0.05, 0.4]], [[1.0, 0.0], [0.0, 0.1]]],
                    weights=[1.0, 2.0, 0.5]),
    GaussianMixture(means=[[0.0, 1.0], [0.5, -1.0]], stds=[[0.3, 0.6], [0.8, 0.2]]),
    DoubleWell(),
    DoubleWell(a=1.5, b=0.3, s=0.8),
    Ring(),
    Ring(radius=0.0, width=0.7),
    Ring(radius=1.0, width=0.5),
    Banana(),
    Banana(a=1.3, b=0.6, c=-0.7, d=0.4),
]
IDS = [repr(e)[:60] for e in ENERGIES]


def _points(n: int = 7, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2.5, 2.5, size=(n, 2))


@pytest.mark.parametrize("energy", ENERGIES, ids=IDS)
def test_gradient_matches_central_differences(energy):
    x = _points()
    e, g = energy.energy_and_grad(x)
    assert e.shape == (7,) and g.shape == (7, 2) and e.dtype == g.dtype == np.float64
    np.testing.assert_allclose(e, energy.energy(x), rtol=1e-13, atol=1e-13)
    input_grad_check(energy.energy, g, x)


@pytest.mark.parametrize("energy", ENERGIES, ids=IDS)
def test_float32_follows_input_dtype(energy):
    x = _points()
    e32, g32 = energy.energy_and_grad(x.astype(np.float32))
    e64, g64 = energy.energy_and_grad(x)
    assert e32.dtype == g32.dtype == energy.energy(x.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(e32, e64, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("energy", ENERGIES, ids=IDS)
def test_spec_round_trips_through_json(energy):
    spec = json.loads(json.dumps(energy.spec()))
    again = energy_from_spec(spec)
    assert type(again) is type(energy) and again == energy and again.spec() == energy.spec()
    x = _points()
    np.testing.assert_array_equal(again.energy(x), energy.energy(x))
    assert type(energy).from_spec(spec) == energy


@pytest.mark.parametrize("energy", ENERGIES, ids=IDS)
def test_is_an_energy_and_exp_minus_e_integrates_to_z(energy):
    assert isinstance(energy, Energy) and energy.input_shape == (2,)
    # a fine grid holding all the mass; Gaussian-type integrands make the Riemann sum very accurate
    xs = ys = (-9.0, 9.0)
    if isinstance(energy, Banana):  # y = c x^2 + d reaches far out along the arms
        reach = energy.c * (6 * energy.a) ** 2
        xs = (-6 * energy.a, 6 * energy.a)
        ys = (energy.d + min(0.0, reach) - 6 * energy.b, energy.d + max(0.0, reach) + 6 * energy.b)
    tx, ty = np.linspace(*xs, 801), np.linspace(*ys, 1201)
    xx, yy = np.meshgrid(tx, ty, indexing="ij")
    e = energy.energy(np.stack([xx.ravel(), yy.ravel()], axis=1))
    z = np.exp(-e).sum() * (tx[1] - tx[0]) * (ty[1] - ty[0])
    assert z == pytest.approx(math.exp(energy.log_partition()), rel=2e-5)
    lp = energy.log_prob(np.zeros((1, 2)))
    assert lp[0] == pytest.approx(-energy.energy(np.zeros((1, 2)))[0] - energy.log_partition())


def test_gaussian_mixture_is_minus_log_of_the_exact_density():
    means = np.array([[0.0, 0.0], [1.5, -0.5], [-1.0, 1.0]])
    covs = np.array([[[0.5, 0.2], [0.2, 0.3]], [[0.2, -0.05], [-0.05, 0.4]], [[1.0, 0.0], [0.0, 0.1]]])
    w = np.array([1.0, 2.0, 0.5])
    gm = GaussianMixture(means=means, covariances=covs, weights=w)
    x = _points(11)
    p = np.zeros(len(x))
    for m, c, wk in zip(means, covs, w / w.sum()):
        d = x - m
        quad = np.einsum("ni,ij,nj->n", d, np.linalg.inv(c), d)
        p += wk * np.exp(-0.5 * quad) / (2 * np.pi * np.sqrt(np.linalg.det(c)))
    np.testing.assert_allclose(gm.energy(x), -np.log(p), rtol=1e-12)
    np.testing.assert_allclose(gm.density(x), p, rtol=1e-12)
    assert gm.log_partition() == 0.0


def test_gaussian_mixture_is_stable_far_from_every_mode():
    gm = GaussianMixture(means=[[0.0, 0.0], [1.0, 0.0]], stds=0.05)
    x = np.array([[1e3, -1e3], [40.0, 0.0]])
    for dtype in (np.float64, np.float32):
        e, g = gm.energy_and_grad(x.astype(dtype))
        assert np.isfinite(e).all() and np.isfinite(g).all()
    e, g = gm.energy_and_grad(x)
    # far away the nearest component dominates: E ~ |x - mu|^2 / (2 s^2) + const
    np.testing.assert_allclose(g[1], [(40.0 - 1.0) / 0.05**2, 0.0], rtol=1e-12)
    # nearest mode (1, 0), weight 1/2: E = |x - mu|^2 / (2 s^2) - log(1/2) + log(2 pi s^2)
    expected = (999.0**2 + 1e6) / (2 * 0.05**2) + math.log(2.0) + math.log(2 * math.pi * 0.05**2)
    assert e[0] == pytest.approx(expected, rel=1e-13)


def test_closed_forms():
    dw = DoubleWell(a=3.0, b=2.0, s=1.2)
    e = dw.energy(np.array([[1.2, 0.0], [-1.2, 0.0], [0.0, 0.0], [0.0, 1.0]]))
    np.testing.assert_allclose(e, [0.0, 0.0, 3.0, 2.0 + 3.0], atol=1e-15)
    ring = Ring(radius=2.0, width=0.5)
    np.testing.assert_allclose(ring.energy(np.array([[2.0, 0.0], [0.0, -3.0]])), [0.0, 2.0])
    e0, g0 = ring.energy_and_grad(np.zeros((1, 2)))
    assert e0[0] == pytest.approx(8.0) and np.all(g0 == 0)
    ban = Banana(a=1.0, b=0.5, c=2.0, d=0.0)
    np.testing.assert_allclose(ban.energy(np.array([[1.0, 2.0], [0.0, 1.0]])), [0.5, 2.0])


def test_registry_and_errors():
    assert set(ANALYTIC_ENERGIES) == {"gaussian_mixture", "double_well", "ring", "banana"}
    for name, cls in ANALYTIC_ENERGIES.items():
        assert cls.kind == name and cls().spec()["type"] == name
    with pytest.raises(ConfigError, match="unknown energy type"):
        energy_from_spec({"type": "spiral"})
    with pytest.raises(ConfigError, match="allowed settings"):
        energy_from_spec({"type": "ring", "radius": 1.0, "sigma": 2.0})
    with pytest.raises(ConfigError, match="width"):
        Ring(width=0.0)
    with pytest.raises(ConfigError, match="positive definite"):
        GaussianMixture(means=[[0.0, 0.0]], covariances=[[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ConfigError, match="either stds or covariances"):
        GaussianMixture(means=[[0.0, 0.0]], stds=1.0, covariances=np.eye(2))
    with pytest.raises(ConfigError, match="weights"):
        GaussianMixture(means=[[0.0, 0.0], [1.0, 1.0]], weights=[1.0, -1.0])
    with pytest.raises(ConfigError, match=r"\(N, 2\)"):
        DoubleWell().energy(np.zeros((3, 3)))
