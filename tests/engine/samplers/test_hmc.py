"""HMC: leapfrog accuracy and reversibility, exactness on a Gaussian, acceptance, fixed entries."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ConfigError
from engine.samplers import HMCSampler, Record, hamiltonian, leapfrog

from .targets import Gaussian, Quartic, assert_moments

MEAN, STD = np.array([1.0, -2.0]), np.array([0.5, 1.0])


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


def test_leapfrog_conserves_energy_to_second_order():
    energy = Quartic((6,))
    x = rng(1).uniform(-1.5, 1.5, (50, 6))
    p = rng(2).standard_normal((50, 6))
    e, g = energy.energy_and_grad(x)
    h0 = hamiltonian(e, p)
    errors = []
    for eps in (0.02, 0.01):
        n = int(round(1.0 / eps))  # same trajectory length
        x1, p1, e1, _ = leapfrog(energy, x, p, g, eps, n)
        errors.append(np.abs(hamiltonian(e1, p1) - h0).max())
        assert not np.allclose(x1, x)
    assert errors[0] < 5e-3  # |H| is about 5 here
    assert 3.0 < errors[0] / errors[1] < 5.0  # O(eps^2)


def test_leapfrog_is_reversible_and_leaves_inputs_alone():
    energy = Quartic((3,))
    x = rng(3).uniform(-1, 1, (10, 3))
    p = rng(4).standard_normal((10, 3))
    e, g = energy.energy_and_grad(x)
    copies = x.copy(), p.copy(), g.copy()
    x1, p1, _, g1 = leapfrog(energy, x, p, g, 0.1, 15)
    for a, b in zip((x, p, g), copies):
        np.testing.assert_array_equal(a, b)
    x2, p2, _, _ = leapfrog(energy, x1, -p1, g1, 0.1, 15)
    np.testing.assert_allclose(x2, x, atol=1e-10)
    np.testing.assert_allclose(-p2, p, atol=1e-10)


def test_hmc_matches_gaussian_target():
    energy = Gaussian(MEAN, STD)
    n = 8000
    x0 = rng(5).standard_normal((n, 2)).astype(np.float32)
    res = HMCSampler(step_size=0.15, n_leapfrog=8, n_steps=60).run(energy, x0, rng(6))
    assert_moments(res.x, MEAN, STD)
    assert 0.8 < res.acceptance < 1.0
    assert res.acceptance_per_step.shape == (60,) and res.acceptance_per_chain.shape == (n,)


def test_small_step_accepts_almost_all_and_huge_step_rejects_most():
    energy = Gaussian(MEAN, STD)
    x0 = (MEAN + STD * rng(7).standard_normal((400, 2))).astype(np.float32)
    small = HMCSampler(step_size=0.01, n_leapfrog=10, n_steps=10).run(energy, x0, rng(8))
    assert small.acceptance > 0.995
    huge = HMCSampler(step_size=1.5, n_leapfrog=10, n_steps=10).run(energy, x0, rng(8))
    assert huge.acceptance < 0.05  # eps > 2 s: leapfrog is unstable on the narrow coordinate


def test_mass_keeps_the_target():
    energy = Gaussian(MEAN, STD)
    x0 = rng(9).standard_normal((6000, 2)).astype(np.float32)
    res = HMCSampler(step_size=0.3, n_leapfrog=6, n_steps=60, mass=4.0).run(energy, x0, rng(10))
    assert_moments(res.x, MEAN, STD)


def test_fixed_entries_bounds_and_record():
    energy = Gaussian(np.zeros((2, 3)), np.ones((2, 3)))
    x0 = rng(11).uniform(-0.5, 0.5, (40, 2, 3)).astype(np.float32)
    mask = np.zeros((2, 3), bool)
    mask[0] = True
    vals = np.full((2, 3), 0.7, np.float32)
    res = HMCSampler(step_size=0.2, n_leapfrog=5, n_steps=12, bounds=(-1.0, 1.0)).run(
        energy, x0, rng(12), record=Record(chain_ids=(5,), every=5), fixed_mask=mask, fixed_values=vals)
    assert (res.x[:, 0] == np.float32(0.7)).all()
    assert (res.x[:, 1] != x0[:, 1]).any()
    assert res.x.min() >= -1.0 and res.x.max() <= 1.0
    np.testing.assert_array_equal(res.recorded_steps, [0, 5, 10, 12])
    assert res.chain_states.shape == (4, 1, 2, 3) and res.chain_energies.shape == (4, 1)
    assert (res.chain_states[:, :, 0] == np.float32(0.7)).all()
    np.testing.assert_allclose(res.chain_energies[:, 0], energy.energy(res.chain_states[:, 0]), rtol=1e-5)


def test_bad_settings():
    for kwargs in ({"step_size": 0.0}, {"n_leapfrog": 0}, {"mass": -1.0}, {"bounds": (1.0, 0.0)}):
        with pytest.raises(ConfigError):
            HMCSampler(**kwargs)
