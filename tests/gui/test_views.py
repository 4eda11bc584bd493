"""The views draw what the Session holds: canned data in, pyqtgraph items checked (no training)."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage

from engine.errors import EBMError
from engine.training.report import Report
from gui.session import Chain, CurveHistory, Landscape, Session
from gui.views import (
    ChainView,
    CurvesView,
    DataPreview,
    LandscapeView,
    LogView,
    SamplesView,
    Throttle,
    ema_debiased,
    export_png,
    export_svg,
)
from gui.views.common import experiment_kind
from gui.views.landscape_view import display_levels, image_rect
from gui.views.tiles import evenly_spaced, tile_images, to_uint8

# --- canned data ---------------------------------------------------------------------------


def _points(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 8, n)
    ang = k * 2 * np.pi / 8
    return 2 * np.stack([np.cos(ang), np.sin(ang)], 1) + 0.2 * rng.standard_normal((n, 2)), k


def _landscape(box=(-3.0, 2.0, -1.0, 4.0), nx: int = 24, ny: int = 16, iteration: int = 7) -> Landscape:
    """A non-square grid over an off-centre box: any transposition or offset shows."""
    x0, x1, y0, y1 = box
    hx, hy = (x1 - x0) / nx, (y1 - y0) / ny
    xs = x0 + hx * (np.arange(nx) + 0.5)
    ys = y0 + hy * (np.arange(ny) + 0.5)
    gx, gy = np.meshgrid(xs, ys)
    e = 0.5 * ((gx + 0.5) ** 2 + 2 * (gy - 1.5) ** 2)
    m = float((-e).max())
    log_z = m + math.log(float(np.exp(-e - m).sum())) + math.log(hx * hy)
    return Landscape(iteration, e, xs, ys, log_z)


def _reports(n: int, *, acceptance: bool = False, accuracy: bool = False, val_every: int = 0,
             samples: np.ndarray | None = None, seed: int = 0) -> list[Report]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(1, n + 1):
        metrics = {}
        if val_every and i % val_every == 0:
            metrics = {"nll": 3 + 1 / i, "true_nll": 2.9, "kl": 0.1 + 1 / i, "mmd": 0.01 + 0.1 / i}
        out.append(Report(i, float(np.exp(-i / 50) + 0.1 * rng.standard_normal()), float(-i / n),
                          float(1 - i / n + 0.1 * rng.standard_normal()), float(1 + rng.random()), 1e-3, 0.01,
                          acceptance=float(0.5 + 0.1 * rng.random()) if acceptance else None,
                          accuracy=float(i / n) if accuracy else None, metrics=metrics,
                          samples=samples if i == n else None))
    return out


def _images(n: int = 64, c: int = 1, size: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n, c, size, size)).astype(np.float32)


def _history(reports: list[Report]) -> CurveHistory:
    h = CurveHistory()
    for r in reports:
        h.add(r.iteration, {k: v for k, v in r.scalars().items() if k != "iteration"})
    return h


def _tensorboard_smooth(values, weight):
    """TensorBoard's scalar smoothing, written as the dashboard does it (the reference)."""
    last, count, out = 0.0, 0, []
    for v in values:
        if not math.isfinite(v):
            out.append(v)
            continue
        last = last * weight + (1 - weight) * v
        count += 1
        out.append(last / (1 - weight ** count) if weight > 0 else v)
    return np.array(out)


@pytest.fixture
def session(qtbot):
    return Session()


def _show(qtbot, widget, size=(600, 480)):
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


# --- helpers -------------------------------------------------------------------------------


def test_throttle_coalesces_a_burst_into_one_call(qtbot):
    calls = []
    throttle = Throttle(lambda: calls.append(1), interval_ms=5)
    for _ in range(100):
        throttle.request()
    assert throttle.pending and calls == []
    qtbot.waitUntil(lambda: len(calls) == 1, timeout=2000)
    assert not throttle.pending
    throttle.request()
    throttle.flush()  # now, and the pending one is cancelled
    assert len(calls) == 2 and not throttle.pending


