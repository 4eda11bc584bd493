"""The OOD window: two energy histograms on shared bins, the AUROC and the 95%-TPR threshold."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from engine.applications.inputs import load_inputs
from engine.applications.models import open_model
from engine.metrics import ood_auroc
from gui.tools.ood_window import IN_COLOR, OUT_COLOR, OODWindow

from .apply_helpers import run_to_end, tiny_2d_model


@pytest.fixture
def window(qtbot):
    w = OODWindow()
    qtbot.addWidget(w)
    w.show()
    return w


def test_histograms_auroc_and_threshold(window, qtbot, tmp_path):
    assert window.model_picker.reference() == "digits_convnet"
    assert (window.in_data.value(), window.out_data.value()) == ("builtin_digits", "builtin_shapes")
    window.n.setValue(40)
    window.bins.setValue(12)
    run = run_to_end(qtbot, window)
    assert run is not None, window.status.text()
    r = run.result
    # independent check: the energies of the same inputs from a fresh model, and the AUROC from them
    opened = open_model("digits_convnet")
    x_in, _ = load_inputs("builtin_digits", 40, opened.input_shape, opened.value_range, 0)
    np.testing.assert_allclose(r.energy_in, opened.model.energy(x_in), rtol=1e-5, atol=1e-6)
    assert r.auroc == pytest.approx(ood_auroc(r.energy_in, r.energy_out))
    curves = window.plot.getPlotItem().listDataItems()
    assert len(curves) == 2
    for curve, counts, color in zip(curves, (r.hist_in, r.hist_out), (IN_COLOR, OUT_COLOR)):
        x, y = curve.getData()
        np.testing.assert_array_equal(x, r.bin_edges)  # shared bins
        np.testing.assert_array_equal(y, counts)
        assert curve.opts["pen"].color().name().upper() == color.upper()
    assert r.hist_in.sum() == 40 and r.hist_out.sum() == 40 and len(r.bin_edges) == 13
    labels = [label.text for _, label in window.legend.items]
    assert labels == ["builtin_digits (in, 40)", "builtin_shapes (other, 40)"]
    assert window.threshold.isVisible() and window.threshold.value() == pytest.approx(r.threshold)
    assert (r.energy_in <= r.threshold).mean() >= 0.95
    assert r.fpr == pytest.approx((r.energy_out <= r.threshold).mean())
    assert f"FPR {100 * r.fpr:.1f}%" in window.threshold.label.format
    assert f"AUROC <b>{r.auroc:.3f}</b>" in window.summary.text()
    paths = window.save_to(str(tmp_path))
    assert (tmp_path / "ood_histogram.png").stat().st_size > 1000
    lines = (tmp_path / "ood_histogram.csv").read_text().splitlines()
    assert len(lines) == 13 and paths[1].endswith(".csv")


def test_a_2d_model_defaults_to_its_density_against_noise(window, qtbot, tmp_path):
    window.model_picker.set_value(tiny_2d_model(tmp_path))
    assert window.out_data.value() == "noise" and window.in_data.value() == "8gaussians"
    window.n.setValue(50)
    run = run_to_end(qtbot, window)
    assert run is not None and len(run.result.energy_in) == 50, window.status.text()


def test_inputs_the_model_cannot_read_are_a_status_error(window, qtbot):
    window.in_data.set_value("rings")  # 2D points for an image model
    window.n.setValue(20)
    assert run_to_end(qtbot, window) is None
    assert "2D point set" in window.status.text() and "(1, 28, 28)" in window.status.text()
    window.out_data.set_value("rings")
    previous = window.job
    window.start()
    assert window.job is previous and not window.running and "the same set" in window.status.text()
