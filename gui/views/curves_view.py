"""Learning curves: energies, loss, gradient norm, acceptance / accuracy, validation metrics."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from .common import message_label
from .log_axis import ReadableAxis
from .throttle import Throttle

COLUMNS = 2
RAW_ALPHA = 60  # the unsmoothed curve behind the smoothed one
SMOOTH_BLOCK = 4096


@dataclass(frozen=True)
class Series:
    name: str  # key in CurveHistory
    label: str  # legend text
    color: str
    reference: bool = False  # drawn dashed and never smoothed (a ground truth)
    sparse: bool = False  # evaluated now and then (validation): drawn with markers, never smoothed


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    series: tuple[Series, ...]


PANELS: tuple[Panel, ...] = (
    Panel("energy", "Mean energies", (Series("e_pos", "E(x+) data", "#56B4E9"),
                                      Series("e_neg", "E(x-) negatives", "#E69F00"),
                                      Series("val_e_data", "E(x) validation", "#F0E442", sparse=True))),
    Panel("loss", "Loss", (Series("loss", "loss", "#F0F0F0"),)),
    Panel("grad_norm", "Gradient norm ‖dL/dθ‖", (Series("grad_norm", "gradient norm", "#CC79A7"),)),
    Panel("acceptance", "Acceptance rate (MH)", (Series("acceptance", "acceptance", "#009E73"),)),
    Panel("accuracy", "Training accuracy (JEM)", (Series("accuracy", "accuracy", "#009E73"),)),
    Panel("val_nll", "Validation NLL (nats)", (Series("val_nll", "model", "#F0E442", sparse=True),
                                               Series("val_true_nll", "true density", "#BBBBBB", reference=True,
                                                      sparse=True))),
    Panel("val_kl", "Validation KL(data ‖ model)", (Series("val_kl", "KL", "#D55E00", sparse=True),)),
    Panel("val_mmd", "Validation MMD²", (Series("val_mmd", "MMD²", "#3D9BE9", sparse=True),)),
    Panel("val_accuracy", "Validation accuracy", (Series("val_accuracy", "accuracy", "#009E73", sparse=True),)),
    Panel("val_nn_distance", "Nearest training image (L2)", (Series("val_nn_distance", "samples → train",
                                                                     "#E69F00", sparse=True),)),
    Panel("val_ood_auroc_noise", "OOD AUROC (data vs noise)", (Series("val_ood_auroc_noise", "AUROC", "#56B4E9",
                                                                       sparse=True),)),
)
PANEL_OF = {s.name: p.key for p in PANELS for s in p.series}
# Compared runs: the series' own colour, lighter, one dash pattern per run.
RUN_DASHES = (Qt.PenStyle.DashLine, Qt.PenStyle.DotLine, Qt.PenStyle.DashDotLine, Qt.PenStyle.DashDotDotLine)


def _lighter(color: str, amount: float = 0.35) -> Any:
    c = pg.mkColor(color)
    return pg.mkColor(*(int(v + (255 - v) * amount) for v in (c.red(), c.green(), c.blue())))


def ema_debiased(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: s_t = w s_{t-1} + (1 - w) v_t from s_0 = 0, divided by 1 - w^t.

    values: (N,). Non-finite values are passed through and skipped (t counts finite
    values only). Vectorised in blocks of B: inside a block, sum_{m<=k} w^(k-m) x_m =
    w^k cumsum(w^-m x_m), with B small enough that w^-B stays below 1e100; the state
    carried from block to block is one short Python loop. O(N), ~1 ms per 100k values.
    """
    v = np.asarray(values, dtype=np.float64)
    out = v.copy()
    w = float(weight)
    if w <= 0.0 or v.size == 0:
        return out
    if w >= 1.0:
        raise ValueError(f"smoothing weight must be below 1, got {w}")
    finite = np.isfinite(v)
    x = v[finite]
    n = x.size
    if n == 0:
        return out
    log_w = math.log(w)
    b = max(1, min(n, SMOOTH_BLOCK, int(100 * math.log(10) / -log_w)))
    blocks = math.ceil(n / b)
    xb = np.zeros(blocks * b)
    xb[:n] = x
    xb = xb.reshape(blocks, b)
    m = np.arange(b, dtype=np.float64)
    up = np.exp(-m * log_w)  # w^-m, at most 1e100
    down = np.exp(m * log_w)  # w^m
    local = np.cumsum(xb * up, axis=1)
    local *= (1.0 - w) * down  # the state at each step from s = 0 at the block's start
    w_block = math.exp(b * log_w)
    carry = np.empty(blocks)
    state = 0.0
    for j in range(blocks):
        carry[j] = state
        state = local[j, -1] + w_block * state
    local += carry[:, None] * (down * w)[None, :]
    s = local.ravel()[:n]
    s /= -np.expm1(np.arange(1, n + 1, dtype=np.float64) * log_w)  # 1 - w^t, exact near t = 1
    out[finite] = s
    return out


