"""The window when the training worker fails: the error reaches the log (with details) and the
dialog, the controls come back in a usable state, and the run can be resumed or reset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings  # noqa: E402

from engine.training.config import load_config  # noqa: E402
from engine.training.trainer import Trainer  # noqa: E402
from gui import main_window as mw  # noqa: E402

PRESET = Path(mw.PRESET_DIR) / "8gaussians.toml"
WAIT = 60_000  # ms; generous on a loaded 2-core machine, never a fixed sleep


def _config(**train):
    return load_config(PRESET).replace(
        data={"n": 600}, sampler={"n_steps": 3}, buffer={"capacity": 256},
        train={"iterations": 400, "batch_size": 32, "eval_every": 10**6, "samples_every": 5,
               "checkpoint_every": 5, **train})


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, numbered_run_dirs):
    dialogs: list[str] = []  # the dialog path, recorded instead of blocking on a modal box
    monkeypatch.setattr(mw.QMessageBox, "warning", lambda parent, title, text: dialogs.append(text))
    w = mw.MainWindow(_config(), settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    w.setProperty("assume_yes", True)
    w.dialogs = dialogs
    w.log_lines = []
    w.session.message.connect(lambda level, text: w.log_lines.append((level, text)))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.session.state == "paused", timeout=WAIT)
    yield w
    w.close()


def _errors(w) -> list[str]:
    return [text for level, text in w.log_lines if level == "error"]


def _usable_after_a_failed_step(w) -> None:
    assert w.session.state == "error"
    assert w.train_action.isEnabled() and w.step_action.isEnabled() and w.reset_action.isEnabled()
    assert w.train_action.text() == "Train"
    assert "error" in w.state_label.text()


def test_an_exception_in_a_step_is_shown_logged_and_training_resumes(qtbot, window, monkeypatch):
    s = window.session
    window.toggle_training()
    qtbot.waitUntil(lambda: s.iteration >= 3, timeout=WAIT)
    real_step = Trainer.step

    def broken(self):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(Trainer, "step", broken)
    qtbot.waitUntil(lambda: s.state == "error", timeout=WAIT)
    stopped_at = s.iteration
    assert any("Training stopped: RuntimeError: injected failure" in d for d in window.dialogs)
    assert any("Traceback" in e and "injected failure" in e for e in _errors(window))  # details in the log
    _usable_after_a_failed_step(window)

    monkeypatch.setattr(Trainer, "step", real_step)  # the cause is gone: Train goes on from where it was
    window.toggle_training()
    qtbot.waitUntil(lambda: s.iteration >= stopped_at + 3, timeout=WAIT)
    window.toggle_training()
    qtbot.waitUntil(lambda: s.state == "paused", timeout=WAIT)
    its = s.history.series("loss")[0]
    np.testing.assert_array_equal(its, np.arange(1, len(its) + 1))  # no iteration lost or repeated


def test_a_run_that_diverges_at_once_reports_it_and_can_be_reset(qtbot, window):
    s = window.session
    window.start_run(_config(lr=5.0, max_energy=1e-3))
    qtbot.waitUntil(lambda: s.state == "paused", timeout=WAIT)
    window.step_once()
    qtbot.waitUntil(lambda: s.state == "error", timeout=WAIT)
    assert any("diverged at iteration 1" in d and "train.max_energy" in d for d in window.dialogs)
    assert any("diverged" in e for e in _errors(window))
    _usable_after_a_failed_step(window)
    window.reset_run()  # starts the experiment over, with a fresh worker
    qtbot.waitUntil(lambda: s.state == "paused", timeout=WAIT)
    assert s.iteration == 0 and window.train_action.isEnabled()


def test_a_data_file_that_vanishes_fails_cleanly_and_reset_retries(qtbot, window, tmp_path):
    s = window.session
    path = tmp_path / "points.csv"
    rng = np.random.default_rng(0)
    path.write_text("x,y\n" + "\n".join(f"{a:.4f},{b:.4f}" for a, b in rng.normal(size=(200, 2))))
    config = window.session.config.replace(data={"name": "file", "path": str(path), "format": ""})
    path.unlink()  # gone before the worker reads it
    window.start_run(config)
    qtbot.waitUntil(lambda: s.state == "failed", timeout=WAIT)
    assert any(str(path) in d and "no such file" in d for d in window.dialogs)
    assert any(str(path) in e for e in _errors(window))
    # nothing to train: Train and Step are off, Reset (which retries) and the menus stay on
    assert not window.train_action.isEnabled() and not window.step_action.isEnabled()
    assert window.reset_action.isEnabled() and "could not start" in window.state_label.text()
    window.toggle_training()  # a stray Space press does no harm
    path.write_text("x,y\n" + "\n".join(f"{a:.4f},{b:.4f}" for a, b in rng.normal(size=(200, 2))))
    window.reset_run()
    qtbot.waitUntil(lambda: s.state == "paused", timeout=WAIT)
    window.step_once()
    qtbot.waitUntil(lambda: s.iteration == 1, timeout=WAIT)


def test_a_failed_save_is_reported_and_training_goes_on(qtbot, window, monkeypatch):
    s = window.session

    def full_disk(self):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Trainer, "save", full_disk)
    window.step_once()
    qtbot.waitUntil(lambda: s.iteration == 1, timeout=WAIT)
    window.stop_training()  # pause + save: the save fails
    qtbot.waitUntil(lambda: any("Could not save the run" in d for d in window.dialogs), timeout=WAIT)
    assert any("No space left on device" in d for d in window.dialogs)
    assert s.state == "paused" and window.train_action.isEnabled()
    window.step_once()
    qtbot.waitUntil(lambda: s.iteration == 2, timeout=WAIT)


def test_a_resumed_run_whose_checkpoints_are_all_damaged_fails_cleanly(qtbot, window, tmp_path):
    s = window.session
    window.step_once()
    qtbot.waitUntil(lambda: s.iteration == 1, timeout=WAIT)
    run_dir = Path(s.run_dir)
    window.start_run(_config())  # another run: the first worker saves and ends
    qtbot.waitUntil(lambda: s.state == "paused" and s.run_dir != str(run_dir), timeout=WAIT)
    assert (run_dir / "model.safetensors").exists()
    for p in (run_dir / "checkpoints").glob("ckpt-*.safetensors"):
        p.write_bytes(p.read_bytes()[:100])
    window.open_experiment(str(run_dir))
    qtbot.waitUntil(lambda: s.state == "failed", timeout=WAIT)
    assert any("no intact checkpoint" in d for d in window.dialogs)
    assert window.reset_action.isEnabled() and not window.train_action.isEnabled()
