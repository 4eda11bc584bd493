"""Langevin sampler: conventions, schedule, target moments, clipping, fixed entries, records."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.errors import ConfigError
from engine.ops.random import standard_normal
from engine.samplers import LangevinSampler, Record, langevin_update_

from .targets import Gaussian, assert_moments

MEAN, STD = np.array([1.0, -2.0]), np.array([0.5, 1.0])


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


def test_conventions_textbook_and_practical():
    s = LangevinSampler(step_size=0.02)
    assert s.noise_at(0.02) == pytest.approx(math.sqrt(0.04))  # noise None: sqrt(2 step)
    t = LangevinSampler.textbook(0.02)  # x' = x - (a/2) g + N(0, a)
    assert t.step_size == pytest.approx(0.01) and t.noise == pytest.approx(math.sqrt(0.02))
    assert LangevinSampler(step_size=10.0, noise=0.005).noise_at(10.0) == 0.005


def test_one_step_is_the_textbook_update():
    """x' = x - s dE/dx + sqrt(2 s) xi, with xi the run's own normal draw."""
    energy = Gaussian(MEAN, STD)
    x0 = rng(1).standard_normal((5, 2)).astype(np.float32)
    out = LangevinSampler(step_size=0.03).run(energy, x0, rng(7), n_steps=1).x
    xi = standard_normal(rng(7), (5, 2), np.float32)
    _, g = energy.energy_and_grad(x0)
    expect = x0 - 0.03 * g + math.sqrt(0.06) * xi
    np.testing.assert_allclose(out, expect, rtol=1e-6, atol=1e-6)
    assert out.dtype == np.float32
    # the kept in-place update gives the same numbers
    x = x0.copy()
    langevin_update_(x, energy.energy_and_grad(x)[1], 0.03, math.sqrt(0.06), rng(7))
    np.testing.assert_array_equal(x, out)


def test_small_step_matches_gaussian_target():
    energy = Gaussian(MEAN, STD)
    n = 10000
    x0 = rng(2).standard_normal((n, 2)).astype(np.float32)
    res = LangevinSampler(step_size=0.005, n_steps=2000).run(energy, x0, rng(3))
    # ULA's stationary variance for this target is s^2 / (1 - h / (2 s^2)): +1% / +0.25%
    h = 0.005
    biased_std = STD / np.sqrt(1.0 - h / (2 * STD**2))
    assert_moments(res.x, MEAN, biased_std)
    assert_moments(res.x, MEAN, STD, n_se=6.0)  # and the target itself, up to that bias
    assert res.acceptance is None


def test_explicit_noise_zero_is_gradient_descent():
    energy = Gaussian(MEAN, STD)
    x0 = rng(4).standard_normal((8, 2)).astype(np.float32)
    x = LangevinSampler(step_size=0.1, noise=0.0, n_steps=500).run(energy, x0, rng(0)).x
    np.testing.assert_allclose(x, np.broadcast_to(MEAN, x.shape), atol=1e-4)


def test_schedules():
    lin = LangevinSampler(step_size=0.1, schedule="linear", final_step_size=0.01).step_sizes(10)
    geo = LangevinSampler(step_size=0.1, schedule="geometric", final_step_size=0.001).step_sizes(5)
    assert lin[0] == pytest.approx(0.1) and lin[-1] == pytest.approx(0.01)
    np.testing.assert_allclose(np.diff(lin), -0.01)
    np.testing.assert_allclose(geo, [0.1, 0.1 * 0.1**0.5, 0.01, 0.01 * 0.1**0.5, 0.001])
    np.testing.assert_array_equal(LangevinSampler(step_size=0.1).step_sizes(3), [0.1] * 3)
    # noise None follows the schedule: the last step of a decaying chain is the smallest
    energy = Gaussian(0.0, 1.0, (1,))
    s = LangevinSampler(step_size=0.5, schedule="geometric", final_step_size=1e-8)
    x0 = np.zeros((1000, 1), np.float32)
    a = s.run(energy, x0, rng(5), n_steps=2).x  # 2nd step: size 1e-8, noise 1.4e-4
    b = s.run(energy, x0, rng(5), n_steps=1).x  # same first step (same draws)
    assert np.abs(a - b * (1 - 1e-8)).max() < 1e-3


def test_clip_and_clamp():
    energy = Gaussian(MEAN, np.array([0.01, 0.01]))  # huge gradients
    x0 = np.zeros((50, 2), np.float32)
    x = LangevinSampler(step_size=0.1, noise=0.0, clip_grad=0.5).run(energy, x0, rng(0), n_steps=1).x
    np.testing.assert_allclose(np.abs(x), 0.05, rtol=1e-6)  # every move is step * c
    res = LangevinSampler(step_size=0.05, clamp=(-1.0, 1.0)).run(energy, x0, rng(0), n_steps=50)
    assert res.x.min() >= -1.0 and res.x.max() <= 1.0
    assert np.isclose(res.x[:, 1], -1.0).all()  # the mean -2 lies outside: pinned to the bound


def test_fixed_mask_entries_never_move():
    energy = Gaussian(np.zeros((1, 4, 4)), np.ones((1, 4, 4)))
    x0 = rng(6).uniform(-1, 1, (6, 1, 4, 4)).astype(np.float32)
    mask = np.zeros((6, 1, 4, 4), bool)
    mask[:, :, :2, :] = True  # top half known (inpainting)
    res = LangevinSampler(step_size=0.05, n_steps=20).run(energy, x0, rng(0), fixed_mask=mask)
    np.testing.assert_array_equal(res.x[mask], x0[mask])
    assert (res.x[~mask] != x0[~mask]).all()
    # fixed values replace x0 there; a mask of one sample broadcasts over the batch
    vals = np.full((1, 4, 4), 0.25, np.float32)
    res = LangevinSampler(step_size=0.05, clamp=(-0.1, 0.1)).run(
        energy, x0, rng(0), n_steps=5, fixed_mask=mask[0], fixed_values=vals)
    assert (res.x[mask] == np.float32(0.25)).all()  # held even outside the clamp range
    with pytest.raises(ConfigError):
        LangevinSampler().run(energy, x0, rng(0), n_steps=1, fixed_mask=mask[:, :, :2])
    with pytest.raises(ConfigError):
        LangevinSampler().run(energy, x0, rng(0), n_steps=1, fixed_mask=mask.astype(np.float32))


def test_record_shapes_and_contents():
    energy = Gaussian(MEAN, STD)
    x0 = rng(8).standard_normal((10, 2)).astype(np.float32)
    x0_copy = x0.copy()
    res = LangevinSampler(step_size=0.01, n_steps=10).run(
        energy, x0, rng(0), record=Record(chain_ids=(0, 3, 99), every=4))
    np.testing.assert_array_equal(x0, x0_copy)  # x0 untouched
    np.testing.assert_array_equal(res.recorded_steps, [0, 4, 8, 10])
    assert res.chain_ids == (0, 3)  # 99 >= batch: dropped
    assert res.energies_per_step.shape == (4,)
    assert res.chain_energies.shape == (4, 2)
    assert res.chain_states.shape == (4, 2, 2)
    np.testing.assert_array_equal(res.chain_states[0], x0[[0, 3]])
    np.testing.assert_array_equal(res.chain_states[-1], res.x[[0, 3]])
    for k in range(4):
        np.testing.assert_allclose(res.chain_energies[k], energy.energy(res.chain_states[k]), rtol=1e-5)
    assert res.energies_per_step[0] == pytest.approx(float(energy.energy(x0).mean()), rel=1e-5)
    assert res.energies_per_step[-1] == pytest.approx(float(energy.energy(res.x).mean()), rel=1e-5)
    bare = LangevinSampler(n_steps=3).run(energy, x0, rng(0))
    assert bare.energies_per_step is None and bare.chain_states is None and bare.recorded_steps is None
    only_e = LangevinSampler(n_steps=3).run(energy, x0, rng(0), record=Record(chain_ids=()))
    assert only_e.energies_per_step.shape == (4,) and only_e.chain_states is None
    only_x = LangevinSampler(n_steps=3).run(energy, x0, rng(0), record=Record(energies=False))
    assert only_x.energies_per_step is None and only_x.chain_states.shape == (4, 3, 2)


def test_bad_settings_raise_config_error():
    for kwargs in ({"step_size": 0.0}, {"noise": -1.0}, {"clip_grad": 0.0}, {"clamp": (1.0, -1.0)},
                   {"n_steps": -1}, {"schedule": "cosine"}, {"schedule": "linear"}):
        with pytest.raises(ConfigError):
            LangevinSampler(**kwargs)
    with pytest.raises(ConfigError):
        Record(every=0)
    with pytest.raises(ConfigError):  # states of the wrong shape for the energy
        LangevinSampler().run(Gaussian(MEAN, STD), np.zeros((4, 3), np.float32), rng(0))
