"""Memory: the up-front estimate against measured allocations, refusing or shrinking a run that
does not fit, and an out-of-memory error during a step (faked on NumPy; CuPy's is recognised by
name) falling back to a smaller batch instead of crashing."""

from __future__ import annotations

import tracemalloc

import pytest

from engine.errors import EBMError
from engine.training import memory
from engine.training.config import load_config
from engine.training.factory import build_data
from engine.training.trainer import Trainer
from tests.engine.training.helpers import digits_config, toy_config


def _estimate(trainer, batch_size=None):
    net = trainer.model.net if hasattr(trainer.model, "net") else trainer.model
    return memory.estimate(trainer.config, net, len(trainer.train_set), len(trainer.val_set),
                           itemsize=trainer.dtype.itemsize, on_device=False, batch_size=batch_size)


@pytest.mark.parametrize("make, batch", [(toy_config, 256), (digits_config, 32)])
def test_estimate_is_within_a_small_factor_of_the_measured_peak_of_a_step(make, batch):
    trainer = Trainer(make(train={"batch_size": batch}))
    est = _estimate(trainer)
    trainer.step()  # first-step allocations (optimizer moments, workspaces) out of the way
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        trainer.step()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    ratio = peak / (est.activations + est.parameters)
    assert 0.4 <= ratio <= 1.2, (peak, est)


def test_estimate_grows_linearly_with_the_batch_and_counts_buffer_and_data():
    trainer = Trainer(digits_config())
    a, b = _estimate(trainer, 16), _estimate(trainer, 32)
    assert b.activations == 2 * a.activations and b.buffer == a.buffer and b.data == a.data
    c = trainer.config.buffer.capacity
    assert a.buffer == c * 28 * 28 * 4 + c  # float32 samples + the valid mask
    assert a.data == 4 * 28 * 28 * (len(trainer.train_set) + len(trainer.val_set))


def test_a_run_that_does_not_fit_is_refused_up_front_with_the_estimate_and_what_to_change(monkeypatch):
    config = digits_config(train={"batch_size": 64})
    data = build_data(config)
    monkeypatch.setenv("EBM_MEMORY_LIMIT", str(4 << 20))  # 4 MiB: far too little
    with pytest.raises(memory.MemoryLimitError) as info:
        Trainer(config, data=data)
    msg = str(info.value)
    assert isinstance(info.value, EBMError)
    for fragment in ("this run needs about", "4.0 MiB is available", "activations of batch 64",
                     "replay buffer", "train.batch_size (now 64)", "buffer.capacity", "smaller_batch"):
        assert fragment in msg, fragment


def test_smaller_batch_starts_with_the_largest_batch_that_fits_and_says_so(monkeypatch, tmp_path):
    config = digits_config(train={"batch_size": 64, "on_memory": "smaller_batch", "iterations": 2})
    data = build_data(config)
    probe = Trainer(config, data=data)
    need = {b: _estimate(probe, b).host - _estimate(probe, b).data for b in (16, 32)}
    # room for batch 16 but not 32 (the check keeps 20% spare)
    monkeypatch.setenv("EBM_MEMORY_LIMIT", str(int((need[16] + need[32]) / 2 / memory.SAFETY)))
    trainer = Trainer(config, tmp_path / "run", data=data)
    assert trainer.config.train.batch_size == 16
    first, second = trainer.step(), trainer.step()
    assert "batch size lowered from 64 to 16 to fit in memory" in first.message
    assert "lowered" not in second.message
    assert load_config(tmp_path / "run" / "config.toml").train.batch_size == 16  # a resume keeps it


def _fail_above(monkeypatch, trainer, limit, error):
    """The sampler raises ``error`` for batches larger than ``limit`` (a fake out-of-memory)."""
    cls = type(trainer.sampler)
    real = cls.run
    seen = []

    def run(self, model, x0, rng, *args, **kwargs):
        seen.append(x0.shape[0])
        if x0.shape[0] > limit:
            raise error
        return real(self, model, x0, rng, *args, **kwargs)

    monkeypatch.setattr(cls, "run", run)
    return seen


def test_out_of_memory_during_a_step_halves_the_batch_and_training_goes_on(monkeypatch, tmp_path):
    trainer = Trainer(toy_config(train={"batch_size": 32, "iterations": 3}), tmp_path / "run")
    seen = _fail_above(monkeypatch, trainer, 8, MemoryError("fake: cannot allocate"))
    reports = list(trainer.run())
    assert [r.iteration for r in reports] == [1, 2, 3]
    assert seen[:3] == [32, 16, 8] and set(seen[3:]) == {8}
    msg = reports[0].message
    assert "out of memory at iteration 1 with batch size 32 (MemoryError); continuing with batch size 16" in msg
    assert "with batch size 16 (MemoryError); continuing with batch size 8" in msg
    assert reports[1].message == "" and trainer.config.train.batch_size == 8
    assert load_config(tmp_path / "run" / "config.toml").train.batch_size == 8


