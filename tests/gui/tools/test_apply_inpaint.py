"""The inpaint/denoise window: paint a mask with the mouse, fill it with the shipped digits model."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from gui.tools.inpaint_window import DENOISE, INPAINT, InpaintWindow

from .apply_helpers import WAIT, run_to_end, tiny_2d_model


@pytest.fixture
def window(qtbot):
    w = InpaintWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.steps.setValue(4)
    w.frames.setValue(3)
    w.chains.setValue(2)
    return w


def test_opens_ready_with_the_shipped_model_and_a_preset_mask(window):
    assert window.model_picker.reference() == "digits_convnet"
    assert window.preset_picker.current().name in ("denoise_digits", "inpaint_digits")
    window.preset_picker.choose("inpaint_digits")
    assert window.mode == INPAINT and window.pool is not None and window.pool.shape[1:] == (1, 28, 28)
    m = window.canvas.mask
    assert m.any() and m[14, 14] and not m[0, 0]  # the preset's centre square
    assert "trained on builtin_digits" in window.model_picker.info.text()


def test_a_mouse_drag_paints_the_pixels_it_covers(window, qtbot):
    window.preset_picker.choose("inpaint_digits")
    window.preset_mask("clear")
    assert not window.canvas.mask.any()
    window.brush.setValue(1)
    c = window.canvas
    start, end = c.to_widget(5, 4).toPoint(), c.to_widget(5, 20).toPoint()
    QTest.mousePress(c, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for col in (8, 12, 16, 20):  # a drag in a few moves; the stroke between them is filled in
        QTest.mouseMove(c, c.to_widget(5, col).toPoint())
    QTest.mouseRelease(c, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    m = c.mask
    assert m[5, 4:21].all()  # every pixel under the stroke
    rows, cols = np.nonzero(m)
    assert rows.min() >= 4 and rows.max() <= 6 and cols.min() >= 3 and cols.max() <= 21  # and only near it
    QTest.mouseClick(c, Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, c.to_widget(5, 12).toPoint())
    assert not c.mask[5, 12] and c.mask[5, 4]  # the right button erases
    assert "pixels" in window.mask_info.text()


def test_run_fills_only_the_painted_region_and_saves_pngs(window, qtbot, tmp_path):
    window.preset_picker.choose("inpaint_digits")
    window.steps.setValue(4)
    window.frames.setValue(3)
    window.chains.setValue(2)
    r = run_to_end(qtbot, window)
    assert r is not None, window.status.text()
    assert window.status.text() == "done"
    m = r.mask
    assert r.filled.shape == (2, 1, 28, 28) and r.filmstrip.shape == (3, 2, 1, 28, 28)
    np.testing.assert_array_equal(r.filled[:, ~m], r.truth[:, ~m])  # known pixels never move
    assert not np.allclose(r.filled[:, m], r.corrupted[:, m])
    assert r.mse_before == pytest.approx(np.mean((r.corrupted[:, m] - r.truth[:, m]) ** 2.0), rel=1e-5)
    view = window.result_view
    assert (view.rows, view.cols) == (1, 4) and view.captions[:2] == ["original", "corrupted"]
    assert (window.film_view.rows, window.film_view.cols) == (2, 3)
    assert "→" in window.mse_label.text() and f"{r.mse_after:.4f}" in window.mse_label.text()
    assert len(window.energy_plot.getPlotItem().listDataItems()) == 2
    paths = window.save_to(str(tmp_path))
    assert [p.split("/")[-1] for p in paths] == ["inpaint_result.png", "inpaint_filmstrip.png"]
    assert all((tmp_path / p.split("/")[-1]).stat().st_size > 100 for p in paths)


def test_denoise_mode_starts_from_the_noisy_copy(window, qtbot):
    window.preset_picker.choose("denoise_digits")
    window.steps.setValue(3)
    window.frames.setValue(2)
    assert window.mode == DENOISE and not window.canvas.editable and window.canvas.overlay is not None
    r = run_to_end(qtbot, window)
    assert r is not None and r.task == DENOISE, window.status.text()
    np.testing.assert_array_equal(r.filmstrip[0], r.corrupted)
    np.testing.assert_allclose(r.corrupted[0], window.canvas.overlay, atol=1e-6)  # what the canvas previewed
    assert r.mse_after < r.mse_before  # 3 steps already remove noise (measured 0.086 -> 0.026)


def test_empty_mask_and_a_2d_model_give_status_errors(window, tmp_path):
    window.preset_picker.choose("inpaint_digits")
    window.preset_mask("clear")
    window.start()
    assert window.job is None and "paint the region" in window.status.text()
    window.model_picker.set_value(tiny_2d_model(tmp_path))
    assert "work on images" in window.status.text() and "2-D points" in window.status.text()
    window.start()
    assert window.job is None and "digits_convnet" in window.status.text()


def test_stop_ends_a_long_run(window, qtbot):
    window.preset_picker.choose("inpaint_digits")
    window.steps.setValue(5000)
    window.chains.setValue(1)
    window.start()
    qtbot.waitUntil(lambda: window.progress_bar.value() > 0, timeout=WAIT)
    window.stop()
    qtbot.waitUntil(lambda: not window.running and window.run_button.isEnabled(), timeout=WAIT)
    assert window.status.text() == "stopped" and window.result is None
