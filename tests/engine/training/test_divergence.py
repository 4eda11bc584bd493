"""Divergence: "stop" raises an error that says what blew up and what to change; "rollback" goes back
to an older checkpoint, halves the learning rate and the sampler step, and carries on."""

from __future__ import annotations

import itertools
import math
import warnings

import pytest

from engine.errors import EBMError
from engine.training.trainer import MAX_ROLLBACKS, DivergenceError, Trainer

from .helpers import checkpoint_iterations, toy_config

ADVICE = ["sampler.step_size", "train.lr", "train.alpha", "train.grad_clip"]


@pytest.fixture(autouse=True)
def _quiet_overflow():
    # blowing up on purpose: NumPy's overflow warnings are expected here
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


@pytest.mark.parametrize("train, iteration, quantity", [
    ({"optimizer": "sgd", "lr": 1e3}, 2, "E(x+) reached"),  # one huge step: energies in the millions
    ({"optimizer": "sgd", "lr": 1e30}, 2, "the loss became nan"),  # overflow to inf - inf
    ({"max_energy": 1e-3}, 1, "train.max_energy = 0.001"),  # a limit the first energies already break
])
def test_stop_raises_a_divergence_error_naming_the_quantity_and_the_fix(train, iteration, quantity):
    trainer = Trainer(toy_config(train={**train, "iterations": 20, "on_divergence": "stop"}))
    seen = []
    with pytest.raises(DivergenceError) as info:
        for report in trainer.run():
            seen.append(report.iteration)
    msg = str(info.value)
    assert isinstance(info.value, EBMError)  # the CLI prints it and exits 2, the GUI shows a dialog
    assert f"diverged at iteration {iteration}" in msg and quantity in msg
    for setting in ADVICE:
        assert setting in msg
    assert seen == list(range(1, iteration)) and trainer.iteration == iteration - 1  # no update was applied


def test_stop_names_the_last_good_checkpoint(tmp_path):
    config = toy_config(train={"optimizer": "sgd", "lr": 2.0, "max_energy": 100.0, "iterations": 20,
                               "checkpoint_every": 1})
    trainer = Trainer(config, tmp_path / "run")
    with pytest.raises(DivergenceError) as info:
        list(trainer.run())
    # the check runs on the parameters of the last finished iteration: its own checkpoint holds the diverged
    # state, the one before it is the last good one
    good = f"ckpt-{trainer.iteration - 1:08d}.safetensors"
    assert "the last good checkpoint is" in str(info.value) and good in str(info.value)


def _rollback_config(**train):
    return toy_config(train={"optimizer": "sgd", "lr": 2.0, "max_energy": 100.0, "iterations": 12,
                             "checkpoint_every": 2, "on_divergence": "rollback", **train})


def test_rollback_goes_back_halves_lr_and_step_and_finishes(tmp_path):
    run_dir = tmp_path / "run"
    trainer = Trainer(_rollback_config(), run_dir)
    step0 = trainer.sampler.step_size
    lr, rollbacks, last_iteration = 2.0, 0, 0
    for report in itertools.islice(trainer.run(), 100):
        if report.message.startswith("training diverged"):
            rollbacks += 1
            lr *= 0.5
            assert report.iteration < last_iteration + 1  # back, never forward
            assert report.iteration % 2 == 0 and report.iteration >= 2  # to a checkpoint
            assert f"rolled back to iteration {report.iteration}" in report.message
            assert "halved the learning rate" in report.message
            assert report.lr == lr and trainer.optimizer.lr == lr
            assert trainer.sampler.step_size == step0 * 0.5 ** rollbacks
            assert math.isnan(report.loss)
            # checkpoints of the path that diverged are gone: a resume must not pick them
            assert max(checkpoint_iterations(run_dir)) <= report.iteration
        else:
            assert report.iteration == last_iteration + 1
            assert math.isfinite(report.loss) and abs(report.e_pos) <= 100 and abs(report.e_neg) <= 100
            assert report.lr == lr
        last_iteration = report.iteration
    assert rollbacks >= 1 and trainer.iteration == 12
    # the halved settings are what a resume of this run continues with
    resumed = Trainer(_rollback_config(), run_dir, resume=True)
    assert resumed.iteration == 12 and resumed.optimizer.lr == lr
    assert resumed.sampler.step_size == trainer.sampler.step_size


def test_rollback_halvings_add_up_and_the_run_cannot_loop_for_ever(tmp_path):
    # lr 10 is hopeless: each checkpoint right before a divergence already holds a blown-up state.
    # Rolling back to it again and again (with the lr it was saved with) used to loop for ever.
    trainer = Trainer(_rollback_config(lr=10.0, max_energy=1e4, checkpoint_every=1), tmp_path / "run")
    lrs = []
    try:
        for report in itertools.islice(trainer.run(), 200):
            if report.message.startswith("training diverged"):
                lrs.append(report.lr)
    except DivergenceError as exc:
        assert f"gave up after {MAX_ROLLBACKS} rollbacks" in str(exc)
    else:
        assert trainer.iteration == 12
    assert 1 <= len(lrs) <= MAX_ROLLBACKS
    assert lrs == [10.0 * 0.5 ** (i + 1) for i in range(len(lrs))]


def test_rollback_without_an_older_checkpoint_stops(tmp_path):
    # no folder, so no checkpoint to go back to
    trainer = Trainer(_rollback_config(lr=1e3))
    with pytest.raises(DivergenceError, match="diverged at iteration 2"):
        list(trainer.run())


def test_rollback_halves_a_cosine_schedule_and_keeps_its_shape(tmp_path):
    """A rollback halves the whole schedule: it used to replace it with a constant rate."""
    run_dir = tmp_path / "run"
    trainer = Trainer(_rollback_config(schedule="cosine"), run_dir)
    full = trainer.optimizer.schedule
    rolled = False
    for report in itertools.islice(trainer.run(), 100):
        rolled = rolled or report.message.startswith("training diverged")
    assert rolled and trainer.iteration == 12
    scale = trainer._lr_scale
    assert scale < 1.0
    assert type(trainer.optimizer.schedule) is type(full)
    for step in (0, 5, 11, 12):
        assert trainer.optimizer.schedule.lr_at(step) == pytest.approx(scale * full.lr_at(step), rel=1e-12)
    resumed = Trainer(_rollback_config(schedule="cosine"), run_dir, resume=True)
    assert resumed.optimizer.schedule == trainer.optimizer.schedule
