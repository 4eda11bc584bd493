"""The class-conditional window: a grid with one row per class of the shipped JEM, checked by its classifier."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from gui.tools.apply_common import MISMATCH
from gui.tools.conditional_window import ConditionalWindow, parse_classes

from .apply_helpers import run_to_end


@pytest.fixture
def window(qtbot):
    w = ConditionalWindow()
    qtbot.addWidget(w)
    w.show()
    return w


def test_one_row_per_class_with_the_classifiers_reading(window, qtbot):
    assert window.model_picker.reference() == "jem_digits" and window.n_per_class.value() == 8
    assert "JEM classifier, 10 classes" in window.model_picker.info.text()
    window.n_per_class.setValue(2)
    window.steps.setValue(2)
    window.frames.setValue(2)
    grid = run_to_end(qtbot, window)
    assert grid is not None, window.status.text()
    r = grid.result
    assert r.samples.shape == (10, 2, 1, 28, 28)
    view = window.grid
    assert (view.rows, view.cols) == (10, 2) and len(view.row_titles) == 10
    assert view.row_titles[3].startswith("3 ")
    match = (r.predicted == r.classes[:, None]).reshape(-1)
    assert view.outlined == [i for i in range(20) if not match[i]]  # exactly the mismatches are framed
    assert view.captions[0] == f"{r.predicted[0, 0]} {r.confidence[0, 0]:.2f}"
    assert (window.film.rows, window.film.cols) == (10, 2)
    assert f"{100 * r.agreement:.1f}%" in window.summary.text()


def test_a_subset_of_classes_and_the_colour_of_mismatches(window, qtbot):
    window.classes.setText("1, 7")
    window.n_per_class.setValue(3)
    window.steps.setValue(1)
    window.frames.setValue(2)
    grid = run_to_end(qtbot, window)
    assert grid is not None, window.status.text()
    assert list(grid.result.classes) == [1, 7] and window.grid.rows == 2
    # one step from noise: the classifier's readings are what they are; their colours must follow them
    items = [i for i in window.grid._items if hasattr(i, "textItem") and i.textItem.toPlainText() in window.grid.captions]
    assert len(items) == 6
    match = (grid.result.predicted == grid.result.classes[:, None]).reshape(-1)
    for item, m in zip(items, match):
        assert (item.color.name().upper() == MISMATCH) == (not m)


def test_a_non_jem_model_and_bad_classes_are_status_errors(window):
    window.classes.setText("3, 12")
    window.start()
    assert window.job is None and "classes 0 to 9" in window.status.text()
    window.model_picker.set_value("digits_convnet")
    assert "needs a JEM" in window.status.text()
    window.start()
    assert window.job is None and "needs a JEM" in window.status.text()


def test_parse_classes():
    assert parse_classes(" all ", 4) is None and parse_classes("", 4) is None
    assert parse_classes("2;0 2", 4) == [0, 2]
    for bad in ("x", "4", "-1"):
        with pytest.raises(Exception, match="classes"):
            parse_classes(bad, 4)
