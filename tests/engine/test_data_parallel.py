"""Splitting a batch over the cores gives the same energies and gradients as one pass.

Sampling passes match bit for bit in float64 to rounding; training passes sum the parts'
weight gradients in a fixed order, so they repeat bit for bit run after run.
"""

import numpy as np
import pytest

import engine.models.energy_net as energy_net
from engine.models import PRESETS, EnergyNet
from engine.ops import _parallel, blas


@pytest.mark.parametrize("name, batch", [("W0", 40), ("W1", 12), ("W2", 6), ("convnet_small", 9)])
def test_split_batches_match_the_single_pass(monkeypatch, name, batch):
    if not _parallel.can_split():
        pytest.skip("needs 2+ cores and per-thread BLAS threads")
    net = EnergyNet(PRESETS[name](), seed=3, dtype=np.float64)
    x = np.random.default_rng(1).uniform(-1, 1, (batch, *net.input_shape))
    g_out = np.linspace(-1.0, 1.0, batch)

    def run() -> tuple:
        e, gx = net.energy_and_grad(x)
        net.forward(x, param_grads=True)
        gx_loss = net.backward(g_out, param_grads=True)
        return e, gx, gx_loss, [g.copy() for g in net.gradients()]

    monkeypatch.setattr(energy_net, "SPLIT_MIN_ELEMENTS", 1 << 60)
    single = run()
    assert net._split_of(batch) is None
    monkeypatch.setattr(energy_net, "SPLIT_MIN_ELEMENTS", 1)
    assert net._split_of(batch) is not None
    split = run()
    for a, b in zip(single[:3], split[:3]):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)
    for a, b in zip(single[3], split[3]):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-13)


def test_small_batches_and_small_nets_are_not_split():
    net = EnergyNet(PRESETS["W0"](), seed=0)
    assert net._split_of(3) is None  # fewer samples than 2 per core
    assert net._split_of(100) is None  # 128-wide activations: not worth a thread


def test_training_passes_are_bit_reproducible(monkeypatch):
    """Split training passes (a part per core) give the same weight gradients every time."""
    monkeypatch.setattr(energy_net, "SPLIT_MIN_ELEMENTS", 1)
    net = EnergyNet(PRESETS["jem_digits"](), seed=0)
    x = np.random.default_rng(0).uniform(-1, 1, (24, *net.input_shape)).astype(np.float32)
    if _parallel.can_split():
        assert net._split_of(24) is not None
    runs = []
    for _ in range(8):
        out = net.outputs(x, save=True, param_grads=True)
        net.backward_outputs(np.ones_like(out), param_grads=True)
        runs.append([g.copy() for g in net.gradients()])
    for run in runs[1:]:
        for a, b in zip(runs[0], run):
            np.testing.assert_array_equal(a, b)


def test_a_split_gives_blas_its_threads_back(monkeypatch):
    """NumPy's OpenBLAS keeps one thread count per process: splits must restore it.

    Before, the worker pool's threads set it to 1 for good when they started,
    and every whole-batch GEMM after that (the training update) ran on one core.
    """
    if not _parallel.can_split():
        pytest.skip("needs 2+ cores and BLAS thread control")
    monkeypatch.setattr(_parallel, "_pool", None)  # a pool whose threads start in this test
    before = blas.set_threads(2)
    try:
        _parallel.run_chunks(lambda a, b: None, 4, 1 << 30)
        assert blas.set_threads(2) == 2
        seen = _parallel.run_split([lambda: blas.set_threads(1), lambda: 0])
        assert seen[0] == 1  # one BLAS thread inside the split
        assert blas.set_threads(2) == 2
    finally:
        blas.set_threads(before)
