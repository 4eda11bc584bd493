"""The samplers on real EnergyNets (MLP and conv): states, energies and gradients stay coherent."""

from __future__ import annotations

import numpy as np
import pytest

from engine.models import EnergyNet
from engine.models.presets import convnet_small, mlp_2d
from engine.samplers import HMCSampler, LangevinSampler, MALASampler, Record, ReplayBuffer, mala_step


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


@pytest.fixture(scope="module")
def mlp() -> EnergyNet:
    return EnergyNet(mlp_2d(width=16, depth=2), seed=0, xp=np)


def test_mala_step_keeps_energy_and_gradient_of_the_current_state(mlp):
    """The network may reuse its buffers between calls: the sampler's copies must not alias them."""
    x = rng(1).uniform(-1, 1, (64, 2)).astype(np.float32)
    e, g = mlp.energy_and_grad(x)
    e, g = e.astype(np.float64), g.copy()
    r = rng(2)
    for _ in range(5):
        out = mala_step(mlp, x, e, g, 0.05, r)
        e_ref, g_ref = mlp.energy_and_grad(out.x.copy())
        np.testing.assert_allclose(out.e, e_ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out.g, g_ref, rtol=1e-5, atol=1e-7)


def test_all_samplers_run_deterministically_on_a_network(mlp):
    x0 = rng(3).uniform(-1, 1, (32, 2)).astype(np.float32)
    samplers = [LangevinSampler(step_size=0.01, noise=0.005, clip_grad=0.03, clamp=(-1.0, 1.0)),
                MALASampler(step_size=0.01), HMCSampler(step_size=0.05, n_leapfrog=4)]
    for s in samplers:
        a = s.run(mlp, x0, rng(4), n_steps=6, record=Record())
        b = s.run(mlp, x0, rng(4), n_steps=6, record=Record())
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.chain_states, b.chain_states)
        assert a.x.dtype == np.float32 and a.chain_states.dtype == np.float32
        np.testing.assert_allclose(a.chain_energies[-1], mlp.energy(a.x[:3]), rtol=1e-5, atol=1e-6)


def test_persistent_chains_on_a_conv_energy_with_inpainting():
    net = EnergyNet(convnet_small(), seed=0, xp=np)
    buf = ReplayBuffer(40, (1, 28, 28), storage="uint8", reinit_prob=0.05, xp=np)
    sampler = LangevinSampler(step_size=1.0, noise=0.005, clip_grad=0.03, clamp=(-1.0, 1.0))
    mask = np.zeros((1, 28, 28), bool)
    mask[:, :14] = True  # top half given
    given = np.full((1, 28, 28), 0.5, np.float32)
    r = rng(5)
    for _ in range(2):
        x, idx = buf.sample(8, r)
        res = sampler.run(net, x, r, n_steps=3, record=Record(chain_ids=(0,), every=3),
                          fixed_mask=mask, fixed_values=given)
        assert (res.x[:, :, :14] == np.float32(0.5)).all()
        buf.push(res.x, idx)
    assert res.chain_states.shape == (2, 1, 1, 28, 28)