class CurvesView(QWidget):
    """Learning curves from ``session.history``, with every ``session.comparisons`` run dashed on top.

    Signals: ``compare_requested()`` when 'Compare run…' is pressed (the caller picks a run,
    puts its CurveHistory in ``session.comparisons`` and calls :meth:`refresh`).
    """

    compare_requested = Signal()

    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._layout_keys: list[str] | None = None
        self._legend_keys: dict[str, tuple] = {}
        self._log_y: dict[str, bool] = {}

        self.smooth_slider = QSlider(Qt.Orientation.Horizontal)
        self.smooth_slider.setRange(0, 99)
        self.smooth_slider.setValue(60)
        self.smooth_slider.setMinimumWidth(80)
        self.smooth_slider.setMaximumWidth(200)
        self.smooth_slider.setToolTip("Exponential moving average, debiased (as in TensorBoard); "
                                      "the raw curve is drawn faint behind")
        self.smooth_label = QLabel()
        self.smooth_label.setMinimumWidth(32)
        self.log_box = QCheckBox("log y")
        self.log_box.setToolTip("Logarithmic y axis on the panels whose values are all positive")
        self.compare_button = QPushButton("Compare run…")
        self.compare_button.setToolTip("Overlay the curves of a saved run (dashed)")
        self.compare_button.clicked.connect(self.compare_requested)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Smoothing"))
        controls.addWidget(self.smooth_slider)
        controls.addWidget(self.smooth_label)
        controls.addSpacing(12)
        controls.addWidget(self.log_box)
        controls.addStretch(1)
        controls.addWidget(self.compare_button)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.ci.setSpacing(6)
        self.graphics.ci.setContentsMargins(4, 4, 8, 4)
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[str, tuple[pg.PlotDataItem, pg.PlotDataItem]] = {}  # series -> (raw, smoothed)
        self.legends: dict[str, pg.LegendItem] = {}
        for panel in PANELS:
            self._make_panel(panel)
        self.comparison_curves: dict[tuple[str, str], pg.PlotDataItem] = {}

        self.message = message_label("No learning curves yet.\nPress Train or Step: the energies, the loss, the "
                                     "gradient norm and the validation metrics appear here.")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.graphics)
        self.stack.addWidget(self.message)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.stack, 1)

        self.throttle = Throttle(self._redraw, parent=self)
        self.smooth_slider.valueChanged.connect(self.throttle.request)
        self.smooth_slider.valueChanged.connect(self._show_weight)
        self.log_box.toggled.connect(self.throttle.request)
        session.reports_added.connect(self.throttle.request)
        session.config_changed.connect(self.throttle.request)
        self._show_weight()
        self.refresh()

    # --- public -------------------------------------------------------------------------

    @property
    def smoothing(self) -> float:
        return self.smooth_slider.value() / 100.0

    def set_smoothing(self, weight: float) -> None:
        """0 (raw) .. 0.99."""
        self.smooth_slider.setValue(round(min(max(weight, 0.0), 0.99) * 100))
        self.refresh()

    def set_log_y(self, on: bool) -> None:
        self.log_box.setChecked(bool(on))
        self.refresh()

    def refresh(self) -> None:
        """Redraw now (call after changing ``session.comparisons``)."""
        self.throttle.flush()

    def visible_panels(self) -> list[str]:
        """Keys of the panels shown, in layout order."""
        return list(self._layout_keys or [])

    def plot_items(self) -> list[pg.PlotItem]:
        """The PlotItems shown, in layout order (for export)."""
        return [self.plots[k] for k in self.visible_panels()]

    def export_item(self) -> Any:
        """The whole grid of panels, for figure_export."""
        return self.graphics.ci

    # --- construction -----------------------------------------------------------------------

    def _make_panel(self, panel: Panel) -> None:
        plot = pg.PlotItem(axisItems={"left": ReadableAxis("left"), "bottom": ReadableAxis("bottom")})
        plot.setTitle(panel.title, size="9pt")
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.getAxis("left").setWidth(48)
        plot.setMenuEnabled(True)
        self.plots[panel.key] = plot
        legend = pg.LegendItem(offset=(-6, 4), brush=pg.mkBrush(0, 0, 0, 140), labelTextSize="8pt",
                               verSpacing=-6)
        legend.setParentItem(plot.getViewBox())
        legend.setVisible(False)
        self.legends[panel.key] = legend
        for s in panel.series:
            color = pg.mkColor(s.color)
            faint = pg.mkColor(s.color)
            faint.setAlpha(RAW_ALPHA)
            style = Qt.PenStyle.DashLine if s.reference else Qt.PenStyle.SolidLine
            raw = pg.PlotDataItem(pen=pg.mkPen(faint, width=1))
            smooth = pg.PlotDataItem(pen=pg.mkPen(color, width=1.6, style=style))
            if s.sparse and not s.reference:
                smooth.setSymbol("o")
                smooth.setSymbolSize(4)
                smooth.setSymbolPen(None)
                smooth.setSymbolBrush(color)
            for item in (raw, smooth):
                item.setDownsampling(auto=True, method="peak")
                item.setClipToView(True)
                plot.addItem(item)
            raw.setVisible(False)
            self.curves[s.name] = (raw, smooth)

    # --- drawing ------------------------------------------------------------------------------

    def _show_weight(self, *_: Any) -> None:
        self.smooth_label.setText(f"{self.smoothing:.2f}")

    def _series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return self.session.history.series(name)

    def _redraw(self) -> None:
        history = self.session.history
        comparisons: dict[str, Any] = dict(self.session.comparisons)
        names = set(history.names())
        compared = {n for h in comparisons.values() for n in h.names()}
        visible = [p.key for p in PANELS if any(s.name in names | compared for s in p.series)]
        if not visible:
            self.stack.setCurrentWidget(self.message)
            self._relayout([])
            return
        self.stack.setCurrentWidget(self.graphics)
        self._relayout(visible)
        w = self.smoothing
        for panel in PANELS:
            for s in panel.series:
                raw, smooth = self.curves[s.name]
                its, vals = self._series(s.name)
                if s.reference or s.sparse or w == 0.0:
                    smooth.setData(its, vals)
                    raw.setData([], [])
                    raw.setVisible(False)
                else:
                    raw.setData(its, vals)
                    raw.setVisible(True)
                    smooth.setData(its, ema_debiased(vals, w))
        self._draw_comparisons(comparisons, w)
        self._sync_legends(comparisons)
        self._apply_log(visible, comparisons)

    def _draw_comparisons(self, comparisons: dict[str, Any], w: float) -> None:
        wanted = set()
        for index, (run, hist) in enumerate(comparisons.items()):
            for panel in PANELS:
                for s in panel.series:
                    its, vals = hist.series(s.name)
                    if its.size == 0:
                        continue
                    key = (run, s.name)
                    wanted.add(key)
                    item = self.comparison_curves.get(key)
                    if item is None:
                        item = pg.PlotDataItem()
                        item.setDownsampling(auto=True, method="peak")
                        item.setClipToView(True)
                        self.plots[panel.key].addItem(item)
                        self.comparison_curves[key] = item
                    item.setPen(pg.mkPen(_lighter(s.color), width=1.4, style=RUN_DASHES[index % len(RUN_DASHES)]))
                    smooth = not (s.reference or s.sparse or w == 0.0)
                    item.setData(its, ema_debiased(vals, w) if smooth else vals)
        for key in [k for k in self.comparison_curves if k not in wanted]:
            self.plots[PANEL_OF[key[1]]].removeItem(self.comparison_curves.pop(key))

    def _sync_legends(self, comparisons: dict[str, Any]) -> None:
        """Legends where a panel has more than one curve; rebuilt only when their entries change."""
        for panel in PANELS:
            entries: list[tuple[pg.PlotDataItem, str]] = []
            own = [s for s in panel.series if self._series(s.name)[0].size]
            runs = [(run, s) for run in comparisons for s in panel.series if (run, s.name) in self.comparison_curves]
            multi = len(panel.series) > 1
            for s in own:
                label = s.label if multi else "this run"
                entries.append((self.curves[s.name][1], label))
            for run, s in runs:
                entries.append((self.comparison_curves[(run, s.name)], f"{run}: {s.label}" if multi else run))
            if len(entries) < 2:
                entries = []
            key = tuple((id(item), label) for item, label in entries)
            if self._legend_keys.get(panel.key) != key:
                legend = self.legends[panel.key]
                legend.clear()
                for item, label in entries:
                    legend.addItem(item, label)
                legend.setVisible(bool(entries))
                self._legend_keys[panel.key] = key

    def _apply_log(self, visible: list[str], comparisons: dict[str, Any]) -> None:
        want = self.log_box.isChecked()
        for panel in PANELS:
            plot = self.plots[panel.key]
            positive = True
            for s in panel.series:
                for hist in (self.session.history, *comparisons.values()):
                    vals = hist.series(s.name)[1]
                    vals = vals[np.isfinite(vals)]
                    if vals.size and vals.min() <= 0:
                        positive = False
            log = want and positive and panel.key in visible
            if self._log_y.get(panel.key, False) != log:
                plot.setLogMode(x=False, y=log)
                self._log_y[panel.key] = log

    def _relayout(self, keys: list[str]) -> None:
        """Place the visible panels in a grid, x axes linked, 'iteration' under the bottom row."""
        if keys == self._layout_keys:
            return
        ci = self.graphics.ci
        ci.clear()
        n = len(keys)
        cols = 1 if n <= 2 else COLUMNS
        rows = math.ceil(n / cols) if n else 0
        first = self.plots[keys[0]] if keys else None
        for index, key in enumerate(keys):
            r, c = divmod(index, cols)
            plot = self.plots[key]
            ci.addItem(plot, row=r, col=c)
            plot.setXLink(None if plot is first else first)
            bottom_row = r == rows - 1 or (r == rows - 2 and index + cols >= n)
            if bottom_row:
                plot.setLabel("bottom", "iteration")
            plot.getAxis("bottom").showLabel(bottom_row)
        self._layout_keys = list(keys)
