"""Pulling the plug: ``ebm-studio train`` killed with SIGKILL 20 times at random (seeded) moments
leaves a run folder that always reopens, whose newest checkpoint is complete and no older than
the last reported iteration, and which ``--resume`` finishes with exactly the result of a run
that was never interrupted. ``tools/kill_resume.py`` does the same with more kills."""

from __future__ import annotations

import numpy as np
from safetensors.numpy import load_file

from engine.metrics import CurveLog
from engine.training.config import load_config
from engine.training.trainer import Trainer, read_curves
from tests.reliability.killing import check_folder, finish, kill_many, write_config

KILLS = 20
ITERATIONS = 300  # more than 20 kills advance it (at most 9 reports each, and the startups)


def test_killed_training_always_reopens_and_resumes_exactly(tmp_path):
    config_path = write_config(tmp_path, ITERATIONS)
    run = tmp_path / "run"
    log = kill_many(config_path, run, KILLS, seed=0)
    assert not log.problems, log.problems
    assert log.kills >= KILLS - 2, log.ended  # nearly every process was killed before it finished
    assert max(log.newest) > 0 and log.newest == sorted(log.newest)  # progress, never lost

    # the folder reopens in-process too, at the newest checkpoint
    config = load_config(config_path)
    reopened = Trainer(config, run, resume=True)
    assert reopened.iteration == log.newest[-1]
    del reopened

    done = finish(config_path, run)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert check_folder(run, ITERATIONS) == (ITERATIONS, [])
    assert not list(run.rglob("*.tmp"))  # what the kills left half-written is cleaned up

    whole = Trainer(config, tmp_path / "whole")  # the same run, never interrupted
    list(whole.run())
    a, b = load_file(run / "model.safetensors"), load_file(tmp_path / "whole" / "model.safetensors")
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    np.testing.assert_array_equal(np.load(run / "samples.npy"), np.load(tmp_path / "whole" / "samples.npy"))
    curves, reference = CurveLog.read_csv(run / "metrics.csv"), CurveLog.read_csv(tmp_path / "whole" / "metrics.csv")
    assert curves.columns == reference.columns
    for column in curves.columns:
        if column != "seconds":  # wall time is the one thing that differs
            np.testing.assert_array_equal(curves.series(column)[1], reference.series(column)[1], err_msg=column)


def test_each_checkpoint_holds_the_curve_row_of_its_own_iteration(tmp_path):
    # found by the kill test: checkpoints were written before the iteration's curve row was added,
    # so a run resumed after a kill lost one row per kill (a normal stop re-saved and hid it)
    from engine.training import checkpoint as ckpt
    from tests.engine.training.helpers import toy_config

    trainer = Trainer(toy_config(train={"checkpoint_every": 1}), tmp_path / "run")
    for _ in range(3):
        trainer.step()  # no run(): nothing re-saves at the end, as when the process is killed
    path = ckpt.checkpoint_path(tmp_path / "run" / "checkpoints", 3)
    its, _ = read_curves(*ckpt.read_checkpoint(path), str(path)).series("loss")
    np.testing.assert_array_equal(its, [1, 2, 3])