def test_view_redraws_once_for_many_signals(qtbot, session):
    view = CurvesView(session)
    qtbot.addWidget(view)
    before = view.throttle.count
    for r in _reports(30):
        session.add_reports([r])
    qtbot.waitUntil(lambda: view.throttle.count == before + 1, timeout=2000)
    assert len(view.curves["loss"][1].getData()[0]) == 30


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.6, 0.9, 0.99])
@pytest.mark.parametrize("n", [1, 5, 255, 256, 700, 5000])
def test_ema_debiased_matches_tensorboard(weight, n):
    values = np.random.default_rng(n).standard_normal(n) * 3 + np.linspace(5, 0, n)
    if n > 10:
        values[[3, n // 2]] = np.nan
        values[n // 3] = np.inf
    got = ema_debiased(values, weight)
    want = _tensorboard_smooth(values, weight)
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))
    np.testing.assert_allclose(got[np.isfinite(got)], want[np.isfinite(want)], rtol=1e-10, atol=1e-10)


def test_ema_debiased_first_value_is_unbiased():
    assert ema_debiased(np.array([4.0, 4.0, 4.0]), 0.9) == pytest.approx([4.0, 4.0, 4.0])


def test_tiles_grid_gaps_and_colour():
    imgs = np.stack([np.full((1, 3, 2), v, np.float32) for v in (-1.0, 0.0, 1.0, 0.5, -0.5)])
    pic = tile_images(imgs, (-1, 1), gap=1)
    assert pic.shape == (2 * 4 - 1, 3 * 3 - 1) and pic.dtype == np.uint8  # 3 columns, 2 rows
    assert pic[0, 0] == 0 and pic[0, 3] == 128 and pic[0, 6] == 255 and pic[4, 0] == 191
    assert pic[3, 0] == pic[0, 2] == pic[4, 6] == 96  # the gaps and the empty last cell
    rgb = tile_images(_images(4, c=3, size=5), (-1, 1), gap=2)
    assert rgb.shape == (12, 12, 3)
    assert to_uint8(np.array([[[[np.nan, 9.0]]]]), (-1, 1)).tolist() == [[[0, 255]]]
    assert evenly_spaced(60, 10).tolist() == [0, 7, 13, 20, 26, 33, 39, 46, 52, 59]
    assert evenly_spaced(3, 10).tolist() == [0, 1, 2]


def test_experiment_kind(session):
    assert experiment_kind(session) == "none"
    session.set_data(_points()[0], None, None, (-3, 3))
    assert experiment_kind(session) == "2d"
    session.set_data(_images(), None, None, (-1, 1))
    assert experiment_kind(session) == "image"


# --- LandscapeView ---------------------------------------------------------------------------


def test_landscape_image_geometry(qtbot, session):
    view = LandscapeView(session)
    qtbot.addWidget(view)
    ls = _landscape()
    session.set_data(_points()[0], None, (-3.0, 2.0, -1.0, 4.0), (-3, 3))
    session.set_landscape(ls)
    view.refresh()
    assert view.image.image.shape == (16, 24)
    rect = view.image.mapRectToView(view.image.boundingRect())
    assert (rect.left(), rect.right(), rect.top(), rect.bottom()) == pytest.approx((-3.0, 2.0, -1.0, 4.0))
    for i, j in [(0, 0), (0, 23), (15, 0), (9, 17)]:
        p = view.image.mapToView(QPointF(j + 0.5, i + 0.5))  # image x is the column, y the row
        assert (p.x(), p.y()) == pytest.approx((ls.xs[j], ls.ys[i]))
    np.testing.assert_allclose(view.image.image, ls.energy.astype(np.float32))
    r = image_rect(ls.xs, ls.ys)
    assert (r.x(), r.y(), r.width(), r.height()) == pytest.approx((-3.0, -1.0, 5.0, 5.0))


def test_landscape_modes_and_levels(qtbot, session):
    view = LandscapeView(session)
    qtbot.addWidget(view)
    ls = _landscape()
    session.set_landscape(ls)
    view.set_mode("Density")
    density = view.image.image.astype(np.float64)
    cell = (ls.xs[1] - ls.xs[0]) * (ls.ys[1] - ls.ys[0])
    assert density.sum() * cell == pytest.approx(1.0, rel=1e-5)
    assert view.colorbar.levels() == pytest.approx((0.0, density.max()), rel=1e-5)
    assert view.colorbar.colorMap().name == "viridis"
    view.set_mode("Log density")
    np.testing.assert_allclose(view.image.image, ls.log_density.astype(np.float32), rtol=1e-6)
    view.set_mode("Energy")
    assert view.colorbar.colorMap().name == "magma"
    lo, hi = display_levels(ls.energy, "Energy")
    assert lo == pytest.approx(ls.energy.min()) and hi < ls.energy.max()
    assert "iteration 7" in view.info_label.text()


def test_landscape_points_negatives_chain(qtbot, session):
    view = LandscapeView(session)
    qtbot.addWidget(view)
    pts, labels = _points(300)
    negatives = _points(64, seed=1)[0]
    session.set_data(pts, labels, (-3, 3, -3, 3), (-3, 3))
    session.add_reports(_reports(3, samples=negatives))
    states = np.cumsum(np.full((25, 2), 0.1), axis=0)
    session.set_chain(Chain(states, np.arange(25.0), "langevin"))
    view.refresh()
    assert len(view.data_scatter.data) == 300
    assert len(view.negatives_scatter.data) == 64
    np.testing.assert_allclose(view.negatives_scatter.data["x"], negatives[:, 0])
    x, y = view.chain_curve.getData()
    assert len(x) == 25 and y[-1] == pytest.approx(2.5)
    assert (view.chain_start.data["x"][0], view.chain_end.data["y"][0]) == pytest.approx((0.1, 2.5))
    labels_shown = [label.text for _, label in view.legend.items]
    assert labels_shown == ["data", "negatives x-", "chain", "chain start", "chain end"]
    assert view.stack.currentWidget() is view.plot_widget
    session.set_chain(None)
    view.refresh()
    assert len(view.chain_start.data) == 0 and "chain" not in [lb.text for _, lb in view.legend.items]


def test_landscape_shows_a_message_for_images(qtbot, session):
    view = LandscapeView(session)
    qtbot.addWidget(view)
    assert view.stack.currentWidget() is view.message
    session.set_data(_images(), None, None, (-1, 1))
    view.refresh()
    assert view.stack.currentWidget() is view.message and "2D" in view.message.text()


def test_landscape_click_requests_a_chain(qtbot, session):
    view = _show(qtbot, LandscapeView(session), (640, 560))
    session.set_data(_points()[0], None, (-3, 3, -3, 3), (-3, 3))
    session.set_landscape(_landscape((-3, 3, -3, 3), 32, 32))
    view.refresh()
    qtbot.wait(1)  # let the layout settle
    vb = view.plot.getViewBox()
    target = QPointF(1.25, -0.75)
    pos = view.plot_widget.mapFromScene(vb.mapViewToScene(target))
    with qtbot.waitSignal(view.chain_requested, timeout=2000) as blocker:
        qtbot.mouseClick(view.plot_widget.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    x, y = blocker.args
    pixel = vb.viewPixelSize()
    assert abs(x - 1.25) <= 1.5 * pixel[0] and abs(y + 0.75) <= 1.5 * pixel[1]
    with qtbot.assertNotEmitted(view.chain_requested, wait=10):
        qtbot.mouseClick(view.plot_widget.viewport(), Qt.MouseButton.RightButton, pos=pos)


# --- CurvesView --------------------------------------------------------------------------------


def test_curves_panels_follow_the_data(qtbot, session):
    view = CurvesView(session)
    qtbot.addWidget(view)
    assert view.visible_panels() == [] and view.stack.currentWidget() is view.message
    session.add_reports(_reports(40))
    view.refresh()
    assert view.visible_panels() == ["energy", "loss", "grad_norm"]
    assert view.plot_items() == [view.plots[k] for k in ("energy", "loss", "grad_norm")]
    session.add_reports([Report(41, 0.1, 0.0, 0.0, 1.0, 1e-3, 0.01, acceptance=0.6,
                                metrics={"nll": 3.0, "true_nll": 2.9, "kl": 0.1, "mmd": 0.02})])
    view.refresh()
    assert view.visible_panels() == ["energy", "loss", "grad_norm", "acceptance", "val_nll", "val_kl", "val_mmd"]
    session.set_config(session.config)  # a new experiment: panels go
    view.refresh()
    assert view.visible_panels() == []
    session.add_reports(_reports(10, accuracy=True))
    view.refresh()
    assert "accuracy" in view.visible_panels() and "acceptance" not in view.visible_panels()


def test_curves_data_and_smoothing(qtbot, session):
    view = CurvesView(session)
    qtbot.addWidget(view)
    session.add_reports(_reports(300, acceptance=True, val_every=50))
    view.set_smoothing(0.8)
    _, loss = session.history.series("loss")
    raw, smooth = view.curves["loss"]
    rx, ry = raw.getData()
    sx, sy = smooth.getData()
    assert len(rx) == len(sx) == 300 and raw.isVisible()
    np.testing.assert_allclose(ry, loss)
    np.testing.assert_allclose(sy, _tensorboard_smooth(loss, 0.8), rtol=1e-10)
    assert len(view.curves["e_neg"][1].getData()[0]) == 300
    # validation metrics: few points, drawn as they are
    vx, vy = view.curves["val_nll"][1].getData()
    assert vx.tolist() == [50, 100, 150, 200, 250, 300] and vy[0] == pytest.approx(3 + 1 / 50)
    assert view.curves["val_true_nll"][1].opts["pen"].style() == Qt.PenStyle.DashLine
    view.set_smoothing(0.0)
    np.testing.assert_allclose(view.curves["loss"][1].getData()[1], loss)
    assert not view.curves["loss"][0].isVisible()


def test_curves_log_y_only_where_positive(qtbot, session):
    view = CurvesView(session)
    qtbot.addWidget(view)
    session.add_reports(_reports(50, acceptance=True))
    view.set_log_y(True)
    assert view.plots["grad_norm"].getAxis("left").logMode
    assert view.plots["acceptance"].getAxis("left").logMode
    assert not view.plots["energy"].getAxis("left").logMode  # energies go negative
    view.set_log_y(False)
    assert not view.plots["grad_norm"].getAxis("left").logMode


def test_curves_comparisons_dashed_with_legend(qtbot, session):
    view = CurvesView(session)
    qtbot.addWidget(view)
    pressed = []
    view.compare_requested.connect(lambda: pressed.append(1))
    view.compare_button.click()
    assert pressed == [1]
    session.add_reports(_reports(60))
    session.comparisons["baseline"] = _history(_reports(40, seed=3))
    view.set_smoothing(0.0)
    item = view.comparison_curves[("baseline", "loss")]
    assert item.opts["pen"].style() == Qt.PenStyle.DashLine
    assert len(item.getData()[0]) == 40
    legend = [label.text for _, label in view.legends["loss"].items]
    assert legend == ["this run", "baseline"]
    energy_legend = [label.text for _, label in view.legends["energy"].items]
    assert "baseline: E(x+) data" in energy_legend
    del session.comparisons["baseline"]
    view.refresh()
    assert not view.comparison_curves and not view.legends["loss"].isVisible()
    assert item not in view.plots["loss"].listDataItems()


# --- SamplesView ---------------------------------------------------------------------------------


def test_samples_grid_grey_rgb_and_data_toggle(qtbot, session):
    view = SamplesView(session)
    qtbot.addWidget(view)
    session.set_data(_images(64, c=1, size=8, seed=1), None, None, (-1, 1))
    session.add_reports(_reports(12, samples=_images(16, c=1, size=8, seed=2)))
    view.refresh()
    assert view.stack.currentWidget() is view.graphics
    assert view.image.image.shape == (4 * 9 - 1, 4 * 9 - 1)
    assert "iteration 12" in view.caption.text()
    np.testing.assert_array_equal(view.image.image, tile_images(session.samples, (-1, 1)))
    view.show_data(True)
    assert view.image.image.shape == (8 * 9 - 1, 8 * 9 - 1) and "Training data" in view.caption.text()
    view.show_data(False)
    session.add_reports(_reports(1, samples=_images(9, c=3, size=5)))
    view.refresh()
    assert view.image.image.shape == (3 * 6 - 1, 3 * 6 - 1, 3)


def test_samples_view_shows_the_replay_buffer(qtbot, session):
    view = SamplesView(session)
    qtbot.addWidget(view)
    session.set_data(_images(16, c=1, size=8, seed=1), None, None, (-1, 1))
    view.show_mode("buffer")
    assert view.stack.currentWidget() is view.message and "buffer" in view.message.text()
    session.set_buffer_samples(_images(25, c=1, size=8, seed=3))
    view.refresh()
    assert view.stack.currentWidget() is view.graphics and "Replay buffer" in view.caption.text()
    np.testing.assert_array_equal(view.image.image, tile_images(session.buffer_samples, (-1, 1)))


def test_samples_messages(qtbot, session):
    view = SamplesView(session)
    qtbot.addWidget(view)
    assert view.stack.currentWidget() is view.message
    session.set_data(_points()[0], None, (-3, 3, -3, 3), (-3, 3))
    view.refresh()
    assert "Landscape" in view.message.text() and view.controls.isHidden()


# --- ChainView -------------------------------------------------------------------------------------


def test_chain_energy_and_filmstrip(qtbot, session):
    view = ChainView(session)
    qtbot.addWidget(view)
    assert view.stack.currentWidget() is view.message and "Click the landscape" in view.message.text()
    session.set_data(_images(4, size=6), None, None, (-1, 1))
    states = _images(60, c=1, size=6, seed=4)
    session.set_chain(Chain(states, np.linspace(3, -1, 60), "mala", 0.55))
    view.refresh()
    x, y = view.energy_curve.getData()
    assert len(x) == 60 and y[-1] == pytest.approx(-1)
    assert view.frame_steps() == [0, 7, 13, 20, 26, 33, 39, 46, 52, 59]
    assert view.film_image.image.shape == (6, 10 * 8 - 2)
    assert not view.film_widget.isHidden()
    assert [lb.textItem.toPlainText() for lb in view.film_labels] == [str(k) for k in view.frame_steps()]
    assert len(view.frame_marks.data) == 10 and "acceptance 0.55" in view.caption.text()
    session.set_chain(Chain(np.zeros((30, 2)), np.ones(30), "langevin"))
    view.refresh()
    assert view.frame_steps() == [] and view.film_widget.isHidden()
    assert len(view.energy_curve.getData()[0]) == 30


# --- LogView --------------------------------------------------------------------------------------------


def test_log_lines_levels_and_clear(qtbot, session):
    view = LogView(session)
    qtbot.addWidget(view)
    session.log("info", "loaded 8gaussians")
    session.log("error", "could not save <run>\nsecond line")
    session.add_reports([Report(1, 0, 0, 0, 0, 0, 0, message="diverged at iteration 1")])
    lines = view.lines()
    assert len(lines) == 4
    assert lines[0].endswith("INFO loaded 8gaussians") and lines[0][:8].count(":") == 2
    assert "ERROR could not save <run>" in lines[1] and lines[2] == "second line"
    assert "WARNING diverged" in lines[3]
    assert "#d32f2f" in view.text.document().toHtml().lower()
    view.clear_button.click()
    assert view.lines() == []


# --- DataPreview ------------------------------------------------------------------------------------------


def test_data_preview_points_and_images(qtbot, session):
    view = DataPreview(session)
    qtbot.addWidget(view)
    assert view.stack.currentWidget() is view.message
    pts, labels = _points(200)
    session.set_data(pts, labels, (-3, 3, -3, 3), (-3, 3))
    qtbot.waitUntil(lambda: view.stack.currentWidget() is view.plot_widget, timeout=2000)
    assert len(view.scatter.data) == 200 and "200 points" in view.caption.text()
    brushes = {b.color().name() for b in view.scatter.data["brush"]}
    assert len(brushes) == 8  # one colour per class
    view.color_toggle.setChecked(False)
    view.refresh()
    assert all(b is None for b in view.scatter.data["brush"])  # one brush for all: the item's
    session.set_data(_images(64, c=1, size=8), None, None, (-1, 1))
    view.refresh()
    assert view.stack.currentWidget() is view.image_widget
    assert view.image.image.shape == (6 * 9 - 1, 6 * 9 - 1)


# --- standalone and export ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [LandscapeView, CurvesView, SamplesView, ChainView, LogView, DataPreview])
def test_each_view_shows_standalone(qtbot, session, cls):
    view = _show(qtbot, cls(session), (400, 300))
    assert not view.grab().isNull()


def _curves_on_screen(qtbot, session):
    view = _show(qtbot, CurvesView(session), (640, 480))
    session.add_reports(_reports(50))
    view.refresh()
    return view


def test_export_png_width_and_scale(qtbot, session, tmp_path):
    view = _curves_on_screen(qtbot, session)
    out = export_png(view.plot_items()[0], tmp_path / "loss.png", width=800)
    assert QImage(str(out)).width() == 800
    whole = export_png(view, tmp_path / "all.png")
    on_screen = view.graphics.ci.sceneBoundingRect().width()
    assert abs(QImage(str(whole)).width() - on_screen * view.devicePixelRatioF()) <= 1
    doubled = export_png(view.graphics, tmp_path / "x2.png", scale=2)
    assert abs(QImage(str(doubled)).width() - 2 * on_screen) <= 1
    assert not list(tmp_path.glob(".*.tmp"))


def test_export_svg_is_xml(qtbot, session, tmp_path):
    view = _curves_on_screen(qtbot, session)
    out = export_svg(view.plot_items()[1], tmp_path / "loss.svg")
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg")


def test_export_errors_say_what_to_do(qtbot, session, tmp_path):
    view = _curves_on_screen(qtbot, session)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(EBMError, match="does not exist"):
        export_png(view, tmp_path / "a_file" / "fig.png")
    with pytest.raises(EBMError, match="does not exist"):
        export_svg(view, tmp_path / "missing" / "fig.svg")
    with pytest.raises(EBMError, match="not shown"):
        export_png(pg.PlotItem(), tmp_path / "fig.png")
    with pytest.raises(EBMError, match="Cannot export"):
        export_png(object(), tmp_path / "fig.png")


def test_export_to_a_read_only_folder(qtbot, session, tmp_path):
    import os

    view = _curves_on_screen(qtbot, session)
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        with pytest.raises(EBMError, match="not writable"):
            export_png(view, folder / "fig.png")
    finally:
        folder.chmod(0o700)


def test_the_installed_pyside6_keeps_its_references(qtbot):
    """PySide6 6.12.0 on Python 3.11 drops a reference to True per emit and to None per void call
    and aborts the interpreter after a few thousand; pyproject pins it out. Fail clearly, not abort."""
    import sys

    import PySide6
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QLabel

    class Pinger(QObject):
        ping = Signal()

    pinger, label = Pinger(), QLabel()
    before = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(500):
        pinger.ping.emit()
        label.setText("x")
    drift = before[0] - sys.getrefcount(True), before[1] - sys.getrefcount(None)
    assert max(drift) < 100, f"PySide6 {PySide6.__version__} leaks references {drift}: install the pinned version"