class OutOfMemoryError(Exception):
    """Stands in for cupy.cuda.memory.OutOfMemoryError (recognised by name, CuPy is never imported)."""


class CUBLASError(RuntimeError):
    pass


@pytest.mark.parametrize("error", [OutOfMemoryError("Out of memory allocating 1,073,741,824 bytes"),
                                   CUBLASError("CUBLAS_STATUS_ALLOC_FAILED")])
def test_gpu_style_out_of_memory_errors_fall_back_too(monkeypatch, error):
    trainer = Trainer(toy_config(train={"batch_size": 16}))
    _fail_above(monkeypatch, trainer, 4, error)
    report = trainer.step()
    assert trainer.config.train.batch_size == 4 and report.iteration == 1
    assert type(error).__name__ in report.message


def test_other_errors_are_not_taken_for_out_of_memory(monkeypatch):
    trainer = Trainer(toy_config(train={"batch_size": 16}))
    _fail_above(monkeypatch, trainer, 4, RuntimeError("a bug"))
    with pytest.raises(RuntimeError, match="a bug"):
        trainer.step()
    assert trainer.config.train.batch_size == 16


def test_out_of_memory_at_batch_one_is_a_clear_error_not_a_crash(monkeypatch):
    trainer = Trainer(toy_config(train={"batch_size": 2}))
    _fail_above(monkeypatch, trainer, 0, MemoryError())
    with pytest.raises(memory.MemoryLimitError, match="even with batch size 1"):
        trainer.step()


def test_available_memory_is_memavailable_capped_by_the_cgroup(tmp_path, monkeypatch):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16000000 kB\nMemAvailable:    8000000 kB\n")
    assert memory._meminfo_available(str(meminfo)) == 8000000 * 1024
    cg = tmp_path / "cg"
    cg.mkdir()
    (cg / "memory.max").write_text("max\n")
    assert memory._cgroup_room(str(cg)) is None
    (cg / "memory.max").write_text(f"{3 << 30}\n")
    (cg / "memory.current").write_text(f"{1 << 30}\n")
    assert memory._cgroup_room(str(cg)) == 2 << 30
    monkeypatch.setenv("EBM_MEMORY_LIMIT", "12345")
    assert memory.available_host_bytes() == 12345
    monkeypatch.delenv("EBM_MEMORY_LIMIT")
    assert memory.available_host_bytes() > 0  # this machine's own figure


def test_device_memory_and_cache_release_go_through_the_array_module():
    class Pool:
        freed = False

        def free_bytes(self):
            return 100

        def free_all_blocks(self):
            Pool.freed = True

    class FakeCupy:  # the two CuPy calls used, nothing else
        class cuda:
            class runtime:
                @staticmethod
                def memGetInfo():
                    return 1000, 8000

        get_default_memory_pool = Pool

    assert memory.available_device_bytes(FakeCupy) == 1100
    memory.release_cached(FakeCupy)
    assert Pool.freed
    import numpy as np

    assert memory.available_device_bytes(np) is None
    memory.release_cached(np)  # a no-op


def test_gpu_estimate_is_checked_against_free_gpu_memory():
    est = memory.MemoryEstimate(data=10, device_data=10, buffer=10, parameters=10, activations=1000,
                                batch_size=8, on_device=True)
    assert memory.check(est, host_available=10**9, device_available=10**6) == ""
    msg = memory.check(est, host_available=10**9, device_available=500)
    assert "of GPU memory" in msg and "500 B is free on the GPU" in msg


def test_out_of_memory_after_the_update_is_an_error_not_a_second_iteration(monkeypatch):
    # evaluating (or saving) runs after the parameters moved: a retry would train one iteration too many
    trainer = Trainer(toy_config(train={"batch_size": 16, "eval_every": 1}))

    def evaluate(*args, **kwargs):
        raise MemoryError("fake: cannot allocate the evaluation grid")

    monkeypatch.setattr(trainer, "evaluate", evaluate)
    with pytest.raises(memory.MemoryLimitError, match="while evaluating or saving after iteration 1"):
        trainer.step()
    assert trainer.iteration == 1 and trainer.config.train.batch_size == 16
