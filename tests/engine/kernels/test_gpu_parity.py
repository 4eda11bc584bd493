"""Every CUDA kernel against its NumPy twin on a real GPU (float32 tolerance); skipped without one.

Run on a GPU machine with ``bash tools/gpu_check.sh`` (or ``pytest -m gpu``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from engine import backend, kernels
from engine.kernels import buffer as k_buf
from engine.kernels.random import stream_of
from engine.models import EnergyNet
from engine.models.presets import mlp_2d, mnist_cnn, short_run_convnet
from engine.ops import activations as act
from engine.ops import conv
from engine.ops._geometry import conv_output_size
from engine.samplers import LangevinSampler, MALASampler, ReplayBuffer
from engine.samplers.langevin import langevin_update_
from engine.samplers.mala import mala_log_accept
from tests.engine.samplers.targets import Gaussian

from .emulate import philox_normal
from .test_emulated import GEOMETRIES

pytestmark = pytest.mark.gpu

TOL = dict(rtol=1e-6, atol=1e-6)  # one float32 rounding, or one ulp of a CUDA math function


@pytest.fixture(scope="module")
def cp() -> Iterator[Any]:
    previous = backend.info().name
    info = backend.set_backend("cupy")
    assert info.name == "cupy", info.reason
    assert kernels.status() == "on", kernels.status()
    yield backend.xp()
    backend.set_backend(previous)


def _host(a: Any) -> np.ndarray:
    return backend.to_numpy(a)


@pytest.mark.parametrize("case", GEOMETRIES)
def test_im2col_and_col2im(cp, case):
    k, s, p = case["k"], case["s"], case["p"]
    oh, ow = conv_output_size(case["H"], k, s, p), conv_output_size(case["W"], k, s, p)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((case["C"], case["H"], case["W"], case["N"])).astype(np.float32)
    col = rng.standard_normal((case["C"], k, k, oh, ow, case["N"])).astype(np.float32)
    np.testing.assert_allclose(_host(conv.im2col(cp.asarray(x), k, k, s, p, oh, ow)),
                               conv.im2col(x, k, k, s, p, oh, ow), **TOL)
    np.testing.assert_allclose(_host(conv.col2im(cp.asarray(col), case["H"], case["W"], s, p)),
                               conv.col2im(col, case["H"], case["W"], s, p), **TOL)


def test_activations(cp):
    x = (np.random.default_rng(1).standard_normal((64, 33)) * 5).astype(np.float32)
    gy = np.random.default_rng(2).standard_normal(x.shape).astype(np.float32)
    y, saved = act.swish_forward(cp.asarray(x))
    y_ref, saved_ref = act.swish_forward(x)
    np.testing.assert_allclose(_host(y), y_ref, **TOL)
    np.testing.assert_allclose(_host(act.swish_backward(cp.asarray(gy), saved)),
                               act.swish_backward(gy, saved_ref), **TOL)
    for slope in (0.0, 0.2):
        y, scale = act.leaky_relu_forward(cp.asarray(x), slope)
        y_ref, scale_ref = act.leaky_relu_forward(x, slope)
        np.testing.assert_array_equal(_host(scale), scale_ref)
        np.testing.assert_allclose(_host(y), y_ref, **TOL)


def test_langevin_update(cp):
    rng = np.random.default_rng(3)
    shape = (32, 3, 8, 8)
    x = rng.uniform(-1.1, 1.1, shape).astype(np.float32)
    g = (rng.standard_normal(shape) * 0.05).astype(np.float32)
    mask = rng.random(shape) < 0.2
    values = rng.uniform(-1, 1, shape).astype(np.float32)
    # no noise: the twin's arithmetic exactly
    expect = langevin_update_(x.copy(), g.copy(), 10.0, 0.0, None, 0.03, (-1.0, 1.0), mask, values)
    got = langevin_update_(cp.asarray(x), cp.asarray(g), 10.0, 0.0, None, 0.03, (-1.0, 1.0),
                           cp.asarray(mask), cp.asarray(values))
    np.testing.assert_allclose(_host(got), expect, **TOL)
    # with noise: the Philox normals of the generator's stream
    gen = backend.make_rng(4)
    xd = cp.asarray(x)
    for call in range(2):
        before = _host(xd)
        langevin_update_(xd, cp.asarray(g), 0.5, 0.01, gen, 0.03, (-1.0, 1.0))
        key = _host(stream_of(gen).key)
        z = philox_normal(np.arange(x.size), call, int(key[0]), int(key[1])).reshape(shape)
        expect = np.clip(before + np.clip(g, -0.03, 0.03) * np.float32(-0.5) + z * np.float32(0.01), -1.0, 1.0)
        np.testing.assert_allclose(_host(xd), expect, atol=1e-6)


def test_langevin_noise_moments_on_the_device(cp):
    energy = Gaussian([1.0, -2.0], [0.5, 1.0])
    x0 = backend.make_rng(0).standard_normal((20000, 2), dtype=cp.float32)
    x = LangevinSampler(step_size=0.005, n_steps=1500).run(energy, x0, backend.make_rng(1)).x
    x = _host(x).astype(np.float64)
    np.testing.assert_allclose(x.mean(axis=0), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(x.std(axis=0), [0.5, 1.0], rtol=0.05)


def test_mala_log_accept(cp):
    rng = np.random.default_rng(5)
    n, shape = 40, (3, 16, 16)
    g_old, g_new, xi = (rng.standard_normal((n, *shape)).astype(np.float32) for _ in range(3))
    e_old, e_new = rng.standard_normal(n), rng.standard_normal(n).astype(np.float32)
    got = mala_log_accept(*(cp.asarray(a) for a in (e_old, e_new, g_old, g_new, xi)), 0.01)
    np.testing.assert_allclose(_host(got), mala_log_accept(e_old, e_new, g_old, g_new, xi, 0.01),
                               rtol=1e-10, atol=1e-10)
    res = MALASampler(step_size=0.1, n_steps=50).run(Gaussian([0.0], [1.0]),
                                                     cp.zeros((500, 1), dtype=cp.float32), backend.make_rng(6))
    assert 0.7 < res.acceptance < 1.0


@pytest.mark.parametrize("storage", ["float32", "uint8"])
def test_buffer_gather_and_scatter(cp, storage):
    rng = np.random.default_rng(7)
    cap, shape, batch = 50, (3, 4, 4), 40
    ref = ReplayBuffer(cap, shape, storage=storage, xp=np)
    dev = ReplayBuffer(cap, shape, storage=storage, xp=cp)
    x = rng.uniform(-1.2, 1.2, (batch, *shape)).astype(np.float32)
    idx = rng.integers(0, cap, batch)  # with duplicates: the last row wins in both
    ref.push(x, idx)
    dev.push(cp.asarray(x), cp.asarray(idx))
    np.testing.assert_array_equal(_host(dev._store), ref._store)
    np.testing.assert_array_equal(_host(dev._valid), ref._valid)
    reinit = rng.random(batch) < 0.3
    fresh = rng.uniform(-1, 1, (batch, *shape)).astype(np.float32)
    got = k_buf.gather(dev._store, cp.asarray(idx), cp.asarray(reinit), cp.asarray(fresh), storage,
                       dev.value_range, 255)
    expect = ref.dequantize(ref._store[idx])
    np.copyto(expect, fresh, where=reinit[:, None, None, None])
    np.testing.assert_allclose(_host(got), expect, **TOL)


@pytest.mark.parametrize("preset, n", [(mlp_2d, 256), (mnist_cnn, 16), (short_run_convnet, 4)])
def test_networks_match_numpy(cp, preset, n):
    cfg = preset()
    net_np, net_gpu = EnergyNet(cfg, seed=0, xp=np), EnergyNet(cfg, seed=0, xp=cp)
    x = np.random.default_rng(8).uniform(-1, 1, (n, *net_np.input_shape)).astype(np.float32)
    e_ref, g_ref = net_np.energy_and_grad(x)
    e, g = net_gpu.energy_and_grad(cp.asarray(x))
    np.testing.assert_allclose(_host(e), e_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(_host(g), g_ref, rtol=1e-3, atol=1e-5 * float(np.abs(g_ref).max()))
    # the training pass: parameter gradients (conv backward-weights) too
    for net, xin in ((net_np, x), (net_gpu, cp.asarray(x))):
        e = net.forward(xin, param_grads=True)
        net.backward(net.xp.ones_like(e), param_grads=True, input_grad=False)
    for got, ref in zip(net_gpu.gradients(), net_np.gradients()):
        np.testing.assert_allclose(_host(got), ref, rtol=1e-3, atol=1e-5 * float(np.abs(ref).max()))


def test_the_memory_pool_stays_flat_in_a_warm_langevin_loop(cp):
    net = EnergyNet(mnist_cnn(), seed=0, xp=cp)
    gen = backend.make_rng(9)
    x = gen.uniform(-1.0, 1.0, (64, 1, 28, 28)).astype(cp.float32)
    pool = cp.get_default_memory_pool()

    def step() -> None:
        _, grad = net.energy_and_grad(x)
        langevin_update_(x, grad, 10.0, 0.005, gen, 0.03, (-1.0, 1.0))

    for _ in range(3):
        step()
    cp.cuda.get_current_stream().synchronize()
    total, used = pool.total_bytes(), pool.used_bytes()
    for _ in range(20):
        step()
    cp.cuda.get_current_stream().synchronize()
    assert pool.total_bytes() == total, "the pool grew in a warm loop"
    assert pool.used_bytes() == used, "live device memory grew in a warm loop"


def test_out_of_memory_is_recognised(cp):
    with pytest.raises(Exception) as info:
        cp.empty(1 << 50, dtype=cp.uint8)  # a petabyte
    assert backend.is_out_of_memory(info.value), repr(info.value)


def test_a_training_run_keeps_data_and_buffer_on_the_device(cp):
    from engine.training.trainer import Trainer  # noqa: PLC0415 - only this test trains
    from tests.engine.training.helpers import digits_config  # noqa: PLC0415

    config = digits_config(train={"backend": "cupy", "iterations": 3}, buffer={"capacity": 64, "storage": "uint8"})
    trainer = Trainer(config)
    assert trainer.backend_info.name == "cupy" and kernels.status() == "on"
    reports = list(trainer.run(3))
    assert len(reports) == 3 and all(np.isfinite(r.loss) for r in reports)
    assert isinstance(trainer.train_x, cp.ndarray) and isinstance(trainer.buffer._store, cp.ndarray)
    assert int(trainer.buffer._valid.sum()) > 0
