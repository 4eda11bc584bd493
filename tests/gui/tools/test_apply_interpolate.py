"""The interpolate window: a path between two digits (image model) or two points (2D model)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from gui.tools.interpolate_window import InterpolateWindow

from .apply_helpers import run_to_end, tiny_2d_model


@pytest.fixture
def window(qtbot):
    w = InterpolateWindow()
    qtbot.addWidget(w)
    w.show()
    return w


def test_digits_path_before_and_after_refinement(window, qtbot, tmp_path):
    assert window.model_picker.reference() == "digits_convnet" and window.pool is not None
    assert window.pool_view.outlined == [0, 1] and window.pool_view.captions[:3] == ["A", "B", "2"]
    window.index_b.setValue(5)
    assert window.pool_view.outlined == [0, 5]
    window.n.setValue(5)
    window.refine.setValue(3)
    r = run_to_end(qtbot, window)
    assert r is not None, window.status.text()
    a, b = window.pool[0], window.pool[5]
    np.testing.assert_allclose(r.linear[2], 0.5 * (a + b), atol=1e-6)  # the straight line's midpoint
    np.testing.assert_array_equal(r.refined[[0, -1]], np.stack([a, b]))  # ends held fixed
    assert not np.allclose(r.refined[1:-1], r.linear[1:-1])
    assert r.energy_refined[0] == pytest.approx(r.energy_linear[0], rel=1e-5)
    assert (window.path_view.rows, window.path_view.cols) == (2, 5)
    assert window.path_view.row_titles == ["line", "refined"]
    curves = window.energy_plot.getPlotItem().listDataItems()
    assert len(curves) == 2
    np.testing.assert_allclose(curves[0].getData()[1], r.energy_linear)
    np.testing.assert_allclose(curves[1].getData()[1], r.energy_refined)
    assert "after refinement" in window.summary.text()
    names = [p.split("/")[-1] for p in window.save_to(str(tmp_path))]
    assert names == ["interpolation.png", "interpolation_energy.png"]


def test_2d_model_walks_between_points_on_its_landscape(window, qtbot, tmp_path):
    window.model_picker.set_value(tiny_2d_model(tmp_path))
    assert window.is_2d and window.pages.currentWidget() is window.landscape
    assert not window.form.isRowVisible(window.index_a) and window.form.isRowVisible(window._point_rows[0])
    for box, v in zip(window.point_a + window.point_b, (-2.0, 0.0, 2.0, 1.0)):
        box.setValue(v)
    window.n.setValue(6)
    window.refine.setValue(4)
    r = run_to_end(qtbot, window)
    assert r is not None and r.landscape is not None, window.status.text()
    x, y = window.linear_curve.getData()
    np.testing.assert_allclose(x, np.linspace(-2, 2, 6), atol=1e-6)
    np.testing.assert_allclose(y, np.linspace(0, 1, 6), atol=1e-6)
    assert len(window.refined_curve.getData()[0]) == 6
    xs, ys, z = r.landscape
    assert z.shape == (len(ys), len(xs)) and window.landscape.image.image.shape == z.shape
    names = [p.split("/")[-1] for p in window.save_to(str(tmp_path))]
    assert names == ["interpolation_landscape.png", "interpolation_energy.png"]


def test_an_unreadable_image_set_is_a_status_error(window, tmp_path):
    path = tmp_path / "points.npy"
    np.save(path, np.zeros((10, 2), np.float32))
    window.images.set_value(str(path))
    assert "holds samples of shape (2,)" in window.status.text()
    window.start()
    assert window.job is None and "no images loaded" in window.status.text()
