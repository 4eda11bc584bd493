"""The compose window: rows of models with weights, samples of the weighted sum, its landscape (2D)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from engine.applications.compose import compose, density_on_grid
from engine.applications.models import open_model
from gui.tools.compose_window import GRID, ComposeWindow

from .apply_helpers import WAIT, run_to_end, tiny_2d_model


@pytest.fixture
def window(qtbot):
    w = ComposeWindow()
    qtbot.addWidget(w)
    w.show()
    return w


@pytest.fixture
def two_points_models(tmp_path):
    return tiny_2d_model(tmp_path, seed=1), tiny_2d_model(tmp_path, seed=2)


def test_rows_can_be_added_and_removed(window, two_points_models):
    window.set_rows([(two_points_models[0], 1.0)])
    assert len(window.rows) == 1
    window.add_button.click()
    assert len(window.rows) == 2
    window.rows[1].picker.set_value(two_points_models[1])
    window.rows[1].weight.setValue(-0.5)
    assert "- 0.5 * points2d_2" in window.formula.text()
    window.rows[0].remove.click()
    assert len(window.rows) == 1 and window.rows[0].picker.reference().endswith("points2d_2.safetensors")


def test_2d_composition_shows_its_landscape_and_samples(window, qtbot, two_points_models, tmp_path):
    a, b = two_points_models
    window.set_rows([(a, 1.0), (b, -0.5)])
    window.n.setValue(60)
    window.steps.setValue(6)
    run = run_to_end(qtbot, window)
    assert run is not None, window.status.text()
    assert window.pages.currentWidget() is window.landscape
    lo, hi = run.value_range
    assert run.samples.shape == (60, 2) and run.samples.min() >= lo and run.samples.max() <= hi
    x, y = window.scatter.getData()
    np.testing.assert_array_equal(np.stack([x, y], 1), run.samples)
    # independent check: the composed density from freshly opened models
    _, _, p = density_on_grid(compose([(open_model(a), 1.0), (open_model(b), -0.5)]), resolution=GRID)
    np.testing.assert_allclose(run.landscape[2], p, rtol=1e-6)
    shown = window.landscape.image.image
    expected = -np.log(p)
    np.testing.assert_allclose(shown, expected - expected.min(), rtol=1e-4, atol=1e-4)  # Energy = -log p + c
    window.show_as.setCurrentText("Density")
    np.testing.assert_allclose(window.landscape.image.image, p, rtol=1e-5)
    assert "1 * points2d_1 - 0.5 * points2d_2" in window.summary.text()
    saved = window.save_to(str(tmp_path))
    assert saved[0].endswith("compose_landscape.png") and (tmp_path / "compose_landscape.png").stat().st_size > 1000


def test_image_models_give_a_grid(window, qtbot):
    window.set_rows([("digits_convnet", 1.0), ("digits_convnet", -0.2)])
    window.n.setValue(4)
    window.steps.setValue(2)
    run = run_to_end(qtbot, window)
    assert run is not None, window.status.text()
    assert window.pages.currentWidget() is window.grid and (window.grid.rows, window.grid.cols) == (2, 2)
    assert run.samples.shape == (4, 1, 28, 28)


def test_models_of_different_shapes_are_a_status_error(window, tmp_path):
    window.set_rows([(tiny_2d_model(tmp_path), 1.0), ("digits_convnet", 1.0)])
    assert "same shape" in window.status.text()
    window.start()
    assert window.job is None and "same shape" in window.status.text()
    window.set_rows([])
    window.start()
    assert "no models" in window.status.text()


def test_stop_ends_a_long_composition(window, qtbot, two_points_models):
    window.set_rows([(two_points_models[0], 1.0), (two_points_models[1], 1.0)])
    window.n.setValue(500)
    window.steps.setValue(100000)
    window.start()
    qtbot.waitUntil(lambda: window.progress_bar.value() > 0, timeout=WAIT)
    window.stop()
    qtbot.waitUntil(lambda: not window.running and window.run_button.isEnabled(), timeout=WAIT)
    assert window.status.text() == "stopped" and window.result is None
