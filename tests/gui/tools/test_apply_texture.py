"""The texture window: a fully convolutional energy paints a canvas larger than its training crops."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from engine.applications.models import open_model
from engine.applications.texture import synthesize
from gui.tools.texture_window import TextureWindow, shipped_texture_model

from .apply_helpers import run_to_end, tiny_texture_model


@pytest.fixture
def window(qtbot):
    w = TextureWindow()
    qtbot.addWidget(w)
    w.show()
    return w


def test_opens_on_a_texture_model_or_says_there_is_none(window):
    default = shipped_texture_model()
    if default is None:  # none shipped (yet): the status line says what to do
        assert "texture" in window.status.text() and window.job is None
    else:
        assert window.model_picker.reference() == default and window.status.text() == ""


def test_synthesises_a_canvas_larger_than_the_crops(window, qtbot, tmp_path):
    ref = tiny_texture_model(tmp_path)
    window.model_picker.set_value(ref)
    assert window.status.text() == "" and window.height_box.minimum() == 8
    assert "8×8 crops" in window.model_picker.info.text()
    window.height_box.setValue(16)
    window.width_box.setValue(20)
    window.steps.setValue(4)
    window.frames.setValue(3)
    run = run_to_end(qtbot, window)
    assert run is not None, window.status.text()
    assert run.canvas.shape == (1, 1, 16, 20) and run.reference is None
    # the same call by hand gives the same texture: the window runs the engine's synthesize
    r = synthesize(open_model(ref), size=(16, 20), n=1, n_steps=4, n_frames=3, seed=0)
    np.testing.assert_allclose(run.canvas, r.canvas, rtol=1e-6, atol=1e-6)
    assert (window.canvas_view.rows, window.canvas_view.cols) == (1, 1)
    assert window.film.cols == len(run.steps) and not window.reference_view.isVisible()
    curve = window.energy_plot.getPlotItem().listDataItems()[0]
    np.testing.assert_allclose(curve.getData()[1], run.energies)
    names = [p.split("/")[-1] for p in window.save_to(str(tmp_path))]
    assert names == ["texture.png", "texture_filmstrip.png"]


def test_a_model_that_is_not_fully_convolutional_is_a_status_error(window):
    window.model_picker.set_value("digits_convnet")
    assert "not a texture model" in window.status.text()
    window.start()
    assert window.job is None and "fully convolutional" in window.status.text()
