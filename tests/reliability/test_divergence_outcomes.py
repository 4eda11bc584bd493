"""Divergence forced with a huge sampler step: detected in the iteration it happens, the message
says which quantity went where and what to try, and the outcome is what train.on_divergence asks
(the learning-rate cases are in tests/engine/training/test_divergence.py)."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import warnings

import pytest

from engine.training.factory import build_sampler
from engine.training.trainer import DivergenceError, Trainer
from tests.engine.training.helpers import checkpoint_iterations, toy_config
from tests.reliability.killing import ROOT, _env


@pytest.fixture(autouse=True)
def _quiet_overflow():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def test_a_huge_step_size_stops_the_run_at_once_naming_the_energy_and_the_step(tmp_path):
    trainer = Trainer(toy_config(sampler={"step_size": 1e6}, train={"iterations": 20}), tmp_path / "run")
    with pytest.raises(DivergenceError) as info:
        list(trainer.run())
    msg = str(info.value)
    assert re.search(r"diverged at iteration 1: E\(x-\) reached -?[\d.]+e\+0\d \(limit train\.max_energy = 10000\)",
                     msg), msg
    assert "smaller sampler.step_size" in msg and trainer.iteration == 0


def test_raising_the_step_mid_run_rolls_back_and_halves_it_until_training_goes_on(tmp_path):
    config = toy_config(train={"iterations": 10, "checkpoint_every": 2, "on_divergence": "rollback"})
    trainer = Trainer(config, tmp_path / "run")
    list(trainer.run(4))
    # what the GUI does when the user types a new step size while training
    trainer.sampler = build_sampler(config.replace(sampler={"step_size": 1e6}).sampler)
    steps, rollbacks = [], 0
    for report in itertools.islice(trainer.run(), 60):
        if "rolled back" in report.message:
            rollbacks += 1
            assert "E(x-) reached" in report.message and "halved the learning rate and the sampler step" in report.message
            assert report.iteration <= 4 and report.iteration % 2 == 0
            steps.append(trainer.sampler.step_size)
    assert rollbacks >= 1 and trainer.iteration == 10
    assert steps == [1e6 * 0.5 ** (k + 1) for k in range(rollbacks)]  # halved once per rollback
    assert max(checkpoint_iterations(tmp_path / "run")) == 10


def test_the_cli_prints_one_line_and_exits_2_and_the_run_folder_stays_resumable(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[data]\nname = "8gaussians"\nn = 300\n[model]\npreset = "mlp_2d"\n'
                      '[sampler]\nn_steps = 3\n[train]\niterations = 10\nbatch_size = 16\nbackend = "numpy"\n'
                      'optimizer = "sgd"\nlr = 1000.0\neval_every = 100\ncheckpoint_every = 1\n')
    run = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "engine.cli", "train", str(config), "--out", str(run)],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "training diverged at iteration" in errors[0] and "train.lr" in errors[0]
    assert checkpoint_iterations(run)  # the last good state is on disk
