"""Langevin chains in worker processes give exactly the chains this process would run."""

from __future__ import annotations

import numpy as np
import pytest

from engine.models import PRESETS, EnergyNet
from engine.ops import _parallel
from engine.samplers import LangevinSampler
from engine.samplers import chain_parts as cp

pytestmark = pytest.mark.skipif(not _parallel.can_split(), reason="needs 2+ cores and BLAS thread control")

SAMPLER = LangevinSampler(step_size=1.0, noise=0.01, clip_grad=0.03, clamp=(-1.0, 1.0), n_steps=4)


@pytest.fixture
def small_parts(monkeypatch):
    """Any batch of the test net is worth worker processes."""
    monkeypatch.setattr(cp, "MIN_ELEMENTS", 1)
    monkeypatch.setattr(cp, "MAX_ELEMENTS", 1 << 40)
    monkeypatch.delenv("EBM_CHAIN_PROCESSES", raising=False)
    yield
    cp.shutdown()


def _net_and_start(n=10):
    net = EnergyNet(PRESETS["convnet_small"](), seed=1)
    x0 = np.random.default_rng(2).uniform(-1, 1, (n, *net.input_shape)).astype(np.float32)
    return net, x0


def _in_this_process(net, x0, seed):
    """What the parts do, each with its own generator seeded from the run's generator."""
    parts = _parallel.workers()
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, 2**63 - 1, size=parts)
    x = x0.copy()
    for i, s in enumerate(seeds):
        part = slice(len(x) * i // parts, len(x) * (i + 1) // parts)
        SAMPLER.chains(net, x[part], np.random.default_rng(int(s)), SAMPLER.n_steps)
    return x


def test_worker_processes_run_the_same_chains(small_parts):
    net, x0 = _net_and_start()
    assert cp.wanted(net, len(x0)) == _parallel.workers()
    out = SAMPLER.run(net, x0, np.random.default_rng(5)).x
    assert cp._workers and all(w.alive() for w in cp._workers)  # the parts did run elsewhere
    np.testing.assert_array_equal(out, _in_this_process(net, x0, 5))
    assert not np.array_equal(out, x0)
    again = SAMPLER.run(net, x0, np.random.default_rng(5)).x  # warm workers, same answer
    np.testing.assert_array_equal(again, out)


def test_a_jem_samples_in_worker_processes_too(small_parts):
    from engine.models.jem import JEM

    jem = JEM(PRESETS["jem_digits"](), seed=1)
    x0 = np.random.default_rng(2).uniform(-1, 1, (10, *jem.input_shape)).astype(np.float32)
    assert cp.wanted(jem, len(x0)) == _parallel.workers()
    out = SAMPLER.run(jem, x0, np.random.default_rng(8)).x
    np.testing.assert_array_equal(out, _in_this_process(jem, x0, 8))
    assert cp.wanted(jem.conditional(3), len(x0)) == 1  # a class-conditional energy stays here


def test_workers_follow_the_parameters(small_parts):
    net, x0 = _net_and_start()
    SAMPLER.run(net, x0, np.random.default_rng(5))
    for p in net.parameters():
        p *= 1.5  # an optimizer step between two runs
    out = SAMPLER.run(net, x0, np.random.default_rng(6)).x
    np.testing.assert_array_equal(out, _in_this_process(net, x0, 6))


def test_a_worker_that_dies_is_replaced_by_this_process(small_parts, monkeypatch):
    net, x0 = _net_and_start()
    send = cp._Worker.send

    def die_then_send(worker, message):
        worker.process.kill()
        worker.process.wait()
        return send(worker, message)

    monkeypatch.setattr(cp._Worker, "send", die_then_send)
    with pytest.warns(RuntimeWarning, match="sampling goes on in this process"):
        out = SAMPLER.run(net, x0, np.random.default_rng(7)).x
    np.testing.assert_array_equal(out, _in_this_process(net, x0, 7))
    assert cp.wanted(net, len(x0)) == 1  # given up for the session: no restart on every run


def test_a_worker_that_hangs_is_ended_and_its_part_runs_here(small_parts, monkeypatch):
    import os
    import signal

    monkeypatch.setattr(cp, "MIN_PATIENCE", 0.5)
    net, x0 = _net_and_start()
    for worker in cp._get_workers(_parallel.workers() - 1):
        os.kill(worker.process.pid, signal.SIGSTOP)  # alive, but it will never answer
    with pytest.warns(RuntimeWarning, match="gave no answer"):
        out = SAMPLER.run(net, x0, np.random.default_rng(10)).x
    np.testing.assert_array_equal(out, _in_this_process(net, x0, 10))
    assert not any(w.alive() for w in cp._workers)


def test_a_sampler_that_cannot_be_sent_runs_here(small_parts):
    """A sampler pickle cannot carry (a class defined in a function) falls back instead of failing."""

    class LocalSampler(LangevinSampler):
        pass

    local = LocalSampler(step_size=1.0, noise=0.01, clip_grad=0.03, clamp=(-1.0, 1.0), n_steps=4)
    net, x0 = _net_and_start()
    with pytest.warns(RuntimeWarning, match="sampling goes on in this process"):
        out = local.run(net, x0, np.random.default_rng(9)).x
    np.testing.assert_array_equal(out, _in_this_process(net, x0, 9))


def test_recorded_fixed_small_or_switched_off_runs_stay_here(small_parts, monkeypatch):
    net, x0 = _net_and_start()
    monkeypatch.setenv("EBM_CHAIN_PROCESSES", "0")
    assert cp.wanted(net, len(x0)) == 1
    monkeypatch.delenv("EBM_CHAIN_PROCESSES")
    assert cp.wanted(net, 3) == 1  # fewer than two chains per core
    monkeypatch.setattr(cp, "MIN_ELEMENTS", 1 << 40)
    assert cp.wanted(net, len(x0)) == 1


def test_the_benchmark_workloads_choose_as_measured():
    """W0 and W1 run their halves in processes, W2's in threads; a small 2D batch stays whole."""
    if cp.os.environ.get("EBM_CHAIN_PROCESSES") == "0" or _parallel.workers() != 2:
        pytest.skip("measured on 2 cores; switched off in this environment")
    assert cp.wanted(EnergyNet(PRESETS["W1"]()), 128) == 2
    assert cp.wanted(EnergyNet(PRESETS["W0"]()), 1000) == 2
    assert cp.wanted(EnergyNet(PRESETS["W2"]()), 64) == 2
    assert cp.wanted(EnergyNet(PRESETS["W0"]()), 256) == 1


def test_runs_from_two_threads_at_once_give_their_own_answers(small_parts):
    """The workers serve one run at a time; a run that finds them busy does all its parts here."""
    import threading

    nets = {seed: _net_and_start()[0] for seed in (11, 12)}  # a network serves one thread at a time
    x0 = _net_and_start()[1]
    outs = {}

    def sample(seed):
        outs[seed] = SAMPLER.run(nets[seed], x0, np.random.default_rng(seed)).x

    threads = [threading.Thread(target=sample, args=(seed,)) for seed in (11, 12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed in (11, 12):
        np.testing.assert_array_equal(outs[seed], _in_this_process(nets[seed], x0, seed))


def test_importing_engine_first_stops_openblas_threads_spinning():
    """OpenBLAS reads OPENBLAS_THREAD_TIMEOUT when NumPy loads it; engine sets it (spinning threads
    took a core from the workers: W0 139 -> 88 ms per iteration)."""
    import os
    import subprocess
    import sys

    from engine.ops import blas

    if getattr(blas._LIB, "openblas_thread_timeout", None) is None:
        pytest.skip("NumPy is not linked to an OpenBLAS that reports its thread timeout")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    code = ("import engine, ctypes\nfrom engine.ops import blas\n"
            "f = blas._LIB.openblas_thread_timeout\nf.restype = ctypes.c_int\nprint(f())")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "4", out.stderr


@pytest.fixture
def large_parts(monkeypatch):
    """Any batch of the test net is large enough for each part's whole run on a thread."""
    monkeypatch.setattr(cp, "MAX_ELEMENTS", 1)
    yield
    cp.shutdown()


def test_large_parts_run_on_threads_with_the_same_chains(large_parts):
    net, x0 = _net_and_start()
    assert cp.wanted(net, len(x0)) == _parallel.workers()
    out = SAMPLER.run(net, x0, np.random.default_rng(5)).x
    assert not cp._workers  # no worker process was needed
    np.testing.assert_array_equal(out, _in_this_process(net, x0, 5))
    np.testing.assert_array_equal(SAMPLER.run(net, x0, np.random.default_rng(5)).x, out)


def test_a_jem_with_large_parts_splits_per_step_instead(large_parts):
    from engine.models.jem import JEM

    jem = JEM(PRESETS["jem_digits"](), seed=1)
    assert cp.wanted(jem, 10) == 1


def test_parts_on_threads_share_one_transform_of_the_weights(large_parts, monkeypatch):
    """Winograd's weights are transformed once per run for all parts, not once per part."""
    from engine.ops import conv_winograd

    config = {"input_shape": [128, 8, 8], "layers": [
        {"type": "conv2d", "in_channels": 128, "out_channels": 256, "kernel_size": 4, "stride": 2, "padding": 1},
        {"type": "leaky_relu", "slope": 0.2},
        {"type": "conv2d", "in_channels": 256, "out_channels": 1, "kernel_size": 4}]}
    net = EnergyNet(config, seed=3)
    x0 = np.random.default_rng(4).uniform(-1, 1, (8, *net.input_shape)).astype(np.float32)
    calls = []
    transform = conv_winograd.transform_weights
    monkeypatch.setattr(conv_winograd, "transform_weights", lambda *a: calls.append(1) or transform(*a))
    out = SAMPLER.run(net, x0, np.random.default_rng(6)).x
    assert len(calls) == 1
    monkeypatch.setattr(conv_winograd, "transform_weights", transform)
    np.testing.assert_array_equal(out, _in_this_process(net, x0, 6))
