"""The kernels' wrappers and index math on the CPU: fake CuPy + NumPy emulations vs the NumPy twins.

Every launch is checked against the kernel's C signature (fake_cupy.py); the
emulations follow the CUDA line by line (emulate.py). Where the kernel does
only float32 adds and multiplies in the twin's order, the results must be
equal bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine import kernels
from engine.kernels import activations as k_act
from engine.kernels import buffer as k_buf
from engine.kernels import conv as k_conv
from engine.kernels import langevin as k_lang
from engine.kernels import mala as k_mala
from engine.kernels.random import stream_of
from engine.models import EnergyNet
from engine.models.presets import mnist_cnn, short_run_convnet
from engine.ops import activations as act
from engine.ops import conv
from engine.ops._geometry import conv_output_size
from engine.samplers import LangevinSampler, MALASampler, ReplayBuffer
from engine.samplers.langevin import langevin_update_
from engine.samplers.mala import mala_log_accept
from tests.engine.samplers.targets import Gaussian
from tests.engine.test_ops_conv import CONV_CASES

from .emulate import philox_normal
from .fake_cupy import DeviceArray, FakeRng

W_LAYERS = [  # the benchmark networks' conv layers (C, H, O, k, s, p), batch 3
    dict(N=3, C=1, H=28, W=28, O=16, k=5, s=2, p=4, bias=True),
    dict(N=3, C=16, H=16, W=16, O=32, k=3, s=2, p=1, bias=True),
    dict(N=3, C=3, H=32, W=32, O=8, k=3, s=1, p=1, bias=True),
    dict(N=3, C=8, H=32, W=32, O=8, k=4, s=2, p=1, bias=True),
    dict(N=3, C=8, H=4, W=4, O=1, k=4, s=1, p=0, bias=True),
]
GEOMETRIES = CONV_CASES + W_LAYERS


def _dev(a: np.ndarray) -> DeviceArray:
    """A copy of a on the fake device."""
    return np.array(a, order="C", copy=True).view(DeviceArray)


def _host(a: np.ndarray) -> np.ndarray:
    return np.asarray(a).view(np.ndarray)


def _geometry(case: dict) -> tuple[int, int, int, int, int]:
    k, s, p = case["k"], case["s"], case["p"]
    return k, s, p, conv_output_size(case["H"], k, s, p), conv_output_size(case["W"], k, s, p)


# ---------------------------------------------------------------- conv


@pytest.mark.parametrize("case", GEOMETRIES)
def test_im2col_kernel_equals_twin(fake_gpu, case):
    k, s, p, oh, ow = _geometry(case)
    x = np.random.default_rng(0).standard_normal((case["C"], case["H"], case["W"], case["N"])).astype(np.float32)
    expect = conv.im2col(x, k, k, s, p, oh, ow)  # NumPy array: the twin
    got = conv.im2col(_dev(x), k, k, s, p, oh, ow)  # device array: the kernel
    assert isinstance(got, DeviceArray) and fake_gpu.launches["im2col"] == 1
    np.testing.assert_array_equal(_host(got), expect)
    # a reused buffer (the Langevin loop's) gets every entry rewritten, padding zeros included
    buf = _dev(np.full(expect.shape, 7.0, dtype=np.float32))
    np.testing.assert_array_equal(_host(conv.im2col(_dev(x), k, k, s, p, oh, ow, out=buf)), expect)


@pytest.mark.parametrize("case", GEOMETRIES)
def test_col2im_kernel_equals_twin_bit_for_bit(fake_gpu, case):
    k, s, p, oh, ow = _geometry(case)
    col = np.random.default_rng(1).standard_normal((case["C"], k, k, oh, ow, case["N"])).astype(np.float32)
    expect = conv.col2im(col, case["H"], case["W"], s, p)
    got = conv.col2im(_dev(col), case["H"], case["W"], s, p)
    assert isinstance(got, DeviceArray) and fake_gpu.launches["col2im"] == 1
    np.testing.assert_array_equal(_host(got), expect)


@pytest.mark.parametrize("case", GEOMETRIES[::2])
def test_conv_forward_and_input_gradient_on_the_fake_device(fake_gpu, case):
    k, s, p, oh, ow = _geometry(case)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((case["C"], case["H"], case["W"], case["N"])).astype(np.float32)
    w = (rng.standard_normal((case["O"], case["C"], k, k)) / k).astype(np.float32)
    b = rng.standard_normal(case["O"]).astype(np.float32)
    gy = rng.standard_normal((case["O"], oh, ow, case["N"])).astype(np.float32)
    y, _ = conv.conv2d_forward(_dev(x), _dev(w), _dev(b), s, p)
    y_ref, _ = conv.conv2d_forward(x, w, b, s, p)
    np.testing.assert_allclose(_host(y), y_ref, rtol=1e-5, atol=1e-5)
    gx = conv.conv2d_backward_input(_dev(gy), _dev(w), x.shape, s, p)
    gx_ref = conv.conv2d_backward_input(gy, w, x.shape, s, p)
    np.testing.assert_allclose(_host(gx), gx_ref, rtol=1e-5, atol=1e-5)
    assert fake_gpu.launches["im2col"] == 1 and fake_gpu.launches["col2im"] == 1


# ---------------------------------------------------------------- activations


def test_swish_kernels_equal_twin(fake_gpu):
    x = np.random.default_rng(3).standard_normal((5, 7, 3)).astype(np.float32) * 6
    gy = np.random.default_rng(4).standard_normal(x.shape).astype(np.float32)
    y_ref, saved_ref = act.swish_forward(x)
    y, saved = act.swish_forward(_dev(x))
    np.testing.assert_array_equal(_host(y), y_ref)
    np.testing.assert_array_equal(_host(saved[1]), saved_ref[1])
    np.testing.assert_array_equal(_host(act.swish_backward(_dev(gy), saved)), act.swish_backward(gy, saved_ref))
    assert fake_gpu.launches["swish_forward"] == 1 and fake_gpu.launches["swish_backward"] == 1


def test_swish_kernel_takes_a_strided_view(fake_gpu):
    x = np.random.default_rng(5).standard_normal((4, 6)).astype(np.float32)
    view = _dev(x).T  # not C-contiguous: the wrapper copies before the launch
    y, _ = act.swish_forward(view)
    np.testing.assert_array_equal(_host(y), act.swish_forward(np.ascontiguousarray(x.T))[0])


@pytest.mark.parametrize("slope", [0.0, 0.2, 0.01, 1.0 / 3.0, 1.7])
def test_leaky_relu_kernel_equals_twin(fake_gpu, slope):
    x = np.random.default_rng(6).standard_normal(1000).astype(np.float32)
    x[:3] = [0.0, -0.0, 1e-30]
    y_ref, scale_ref = act.leaky_relu_forward(x, slope)
    y, scale = act.leaky_relu_forward(_dev(x), slope)
    np.testing.assert_array_equal(_host(y), y_ref)
    np.testing.assert_array_equal(_host(scale), scale_ref)
    assert fake_gpu.launches["leaky_relu_forward"] == 1


# ---------------------------------------------------------------- Langevin


def _langevin_inputs(seed: int, shape=(6, 1, 5, 4)):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.2, 1.2, shape).astype(np.float32)
    g = (rng.standard_normal(shape) * 0.05).astype(np.float32)
    mask = rng.random(shape) < 0.3
    values = rng.uniform(-1, 1, shape).astype(np.float32)
    return x, g, mask, values


@pytest.mark.parametrize("clip, clamp, masked", [(None, None, False), (0.03, (-1.0, 1.0), True),
                                                 (0.01, None, True), (None, (-0.5, 0.25), False)])
def test_langevin_kernel_without_noise_equals_twin(fake_gpu, clip, clamp, masked):
    x, g, mask, values = _langevin_inputs(7)
    m, v = (mask, values) if masked else (None, None)
    expect = langevin_update_(x.copy(), g.copy(), 10.0, 0.0, np.random.default_rng(0), clip, clamp, m, v)
    xd = _dev(x)
    out = langevin_update_(xd, _dev(g), 10.0, 0.0, FakeRng(0), clip, clamp,
                           None if m is None else _dev(m), None if v is None else _dev(v))
    assert out is xd and fake_gpu.launches["langevin_update"] == 1
    np.testing.assert_array_equal(_host(out), expect)


def test_langevin_kernel_noise_is_the_philox_stream_of_the_run_generator(fake_gpu):
    x, g, mask, values = _langevin_inputs(8)
    rng = FakeRng(3)
    xd = _dev(x)
    for call in range(3):
        before = _host(xd).copy()
        langevin_update_(xd, _dev(g), 0.5, 0.01, rng, 0.03, (-1.0, 1.0), _dev(mask), _dev(values))
        key = _host(stream_of(rng).key)
        z = philox_normal(np.arange(x.size), call, int(key[0]), int(key[1])).reshape(x.shape)
        expect = before + np.clip(g, -0.03, 0.03) * np.float32(-0.5)
        expect = np.clip(expect + z * np.float32(0.01), -1.0, 1.0)
        expect = np.where(mask, values, expect)
        np.testing.assert_array_equal(_host(xd), expect)
    assert stream_of(rng).calls == 3
    # the same seed gives the same noise; another seed, other noise
    a, b, c = _dev(x), _dev(x), _dev(x)
    for arr, r in ((a, FakeRng(11)), (b, FakeRng(11)), (c, FakeRng(12))):
        langevin_update_(arr, _dev(np.zeros_like(g)), 0.1, 1.0, r)
    np.testing.assert_array_equal(_host(a), _host(b))
    assert not np.array_equal(_host(a), _host(c))


def test_langevin_sampler_with_fixed_entries_on_the_fake_device(fake_gpu):
    energy = Gaussian([0.5, -0.5], [1.0, 1.0])
    x0 = np.random.default_rng(9).standard_normal((50, 2)).astype(np.float32)
    mask = np.zeros((50, 2), dtype=bool)
    mask[:5, 1] = True
    sampler = LangevinSampler(step_size=0.01, noise=0.0, clip_grad=0.5, clamp=(-2.0, 2.0), n_steps=4)
    expect = sampler.run(energy, x0, np.random.default_rng(0), fixed_mask=mask).x
    got = sampler.run(energy, _dev(x0), FakeRng(0), fixed_mask=_dev(mask)).x
    assert fake_gpu.launches["langevin_update"] == 4
    np.testing.assert_array_equal(_host(got), expect)
    np.testing.assert_array_equal(_host(got)[:5, 1], x0[:5, 1])


# ---------------------------------------------------------------- MALA


def test_mala_log_accept_kernel_equals_twin(fake_gpu):
    rng = np.random.default_rng(10)
    n, shape = 7, (3, 4, 5)
    g_old, g_new, xi = (rng.standard_normal((n, *shape)).astype(np.float32) for _ in range(3))
    e_old = rng.standard_normal(n)  # float64, as MetropolisRun keeps them
    e_new = rng.standard_normal(n).astype(np.float32)  # the energy's own dtype
    expect = mala_log_accept(e_old, e_new, g_old, g_new, xi, 0.05)
    got = mala_log_accept(_dev(e_old), _dev(e_new), _dev(g_old), _dev(g_new), _dev(xi), 0.05)
    assert fake_gpu.launches["mala_log_accept"] == 1 and got.dtype == np.float64
    np.testing.assert_allclose(_host(got), expect, rtol=1e-12, atol=1e-12)


def test_mala_sampler_runs_on_the_fake_device(fake_gpu):
    energy = Gaussian([1.0, -2.0], [0.5, 1.0])
    x0 = np.random.default_rng(11).standard_normal((400, 2)).astype(np.float32)
    res = MALASampler(step_size=0.1, n_steps=30).run(energy, _dev(x0), FakeRng(1))
    assert fake_gpu.launches["mala_log_accept"] == 30
    assert 0.5 < res.acceptance < 1.0


# ---------------------------------------------------------------- replay buffer


@pytest.mark.parametrize("storage", ["float32", "uint8"])
@pytest.mark.parametrize("init", ["uniform", "data"])
def test_buffer_kernels_equal_twin(fake_gpu, storage, init):
    data = np.random.default_rng(12).uniform(-1, 1, (40, 2, 3, 3)).astype(np.float32)
    kwargs = dict(capacity=30, input_shape=(2, 3, 3), storage=storage, init=init, reinit_prob=0.2)
    ref = ReplayBuffer(xp=np, **kwargs)
    dev = ReplayBuffer(xp=fake_gpu, **kwargs)
    r_ref, r_dev = np.random.Generator(np.random.PCG64(5)), FakeRng(5)
    for it in range(6):
        x_ref, i_ref = ref.sample(16, r_ref, data=data)
        x_dev, i_dev = dev.sample(16, r_dev, data=_dev(data))
        np.testing.assert_array_equal(_host(i_dev), i_ref)
        np.testing.assert_array_equal(_host(dev.last_reinit), ref.last_reinit)
        np.testing.assert_array_equal(_host(x_dev), x_ref)
        step = np.float32(0.37 * (it + 1))
        ref.push(np.clip(x_ref * step, -1.3, 1.3), i_ref)  # some values outside the range: clipped
        dev.push(np.clip(x_dev * step, -1.3, 1.3), i_dev)
        np.testing.assert_array_equal(_host(dev._store), ref._store)
        np.testing.assert_array_equal(_host(dev._valid), ref._valid)
    assert fake_gpu.launches[f"replay_gather_{'u8' if storage == 'uint8' else 'f32'}"] == 6
    assert fake_gpu.launches[f"replay_scatter_{'u8' if storage == 'uint8' else 'f32'}"] == 6


@pytest.mark.parametrize("storage", ["float32", "uint8"])
def test_buffer_scatter_keeps_the_last_of_duplicate_slots(fake_gpu, storage):
    x = np.random.default_rng(13).uniform(-1, 1, (8, 5)).astype(np.float32)
    idx = np.array([3, 1, 3, -1, 9, 1, 3, 0])  # 3 three times, 1 twice, -1 = slot 9 as is 9
    ref = ReplayBuffer(10, (5,), storage=storage, xp=np)
    dev = ReplayBuffer(10, (5,), storage=storage, xp=fake_gpu)
    ref.push(x, idx)
    dev.push(_dev(x), _dev(idx))
    np.testing.assert_array_equal(_host(dev._store), ref._store)
    np.testing.assert_array_equal(_host(dev._valid), ref._valid)


def test_buffer_kernels_guard_against_bad_slots(fake_gpu):
    """Outside the buffer: the scatter writes nothing, the gather reads NaN (never out of bounds)."""
    store, valid = _dev(np.zeros((4, 3), np.float32)), _dev(np.zeros(4, bool))
    k_buf.scatter(store, valid, _dev(np.ones((2, 3), np.float32)), _dev(np.array([7, -9])), "float32", (-1.0, 1.0), 255)
    assert not _host(store).any() and not _host(valid).any()
    out = k_buf.gather(store, _dev(np.array([5, 1])), _dev(np.array([False, False])),
                       _dev(np.zeros((2, 3), np.float32)), "float32", (-1.0, 1.0), 255)
    assert np.isnan(_host(out)[0]).all() and not np.isnan(_host(out)[1]).any()


# ---------------------------------------------------------------- whole networks


@pytest.mark.parametrize("preset, n", [(mnist_cnn, 3), (short_run_convnet, 2)])
def test_energy_network_on_the_fake_device_matches_numpy(fake_gpu, preset, n):
    """W1's and W2's networks: E(x) and dE/dx through every dispatch point agree with the NumPy path."""
    cfg = preset()
    net_np = EnergyNet(cfg, seed=0, xp=np)
    net_dev = EnergyNet(cfg, seed=0, xp=fake_gpu)
    x = np.random.default_rng(14).uniform(-1, 1, (n, *net_np.input_shape)).astype(np.float32)
    e_ref, g_ref = net_np.energy_and_grad(x)
    e, g = net_dev.energy_and_grad(_dev(x))
    np.testing.assert_allclose(_host(e), e_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_host(g), g_ref, rtol=1e-4, atol=1e-6 * float(np.abs(g_ref).max()))
    used = {name for name, count in fake_gpu.launches.items() if count}
    expected = {"im2col", "col2im"} | ({"swish_forward", "swish_backward"} if preset is mnist_cnn
                                       else {"leaky_relu_forward"})
    assert expected <= used, used
    for net, xin in ((net_np, x), (net_dev, _dev(x))):  # the training pass: parameter gradients
        e = net.forward(xin, param_grads=True)
        net.backward(net.xp.ones_like(e), param_grads=True, input_grad=False)
    for got, ref in zip(net_dev.gradients(), net_np.gradients()):
        np.testing.assert_allclose(_host(got), ref, rtol=1e-4, atol=1e-5 * float(np.abs(ref).max()))
    # and a few Langevin steps of the benchmark's kind, no noise: the same chains
    sampler = LangevinSampler(step_size=1.0, noise=0.0, clip_grad=0.03, clamp=(-1.0, 1.0), n_steps=3)
    x_ref = sampler.run(net_np, x, np.random.default_rng(0)).x
    x_dev = sampler.run(net_dev, _dev(x), FakeRng(0)).x
    np.testing.assert_allclose(_host(x_dev), x_ref, atol=1e-5)


def test_every_kernel_has_a_wrapper_that_the_tests_launch():
    """Each kernel listed by a submodule is launched somewhere above (a new kernel needs a test)."""
    wrappers = {"im2col": k_conv, "col2im": k_conv, "swish_forward": k_act, "swish_backward": k_act,
                "leaky_relu_forward": k_act, "langevin_update": k_lang, "mala_log_accept": k_mala,
                "replay_gather_u8": k_buf, "replay_gather_f32": k_buf, "replay_scatter_u8": k_buf,
                "replay_scatter_f32": k_buf}
    assert sorted(kernels.kernel_names()) == sorted(wrappers)


def test_kernels_never_read_past_mismatched_shapes(fake_gpu):
    """A broadcastable mask or gradient takes the xp code; mismatched MALA inputs raise, as the twin does."""
    x = np.zeros((4, 3), np.float32)
    mask, values = np.array([True, False, False]), np.ones(3, np.float32)  # broadcast over the batch
    got = langevin_update_(_dev(x), _dev(np.ones((4, 3), np.float32)), 0.1, 0.0, None, None, None,
                           _dev(mask), _dev(values))
    expect = langevin_update_(x.copy(), np.ones((4, 3), np.float32), 0.1, 0.0, None, None, None, mask, values)
    np.testing.assert_array_equal(_host(got), expect)
    assert fake_gpu.launches["langevin_update"] == 0
    with pytest.raises(ValueError):
        k_mala.mala_log_accept(_dev(np.zeros(4)), _dev(np.zeros(4)), _dev(x), _dev(x[:2]), _dev(x), 0.1)
    with pytest.raises(ValueError):
        k_act.swish_backward(_dev(x), (_dev(x[:2]), _dev(x[:2])))
