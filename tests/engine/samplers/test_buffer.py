"""ReplayBuffer: re-initialisation rate, inits, uint8 storage, per-class blocks, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ConfigError
from engine.samplers import ReplayBuffer


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


def filled(buf: ReplayBuffer, value: float) -> ReplayBuffer:
    buf.push(np.full((buf.capacity, *buf.input_shape), value, np.float32), np.arange(buf.capacity))
    return buf


def test_reinit_fraction_matches_reinit_prob():
    p = 0.05
    buf = filled(ReplayBuffer(500, (3,), reinit_prob=p, xp=np), 0.125)
    r = rng(1)
    n_draws, batch, hits = 200, 100, 0
    for _ in range(n_draws):
        x, idx = buf.sample(batch, r)
        reinit = buf.last_reinit
        hits += int(reinit.sum())
        assert (x[~reinit] == np.float32(0.125)).all()  # kept chains come back as stored
        assert (x[reinit] != np.float32(0.125)).all()  # fresh ones are uniform noise
        assert x.min() >= -1.0 and x.max() <= 1.0
        assert idx.dtype == np.int64 and idx.min() >= 0 and idx.max() < 500
    n = n_draws * batch
    assert abs(hits / n - p) < 4.0 * np.sqrt(p * (1 - p) / n)


def test_unwritten_slots_start_fresh_and_push_writes_back():
    buf = ReplayBuffer(64, (2, 2), reinit_prob=0.0, xp=np)
    x, idx = buf.sample(16, rng(0))
    assert buf.last_reinit.all() and x.shape == (16, 2, 2) and x.dtype == np.float32
    buf.push(x + 0.5, idx)
    x2, idx2 = buf.sample(200, rng(1))
    written = np.isin(idx2, idx)
    assert not buf.last_reinit[written].any() and buf.last_reinit[~written].all()
    lookup = {int(i): v for i, v in zip(idx, x + 0.5)}  # the last write of a repeated slot wins
    for i, v in zip(idx2[written], x2[written]):
        np.testing.assert_array_equal(v, lookup[int(i)])
    with pytest.raises(ConfigError):
        buf.push(x[:3], idx)


def test_gaussian_and_data_inits():
    g = ReplayBuffer(10, (4000,), reinit_prob=1.0, init="gaussian", init_std=0.3,
                     value_range=(0.0, 4.0), xp=np)
    x, _ = g.sample(2, rng(2))
    assert x.min() >= 0.0 and x.max() <= 4.0
    assert x.mean() == pytest.approx(2.0, abs=0.02) and x.std() == pytest.approx(0.3, rel=0.05)
    data = rng(3).uniform(-0.9, 0.9, (30, 5)).astype(np.float32)
    d = ReplayBuffer(100, (5,), reinit_prob=1.0, init="data", data_noise=0.0, xp=np)
    x, _ = d.sample(50, rng(4), data=data)
    assert all(any(np.array_equal(row, ex) for ex in data) for row in x)
    noisy = ReplayBuffer(100, (5,), reinit_prob=1.0, init="data", data_noise=0.01, xp=np)
    x, _ = noisy.sample(50, rng(4), data=data)
    nearest = np.abs(x[:, None, :] - data[None]).max(axis=2).min(axis=1)
    assert (nearest > 0).all() and (nearest < 0.06).all()
    with pytest.raises(ConfigError):
        d.sample(4, rng(0))  # init "data" without data


def test_uint8_round_trip_within_half_a_level():
    lo, hi = -1.0, 1.0
    buf = ReplayBuffer(1000, (3, 4, 4), storage="uint8", value_range=(lo, hi), reinit_prob=0.0, xp=np)
    ref = ReplayBuffer(1000, (3, 4, 4), xp=np)
    assert buf.nbytes * 4 == ref.nbytes
    x = rng(5).uniform(lo, hi, (1000, 3, 4, 4)).astype(np.float32)
    x[0, 0, 0, :3] = [lo, hi, 0.0]
    buf.push(x, np.arange(1000))
    back, idx = buf.sample(1000, rng(6))
    half_level = (hi - lo) / 255 / 2
    err = np.abs(back - x[idx])
    assert err.max() <= half_level + 4 * np.finfo(np.float32).eps  # + float32 rounding of the arithmetic
    assert err.max() > 0.9 * half_level  # the bound is tight
    np.testing.assert_array_equal(buf.samples()[0, 0, 0, :2], [lo, hi])  # the ends are exact
    buf.push(np.full((2, 3, 4, 4), 5.0, np.float32), np.array([0, 1]))  # out of range: clipped
    assert (buf.samples()[:2] == np.float32(hi)).all()


def test_per_class_buffers_return_the_requested_class():
    k, per = 4, 25
    buf = ReplayBuffer(k * per, (2,), reinit_prob=0.0, n_classes=k, xp=np)
    for c in range(k):
        buf.push(np.full((per, 2), c / 10, np.float32), np.arange(c * per, (c + 1) * per))
    y = rng(7).integers(0, k, 300)
    x, idx = buf.sample(300, rng(8), y=y)
    np.testing.assert_array_equal(buf.class_of(idx), y)
    np.testing.assert_array_equal(x[:, 0], (y / 10).astype(np.float32))
    # unconditional draws cover all classes
    _, idx = buf.sample(300, rng(9))
    assert set(buf.class_of(idx).tolist()) == set(range(k))
    # re-initialisation from data of the same class
    data = np.repeat(np.arange(k, dtype=np.float32)[:, None] / 10, 2, axis=1)
    data = np.concatenate([data] * 3)
    labels = np.tile(np.arange(k), 3)
    fresh = ReplayBuffer(k * per, (2,), reinit_prob=1.0, n_classes=k, init="data", data_noise=0.0, xp=np)
    x, idx = fresh.sample(300, rng(10), data=data, y=y, data_labels=labels)
    np.testing.assert_array_equal(x[:, 0], (y / 10).astype(np.float32))
    with pytest.raises(ConfigError):
        buf.sample(3, rng(0), y=np.array([0, 1, k]))
    with pytest.raises(ConfigError):
        ReplayBuffer(10, (2,), reinit_prob=0.0, xp=np).sample(3, rng(0), y=np.array([0, 1, 1]))
    with pytest.raises(ConfigError):
        ReplayBuffer(10, (2,), n_classes=3, xp=np)


@pytest.mark.parametrize("storage", ["float32", "uint8"])
def test_state_dict_round_trip(storage):
    a = ReplayBuffer(40, (2, 3), storage=storage, n_classes=2, xp=np)
    x, idx = a.sample(25, rng(11))
    a.push(x * 0.5, idx)
    state = a.state_dict()
    assert state["samples"].dtype == (np.uint8 if storage == "uint8" else np.float32)
    b = ReplayBuffer(40, (2, 3), storage=storage, n_classes=2, xp=np)
    b.load_state_dict(state)
    np.testing.assert_array_equal(b.samples(), a.samples())
    xa, ia = a.sample(30, rng(12))
    xb, ib = b.sample(30, rng(12))
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_array_equal(a.last_reinit, b.last_reinit)
    state["samples"][:] = 0  # the buffer holds its own copy
    assert a.samples().any()
    with pytest.raises(ConfigError):
        ReplayBuffer(40, (3, 2), storage=storage, n_classes=2, xp=np).load_state_dict(a.state_dict())
    with pytest.raises(ConfigError):
        ReplayBuffer(40, (2, 3), storage=storage, xp=np).load_state_dict(a.state_dict())


def test_bad_settings():
    for kwargs in ({"capacity": 0}, {"reinit_prob": 1.5}, {"init": "zeros"}, {"storage": "float16"},
                   {"value_range": (1.0, 1.0)}, {"input_shape": (0,)}):
        args = {"capacity": 10, "input_shape": (2,), **kwargs}
        with pytest.raises(ConfigError):
            ReplayBuffer(xp=np, **args)
