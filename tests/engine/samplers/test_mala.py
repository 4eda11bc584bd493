"""MALA: the acceptance formula, exactness on a Gaussian, acceptance limits, fixed entries."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.errors import ConfigError
from engine.samplers import LangevinSampler, MALASampler, Record, mala_log_accept, mala_step

from .targets import Gaussian, Quartic, assert_moments

MEAN, STD = np.array([1.0, -2.0]), np.array([0.5, 1.0])


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


def naive_log_alpha(energy, x, x_new, s):
    """The MH ratio straight from the definition, one sample at a time, in float64.

    q(x'|x) = N(x'; x - (a/2) g(x), a I), a = 2 s;
    log alpha = -E(x') + E(x) + log q(x | x') - log q(x' | x).
    """
    a = 2.0 * s
    out = []
    for xi_, xn in zip(x.astype(np.float64), x_new.astype(np.float64)):
        e0, g0 = energy.energy_and_grad(xi_[None])
        e1, g1 = energy.energy_and_grad(xn[None])
        log_q_back = -np.sum((xi_ - xn + (a / 2) * g1[0]) ** 2) / (2 * a)
        log_q_fwd = -np.sum((xn - xi_ + (a / 2) * g0[0]) ** 2) / (2 * a)
        out.append(-e1[0] + e0[0] + log_q_back - log_q_fwd)
    return np.array(out)


@pytest.mark.parametrize("s", [1e-3, 0.05, 0.5])
def test_log_accept_matches_naive_float64(s):
    energy = Quartic((3, 4))
    x = rng(1).uniform(-1.5, 1.5, (16, 3, 4))
    xi = rng(2).standard_normal((16, 3, 4))
    _, g = energy.energy_and_grad(x)
    x_new = x - s * g + math.sqrt(2 * s) * xi
    want = naive_log_alpha(energy, x, x_new, s)
    # the production path: float32 inputs, cancellation-free form
    f = np.float32
    e0, g0 = energy.energy_and_grad(x.astype(f))
    e1, g1 = energy.energy_and_grad(x_new.astype(f))
    got = mala_log_accept(e0, e1, g0, g1, xi.astype(f), s)
    assert got.dtype == np.float64 and got.shape == (16,)
    np.testing.assert_allclose(got, want, atol=2e-4 * max(1.0, np.abs(want).max()))
    # in float64 throughout, the two forms agree to rounding
    e0, g0 = energy.energy_and_grad(x)
    e1, g1 = energy.energy_and_grad(x_new)
    np.testing.assert_allclose(mala_log_accept(e0, e1, g0, g1, xi, s), want, rtol=1e-9, atol=1e-9)


class ScriptedRng:
    """Hands out given normal and uniform draws, to replay a step by hand."""

    def __init__(self, normals, uniforms):
        self.normals, self.uniforms = normals, uniforms

    def standard_normal(self, shape, dtype=np.float64):
        assert shape == self.normals.shape
        return self.normals.astype(dtype)

    def random(self, size, dtype=np.float64):
        assert size == self.uniforms.shape[0]
        return self.uniforms.astype(dtype)


def test_step_accepts_exactly_when_log_u_below_log_alpha():
    energy = Quartic((2,))
    s = 0.3
    x = rng(3).uniform(-2, 2, (200, 2))
    xi = rng(4).standard_normal((200, 2))
    u = rng(5).random(200)
    e, g = energy.energy_and_grad(x)
    x_prop = x - s * g + math.sqrt(2 * s) * xi
    log_alpha = naive_log_alpha(energy, x, x_prop, s)
    want_acc = np.log(u) < log_alpha
    assert 20 < want_acc.sum() < 180  # both outcomes occur
    out = mala_step(energy, x.copy(), e.copy(), g.copy(), s, ScriptedRng(xi, u))
    np.testing.assert_array_equal(out.accepted, want_acc)
    np.testing.assert_allclose(out.x, np.where(want_acc[:, None], x_prop, x), rtol=1e-12)
    np.testing.assert_allclose(out.e, energy.energy(out.x), rtol=1e-12)
    np.testing.assert_allclose(out.g, energy.energy_and_grad(out.x)[1], rtol=1e-12)


def test_mala_is_exact_where_langevin_is_biased():
    """Step 0.1 on s = 0.5: ULA's variance is off by 25%, MALA's matches the target."""
    energy = Gaussian(MEAN, STD)
    n = 8000
    x0 = rng(6).standard_normal((n, 2)).astype(np.float32)
    res = MALASampler(step_size=0.1, n_steps=300).run(energy, x0, rng(7))
    assert_moments(res.x, MEAN, STD)
    assert 0.5 < res.acceptance < 0.99
    ula = LangevinSampler(step_size=0.1, n_steps=300).run(energy, x0, rng(7)).x
    assert ula[:, 0].var() > 1.2 * STD[0] ** 2  # 1 / (1 - 0.1 / 0.5) = 1.25


def test_clipped_drift_stays_exact():
    """Clipping changes the proposal, not the target: q uses the clipped drift both ways."""
    energy = Gaussian(MEAN, STD)
    x0 = rng(15).standard_normal((6000, 2)).astype(np.float32)
    res = MALASampler(step_size=0.1, n_steps=300, clip_grad=0.5).run(energy, x0, rng(16))
    assert_moments(res.x, MEAN, STD)


def test_acceptance_goes_to_one_as_step_goes_to_zero():
    energy = Quartic((8,))
    x0 = rng(8).uniform(-1.5, 1.5, (400, 8)).astype(np.float32)
    rates = [MALASampler(step_size=s, n_steps=20).run(energy, x0, rng(9)).acceptance
             for s in (0.3, 0.03, 3e-3, 3e-4)]
    assert all(a < b for a, b in zip(rates, rates[1:])), rates
    assert rates[-1] > 0.995


def test_huge_step_rejects_most_proposals():
    energy = Gaussian(MEAN, STD)
    x0 = (MEAN + STD * rng(10).standard_normal((500, 2))).astype(np.float32)
    res = MALASampler(step_size=5.0, n_steps=20).run(energy, x0, rng(11))
    assert res.acceptance < 0.05
    assert_moments(res.x, MEAN, STD, n_se=6.0)  # rejection keeps the target


def test_acceptance_reporting_and_record():
    energy = Gaussian(MEAN, STD)
    x0 = rng(12).standard_normal((30, 2)).astype(np.float32)
    res = MALASampler(step_size=0.2, n_steps=7).run(energy, x0, rng(0), record=Record(every=3))
    assert res.acceptance_per_step.shape == (7,) and res.acceptance_per_chain.shape == (30,)
    assert res.acceptance == pytest.approx(res.acceptance_per_step.mean())
    assert res.acceptance == pytest.approx(res.acceptance_per_chain.mean())
    np.testing.assert_array_equal(res.recorded_steps, [0, 3, 6, 7])
    assert res.chain_states.shape == (4, 3, 2) and res.chain_energies.shape == (4, 3)
    np.testing.assert_array_equal(res.chain_states[-1], res.x[:3])
    np.testing.assert_allclose(res.energies_per_step[-1], energy.energy(res.x).mean(), rtol=1e-5)
    assert MALASampler().run(energy, x0, rng(0), n_steps=0).acceptance is None


def test_fixed_entries_and_bounds():
    energy = Gaussian(0.0, 1.0, (5,))
    x0 = rng(13).uniform(-0.5, 0.5, (2000, 5)).astype(np.float32)
    mask = np.array([True, False, True, False, False])
    res = MALASampler(step_size=0.2, n_steps=100, bounds=(-1.0, 1.0)).run(
        energy, x0, rng(14), fixed_mask=mask)
    np.testing.assert_array_equal(res.x[:, mask], x0[:, mask])
    assert res.x.min() >= -1.0 and res.x.max() <= 1.0
    # a truncated standard normal on [-1, 1]: variance 1 - 2 phi(1) / (2 Phi(1) - 1) = 0.2911
    free = res.x[:, ~mask]
    assert free.var() == pytest.approx(0.2911, abs=0.02)
    assert res.acceptance > 0.3


def test_bad_settings():
    for kwargs in ({"step_size": -1.0}, {"n_steps": 1.5}, {"clip_grad": -1.0}, {"bounds": (0.0, 0.0)}):
        with pytest.raises(ConfigError):
            MALASampler(**kwargs)
