"""The samplers and the replay buffer on CuPy: everything stays on the device (skipped without a GPU)."""

from __future__ import annotations

import numpy as np
import pytest

from engine import backend
from engine.samplers import HMCSampler, LangevinSampler, MALASampler, Record, ReplayBuffer

from .targets import Gaussian, assert_moments

pytestmark = pytest.mark.gpu

MEAN, STD = np.array([1.0, -2.0]), np.array([0.5, 1.0])


@pytest.fixture()
def cp():
    previous = backend.info().name
    info = backend.set_backend("cupy")
    assert info.name == "cupy", info
    yield backend.xp()
    backend.set_backend(previous)


def test_samplers_on_the_device(cp):
    energy = Gaussian(MEAN, STD)
    x0 = backend.make_rng(0).standard_normal((8000, 2), dtype=cp.float32)
    mask = cp.zeros((8000, 2), dtype=bool)
    mask[:10, 0] = True
    for sampler in (MALASampler(step_size=0.1, n_steps=300),
                    HMCSampler(step_size=0.15, n_leapfrog=8, n_steps=60)):
        res = sampler.run(energy, x0, backend.make_rng(1), record=Record(every=50), fixed_mask=mask)
        assert isinstance(res.x, cp.ndarray) and res.x.dtype == cp.float32
        assert isinstance(res.chain_states, np.ndarray)
        assert bool((res.x[:10, 0] == x0[:10, 0]).all())
        assert_moments(cp.asnumpy(res.x[10:]), MEAN, STD)
        assert 0.5 < res.acceptance < 1.0
    res = LangevinSampler(step_size=0.005, n_steps=2000).run(energy, x0, backend.make_rng(2))
    assert_moments(cp.asnumpy(res.x), MEAN, STD, n_se=6.0)


@pytest.mark.parametrize("storage", ["float32", "uint8"])
def test_buffer_on_the_device(cp, storage):
    buf = ReplayBuffer(400, (3, 8, 8), storage=storage, n_classes=4, init="data", reinit_prob=0.1)
    r = backend.make_rng(3)
    data = cp.asarray(np.random.default_rng(0).uniform(-1, 1, (50, 3, 8, 8)), dtype=cp.float32)
    labels = cp.arange(50) % 4
    y = cp.arange(64) % 4
    x, idx = buf.sample(64, r, data=data, y=y, data_labels=labels)
    assert isinstance(x, cp.ndarray) and isinstance(idx, cp.ndarray)
    assert bool((buf.class_of(idx) == y).all())
    buf.push(x, idx)
    for _ in range(20):
        x, idx = buf.sample(64, r, data=data)
        buf.push(x * 0.5, idx)
        assert isinstance(buf.last_reinit, cp.ndarray)
    x, idx = buf.sample(8, r, data=cp.asnumpy(data))  # host data: only the batch moves
    assert isinstance(x, cp.ndarray) and x.shape == (8, 3, 8, 8)
    state = buf.state_dict()
    assert isinstance(state["samples"], np.ndarray)
    other = ReplayBuffer(400, (3, 8, 8), storage=storage, n_classes=4, init="data")
    other.load_state_dict(state)
    np.testing.assert_array_equal(cp.asnumpy(other.samples()), cp.asnumpy(buf.samples()))
