"""The real main window, driven offscreen: train, pause, step, chains, exports, save and reopen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings  # noqa: E402

from engine.models.io import load_model  # noqa: E402
from engine.training.config import load_config  # noqa: E402
from gui import main_window as mw  # noqa: E402
from gui import worker  # noqa: E402

PRESET = Path(mw.PRESET_DIR) / "8gaussians.toml"
WAIT = 60_000  # ms; generous on a loaded 2-core machine, never a fixed sleep


def _small_config(**train):
    return load_config(PRESET).replace(
        data={"n": 1500},
        sampler={"n_steps": 5},
        buffer={"capacity": 1000},
        train={"iterations": 40, "batch_size": 64, "eval_every": 10, "samples_every": 5, "checkpoint_every": 10,
               **train},
    )


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, numbered_run_dirs):
    monkeypatch.setattr(mw, "CHAIN_STEPS", 30)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = mw.MainWindow(_small_config(), settings=settings)
    w.setProperty("quiet_errors", True)
    w.setProperty("assume_yes", True)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.session.state == "paused", timeout=WAIT)
    yield w
    w.close()


def _train_until(qtbot, w, iteration: int) -> None:
    w.toggle_training()
    qtbot.waitUntil(lambda: w.session.iteration >= iteration, timeout=WAIT)
    w.toggle_training()
    qtbot.waitUntil(lambda: w.session.state == "paused", timeout=WAIT)


def test_opens_on_the_default_experiment_with_data_and_landscape(qtbot, window):
    s = window.session
    assert s.data_preview is not None and s.data_preview.shape[1] == 2
    qtbot.waitUntil(lambda: s.landscape is not None, timeout=WAIT)
    n = worker.LANDSCAPE_RESOLUTION
    assert s.landscape.energy.shape == (n, n)
    assert "numpy" in window.backend_label.text() or "cupy" in window.backend_label.text()


def test_train_pause_step_update_the_plots_and_status(qtbot, window):
    s = window.session
    _train_until(qtbot, window, 12)
    it = s.iteration
    assert len(s.history.series("loss")[0]) == it
    assert s.samples is not None and s.samples.shape[1] == 2
    assert window.progress_bar.value() == it
    assert "Train" in window.train_action.text()
    window.step_once()
    qtbot.waitUntil(lambda: s.iteration == it + 1, timeout=WAIT)
    assert np.isfinite(s.history.series("loss")[1]).all()


def test_clicking_the_landscape_starts_a_chain(qtbot, window):
    window.landscape_view.chain_requested.emit(1.0, -0.5)
    qtbot.waitUntil(lambda: window.session.chain is not None, timeout=WAIT)
    chain = window.session.chain
    assert chain.states.shape == (mw.CHAIN_STEPS + 1, 2)
    np.testing.assert_allclose(chain.states[0], [1.0, -0.5], atol=1e-6)
    assert chain.energies.shape == (mw.CHAIN_STEPS + 1,)


def test_exports_figure_curves_samples_and_model(qtbot, window, tmp_path):
    _train_until(qtbot, window, 6)
    out = tmp_path / "out"
    out.mkdir()
    window.tabs.setCurrentWidget(window.landscape_view)
    window.export_figure("png", str(out / "landscape.png"), width=800)
    window.export_figure("svg", str(out / "landscape.svg"))
    window.tabs.setCurrentWidget(window.curves_view)
    window.export_figure("png", str(out / "curves.png"), width=640)
    window.export_curves(str(out / "curves.csv"))
    window.export_samples("npy", str(out / "samples.npy"))
    window.export_model("safetensors", str(out / "model.safetensors"))
    window.export_model("onnx", str(out / "model.onnx"))
    qtbot.waitUntil(lambda: (out / "model.onnx").exists() and (out / "model.safetensors").exists(), timeout=WAIT)
    for name in ("landscape.png", "landscape.svg", "curves.png", "curves.csv", "samples.npy"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "landscape.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert load_model(out / "model.safetensors").input_shape == (2,)
    assert "iteration" in (out / "curves.csv").read_text().splitlines()[0]


def test_save_and_reopen_restores_the_run_and_training_goes_on(qtbot, window, tmp_path):
    s = window.session
    _train_until(qtbot, window, 10)
    target = tmp_path / "saved-experiment"
    window.save_experiment_to(str(target))
    qtbot.waitUntil(lambda: (target / "config.toml").exists() and (target / "model.safetensors").exists(),
                    timeout=WAIT)
    saved_iteration = s.iteration
    window.open_experiment(str(target))
    qtbot.waitUntil(lambda: s.state == "paused" and s.iteration == saved_iteration, timeout=WAIT)
    assert len(s.history.series("loss")[0]) == saved_iteration
    window.step_once()
    qtbot.waitUntil(lambda: s.iteration == saved_iteration + 1, timeout=WAIT)
    assert str(target) in (window.settings.value("recent") or [])


def test_changing_the_dataset_starts_a_new_run(qtbot, window):
    s = window.session
    _train_until(qtbot, window, 3)
    first = s.data_preview.copy()
    window.panel.dataset.setCurrentIndex(window.panel.dataset.findData("two_moons"))
    qtbot.waitUntil(lambda: s.config.data.name == "two_moons" and s.state == "paused" and s.data_preview is not None
                    and s.data_preview.shape == first.shape and not np.array_equal(s.data_preview, first),
                    timeout=WAIT)
    assert s.iteration == 0


def test_learning_rate_edits_reach_the_running_worker(qtbot, window):
    window.panel.lr.setValue(0.0005)
    qtbot.waitUntil(lambda: getattr(window.worker, "trainer", None) is not None
                    and abs(window.worker.trainer.optimizer.lr - 0.0005) < 1e-12, timeout=WAIT)
    assert window.session.iteration == 0  # no restart


def test_a_diverging_run_reports_the_error_and_stays_usable(qtbot, window):
    s = window.session
    errors = []
    s.message.connect(lambda level, text: errors.append(text) if level == "error" else None)
    window.start_run(_small_config(lr=5.0, max_energy=1e-3))
    qtbot.waitUntil(lambda: s.state == "paused", timeout=WAIT)
    window.toggle_training()
    qtbot.waitUntil(lambda: s.state == "error", timeout=WAIT)
    assert any("diverged" in e for e in errors)
    assert window.train_action.isEnabled() and window.chain_action.isEnabled()


def test_a_users_points_file_trains(qtbot, window, tmp_path):
    path = tmp_path / "points.csv"
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(-1.5, 0.3, (300, 2)), rng.normal(1.5, 0.3, (300, 2))])
    path.write_text("x,y\n" + "\n".join(f"{a:.5f},{b:.5f}" for a, b in points))
    s = window.session
    window.use_data_file(str(path))
    qtbot.waitUntil(lambda: s.config.data.name == "file" and s.state == "paused" and s.data_preview is not None
                    and len(s.data_preview) <= 600, timeout=WAIT)
    window.step_once()
    qtbot.waitUntil(lambda: s.iteration == 1, timeout=WAIT)
    assert s.landscape is not None
