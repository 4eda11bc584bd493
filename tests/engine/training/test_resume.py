"""Checkpoints: a run split in two by a resume is bit-identical to one run; damaged checkpoints are skipped."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import load_file

from engine.errors import ModelFileError
from engine.metrics import CurveLog
from engine.training import checkpoint as ckpt
from engine.training.trainer import Trainer

from .helpers import (
    assert_states_identical,
    checkpoint_iterations,
    toy_config,
    without_seconds,
)

K = 4  # iterations before the resume, and after it

VARIANTS = {
    # evaluations and samples fall on both sides of the split, and at it
    "langevin_buffer": {"train": {"eval_every": 3, "samples_every": 2}},
    "mala_uint8_buffer_data_init": {"sampler": {"kind": "mala", "step_size": 0.005},
                                    "buffer": {"storage": "uint8", "init": "data", "reinit_prob": 0.3}},
    "hmc_no_buffer_sgd_cosine": {"sampler": {"kind": "hmc", "n_steps": 2, "n_leapfrog": 3},
                                 "buffer": {"capacity": 0},
                                 "train": {"optimizer": "sgd", "lr": 0.05, "schedule": "cosine"}},
    "adamw_step_schedule_clipping": {"sampler": {"clip_grad": 0.5, "clamp": [-5.0, 5.0]},
                                     "train": {"optimizer": "adamw", "weight_decay": 0.01, "schedule": "step",
                                               "grad_clip": 0.5, "betas": [0.5, 0.9]}},
}


def _rows(reports):
    return without_seconds([r.scalars() for r in reports])


def _curves(trainer):
    return without_seconds(trainer.curves.rows)


def _optimizer_state(trainer):
    state = trainer.optimizer.state_dict()
    buffers = state.pop("buffers")
    return state, {f"{name}/{i}": a for name, arrays in buffers.items() for i, a in enumerate(arrays)}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_resumed_run_is_bit_identical_to_one_run(variant, tmp_path):
    config = toy_config(**VARIANTS[variant]).replace(train={"iterations": 2 * K, "checkpoint_every": K})

    whole = Trainer(config, tmp_path / "whole")
    reports_whole = list(whole.run())

    first = Trainer(config, tmp_path / "split")
    reports_first = list(first.run(iterations=K))
    assert first.iteration == K and checkpoint_iterations(tmp_path / "split") == [K]
    del first

    second = Trainer(config, tmp_path / "split", resume=True)  # a new trainer, as after a restart
    assert second.iteration == K
    reports_second = list(second.run())

    # the loss sequence, and everything else reported but the wall time
    assert [r.loss for r in reports_first + reports_second] == [r.loss for r in reports_whole]
    assert _rows(reports_first + reports_second) == _rows(reports_whole)
    for a, b in zip(reports_first + reports_second, reports_whole):
        assert (a.samples is None) == (b.samples is None)
        if a.samples is not None:
            np.testing.assert_array_equal(a.samples, b.samples)
    # parameters, optimizer state, replay buffer, random generator, learning curves
    assert_states_identical(second.model.state_dict(), whole.model.state_dict())
    (scalars_a, buffers_a), (scalars_b, buffers_b) = _optimizer_state(second), _optimizer_state(whole)
    assert scalars_a == scalars_b
    assert_states_identical(buffers_a, buffers_b)
    if whole.buffer is not None:
        assert_states_identical({k: v for k, v in second.buffer.state_dict().items() if isinstance(v, np.ndarray)},
                                {k: v for k, v in whole.buffer.state_dict().items() if isinstance(v, np.ndarray)})
    assert second.rng.bit_generator.state == whole.rng.bit_generator.state
    assert second.sampler == whole.sampler
    assert _curves(second) == _curves(whole)
    metrics_split = CurveLog.read_csv(tmp_path / "split" / "metrics.csv")
    metrics_whole = CurveLog.read_csv(tmp_path / "whole" / "metrics.csv")
    assert without_seconds(metrics_split.rows) == without_seconds(metrics_whole.rows)
    assert_states_identical(load_file(str(tmp_path / "split" / "model.safetensors")),
                            load_file(str(tmp_path / "whole" / "model.safetensors")))


def test_resume_continues_from_the_newest_checkpoint(tmp_path):
    config = toy_config(train={"iterations": 10, "checkpoint_every": 2})
    list(Trainer(config, tmp_path / "run").run(iterations=5))  # checkpoints 2, 4, and 5 on the way out
    assert checkpoint_iterations(tmp_path / "run") == [2, 4, 5]
    resumed = Trainer(config, tmp_path / "run", resume=True)
    assert resumed.iteration == 5
    assert [r.iteration for r in resumed.run()] == [6, 7, 8, 9, 10]


def test_resume_in_an_empty_folder_starts_a_new_run(tmp_path):
    trainer = Trainer(toy_config(), tmp_path / "fresh", resume=True)
    assert trainer.iteration == 0 and (tmp_path / "fresh" / "config.toml").is_file()


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path):
    path.write_bytes(b"\x00not a checkpoint" * 8)


def _empty(path):
    path.write_bytes(b"")


def _foreign_safetensors(path):
    from safetensors.numpy import save_file

    save_file({"w": np.zeros(3, np.float32)}, str(path))


@pytest.mark.parametrize("damage", [_truncate, _garbage, _empty, _foreign_safetensors])
def test_damaged_newest_checkpoint_falls_back_to_the_previous_one(damage, tmp_path):
    config = toy_config(train={"iterations": 6, "checkpoint_every": 2})
    run_dir = tmp_path / "run"
    original = Trainer(config, run_dir)
    reports = list(original.run())
    assert checkpoint_iterations(run_dir) == [2, 4, 6]
    damage(ckpt.checkpoint_path(run_dir / "checkpoints", 6))

    resumed = Trainer(config, run_dir, resume=True)
    assert resumed.iteration == 4
    tensors, _ = ckpt.read_checkpoint(ckpt.checkpoint_path(run_dir / "checkpoints", 4))
    assert_states_identical(resumed.model.state_dict(),
                            {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")})
    # and it continues exactly as the original did from there
    again = list(resumed.run())
    assert [r.iteration for r in again] == [5, 6]
    assert _rows(again) == _rows(reports[4:])
    assert_states_identical(resumed.model.state_dict(), original.model.state_dict())


def test_no_intact_checkpoint_is_an_error_not_a_silent_restart(tmp_path):
    config = toy_config(train={"iterations": 4, "checkpoint_every": 2})
    run_dir = tmp_path / "run"
    list(Trainer(config, run_dir).run())
    for it in checkpoint_iterations(run_dir):
        _truncate(ckpt.checkpoint_path(run_dir / "checkpoints", it))
    with pytest.raises(ModelFileError) as info:
        Trainer(config, run_dir, resume=True)
    assert "no intact checkpoint" in str(info.value) and "truncated" in str(info.value)


def test_read_checkpoint_reports_a_truncated_file(tmp_path):
    path = ckpt.checkpoint_path(tmp_path, 7)
    ckpt.write_checkpoint(path, {"a": np.arange(100, dtype=np.float32)}, {"iteration": 7, "note": [1, 2]})
    tensors, meta = ckpt.read_checkpoint(path)
    assert meta == {"iteration": 7, "note": [1, 2]}
    np.testing.assert_array_equal(tensors["a"], np.arange(100, dtype=np.float32))
    _truncate(path)
    with pytest.raises(ModelFileError, match="truncated"):
        ckpt.read_checkpoint(path)


def test_a_reopened_run_shows_the_samples_it_saved_and_ignores_a_file_that_does_not_fit(tmp_path):
    first = Trainer(toy_config(train={"iterations": 4, "samples_every": 2}), tmp_path)
    list(first.run())
    saved = np.load(tmp_path / "samples.npy")
    reopened = Trainer(toy_config(train={"iterations": 4, "samples_every": 2}), tmp_path, resume=True)
    np.testing.assert_array_equal(reopened.last_samples, saved[:len(reopened.last_samples)])
    np.save(tmp_path / "samples.npy", np.zeros((3, 5), np.float32))  # not 2D points: only a picture, skipped
    assert Trainer(toy_config(train={"iterations": 4}), tmp_path, resume=True).last_samples is None
    (tmp_path / "samples.npy").write_bytes(b"not an npy file")
    assert Trainer(toy_config(train={"iterations": 4}), tmp_path, resume=True).last_samples is None


def test_checkpoints_keep_curves_as_tensors_with_a_small_header(tmp_path):
    """A long run's curves go into tensors: a CSV in the header grew with every iteration, and
    safetensors refuses headers over 100 MB (about 800,000 iterations)."""
    from safetensors import safe_open

    from engine.training.trainer import read_curves

    trainer = Trainer(toy_config(train={"iterations": 2}), tmp_path / "run")
    list(trainer.run())
    for i in range(3, 20003):  # a long run's worth of rows
        trainer.curves.append(i, loss=1.0 / i, lr=1e-4, seconds=0.01)
    path = trainer.save_checkpoint()
    with safe_open(str(path), "np") as f:
        header = sum(len(k) + len(v) for k, v in f.metadata().items())
    assert header < 20_000, header
    back = read_curves(*ckpt.read_checkpoint(path), str(path))
    assert back.to_csv() == trainer.curves.to_csv()


def test_checkpoints_with_curves_as_csv_still_open():
    """Checkpoints written before the curves became tensors kept them as CSV in the header."""
    from engine.training.trainer import read_curves

    old = CurveLog()
    old.append(1, loss=0.5)
    old.append(2, loss=0.25)
    assert read_curves({}, {"curves": old.to_csv()}, "old.safetensors").to_csv() == old.to_csv()
    assert len(read_curves({}, {}, "none.safetensors")) == 0
