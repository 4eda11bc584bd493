"""The energy landscape of a 2D experiment, with data, negatives and a sampler chain on top."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from .common import experiment_kind, message_label, shrinkable
from .throttle import Throttle

MODES = ("Energy", "Density", "Log density")
COLORMAPS = {"Energy": "magma", "Density": "viridis", "Log density": "viridis"}
COLORBAR_LABELS = {"Energy": "energy E(x)", "Density": "density p(x) = exp(-E)/Z", "Log density": "log p(x)"}
LOG_DENSITY_SPAN = 20.0  # nats below the peak shown in "Log density" mode
CHAIN_COLOR = "#00E5FF"


def image_rect(xs: np.ndarray, ys: np.ndarray) -> QRectF:
    """The rectangle of a grid whose cell centres are xs (nx,), ys (ny,): pixel (i, j) centred at (xs[j], ys[i])."""
    dx = float(xs[1] - xs[0]) if xs.size > 1 else 1.0
    dy = float(ys[1] - ys[0]) if ys.size > 1 else 1.0
    return QRectF(float(xs[0]) - dx / 2, float(ys[0]) - dy / 2, dx * xs.size, dy * ys.size)


def add_energy_image(plot: pg.PlotItem) -> tuple[pg.ImageItem, pg.ColorBarItem]:
    """A grid image under everything else in ``plot`` with a magma colour bar beside it."""
    image = pg.ImageItem(axisOrder="row-major")
    image.setZValue(-100)
    plot.addItem(image)
    colorbar = pg.ColorBarItem(colorMap="magma", interactive=False, width=14, colorMapMenu=False)
    colorbar.axis.enableAutoSIPrefix(False)
    colorbar.axis.setWidth(62)
    colorbar.setImageItem(image, insert_in=plot)
    return image, colorbar


def display_levels(z: np.ndarray, mode: str) -> tuple[float, float]:
    """Colour range for one mode: energies clip their top 2 % (the box edges), densities start at 0."""
    finite = z[np.isfinite(z)]
    if finite.size == 0:
        return 0.0, 1.0
    top = float(finite.max())
    if mode == "Energy":
        lo, hi = float(finite.min()), float(np.percentile(finite, 98))
    elif mode == "Density":
        lo, hi = 0.0, top
    else:
        lo, hi = max(float(np.percentile(finite, 1)), top - LOG_DENSITY_SPAN), top
    if not hi > lo:
        hi = lo + max(abs(lo) * 1e-6, 1e-9)
    return lo, hi


def _point_count(item: Any) -> int:
    if isinstance(item, pg.PlotDataItem):
        x = item.getData()[0]
        return 0 if x is None else len(x)
    return len(item.data)


class LandscapeView(QWidget):
    """E(x), p(x) or log p(x) on the grid of ``session.landscape``; left click requests a chain.

    Signals: ``chain_requested(x1, x2)`` in data coordinates, on a left click in the plot.
    """

    chain_requested = Signal(float, float)

    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._dirty: set[str] = set()
        self._applied_box: tuple | None = None  # the box the view range was last fitted to
        self._cmap_name = ""

        self.mode_box = QComboBox()
        self.mode_box.addItems(MODES)
        self.mode_box.setToolTip("Energy E(x), the normalised density exp(-E)/Z, or its logarithm")
        self.info_label = shrinkable(QLabel(""))
        self.info_label.setStyleSheet("color: #777;")
        hint = shrinkable(QLabel("click: start a chain · drag: pan · wheel: zoom"))
        hint.setToolTip("Left-click a point to run the sampler from there; drag to pan, scroll to zoom, "
                        "right-click for the view menu")
        hint.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        hint.setStyleSheet("color: #777;")
        self.controls = QWidget()
        top = QHBoxLayout(self.controls)
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(QLabel("Show"))
        top.addWidget(self.mode_box)
        top.addSpacing(12)
        top.addWidget(self.info_label, 1)
        top.addWidget(hint, 2)

        self.plot_widget = pg.PlotWidget()
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setLabel("bottom", "x1")
        self.plot.setLabel("left", "x2")
        self.plot.setAspectLocked(True)
        self.plot.showGrid(x=False, y=False)
        self.plot.getViewBox().disableAutoRange()

        self.image, self.colorbar = add_energy_image(self.plot)
        self._cmap_name = "magma"

        self.data_scatter = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(255, 255, 255, 90))
        self.data_scatter.setZValue(1)
        self.negatives_scatter = pg.ScatterPlotItem(size=6, pen=pg.mkPen(0, 0, 0, 160, width=0.8),
                                                    brush=pg.mkBrush(255, 80, 30, 230))
        self.negatives_scatter.setZValue(2)
        self.chain_curve = pg.PlotDataItem(pen=pg.mkPen(CHAIN_COLOR, width=1.5), symbol="o", symbolSize=4,
                                           symbolPen=None, symbolBrush=pg.mkBrush(CHAIN_COLOR))
        self.chain_curve.setZValue(3)
        self.chain_start = pg.ScatterPlotItem(size=11, symbol="o", pen=pg.mkPen("k", width=1),
                                              brush=pg.mkBrush("#00E676"))
        self.chain_end = pg.ScatterPlotItem(size=16, symbol="star", pen=pg.mkPen("k", width=1),
                                            brush=pg.mkBrush("#FFFFFF"))
        for z, item in enumerate((self.chain_start, self.chain_end)):
            item.setZValue(4 + z)
        for item in (self.data_scatter, self.negatives_scatter, self.chain_curve, self.chain_start, self.chain_end):
            self.plot.addItem(item)
        self.legend = pg.LegendItem(offset=(8, 8), brush=pg.mkBrush(0, 0, 0, 150), pen=pg.mkPen(255, 255, 255, 60),
                                    labelTextColor="w", labelTextSize="8pt", verSpacing=-4)
        self.legend.setParentItem(self.plot.getViewBox())
        self._legend_entries = {
            "data": (self.data_scatter, "data"),
            "negatives": (self.negatives_scatter, "negatives x-"),
            "chain": (self.chain_curve, "chain"),
            "start": (self.chain_start, "chain start"),
            "end": (self.chain_end, "chain end"),
        }
        self._in_legend: list[str] = []

        self.message = message_label()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.plot_widget)
        self.stack.addWidget(self.message)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.controls)
        layout.addWidget(self.stack, 1)

        self.throttle = Throttle(self._redraw_dirty, parent=self)
        self.mode_box.currentIndexChanged.connect(lambda *_: self._mark("landscape"))
        session.config_changed.connect(lambda: self._mark("all"))
        session.data_changed.connect(lambda: self._mark("data"))
        session.reports_added.connect(lambda: self._mark("samples"))
        session.landscape_changed.connect(lambda: self._mark("landscape"))
        session.chain_changed.connect(lambda: self._mark("chain"))
        self.plot.scene().sigMouseClicked.connect(self._on_click)
        self.refresh()

    # --- public -------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return self.mode_box.currentText()

    def set_mode(self, mode: str) -> None:
        """"Energy", "Density" or "Log density"."""
        self.mode_box.setCurrentIndex(MODES.index(mode))
        self.refresh()

    def refresh(self) -> None:
        """Redraw everything now."""
        self._dirty = {"all"}
        self.throttle.flush()

    def export_item(self) -> pg.PlotItem:
        """The item figure_export renders (plot, colour bar and legend)."""
        return self.plot

    # --- drawing --------------------------------------------------------------------------

    def _mark(self, part: str) -> None:
        self._dirty.add(part)
        self.throttle.request()

    def _redraw_dirty(self) -> None:
        dirty, self._dirty = self._dirty, set()
        kind = experiment_kind(self.session)
        if kind != "2d":
            if kind == "image":
                self.message.setText("The energy landscape is drawn for 2D experiments.\n"
                                     "This experiment models images: see the Samples and Chain views.")
            else:
                self.message.setText("No data loaded yet.\nPress Train or Step: for a 2D experiment the energy "
                                     "landscape, the data and the negatives appear here.")
            self.stack.setCurrentWidget(self.message)
            self.controls.setVisible(False)
            return
        self.stack.setCurrentWidget(self.plot_widget)
        self.controls.setVisible(True)
        everything = "all" in dirty
        if everything or "landscape" in dirty:
            self._draw_landscape()
        if everything or "data" in dirty:
            self._draw_points(self.data_scatter, self.session.data_preview)
        if everything or "samples" in dirty:
            self._draw_points(self.negatives_scatter, self.session.samples)
        if everything or "chain" in dirty:
            self._draw_chain()
        self._fit_range()
        self._sync_legend()

    def _draw_landscape(self) -> None:
        ls = self.session.landscape
        if ls is None:
            self.image.clear()
            self.image.setVisible(False)
            self.info_label.setText("")
            return
        mode = self.mode
        if mode == "Energy":
            z = np.asarray(ls.energy, dtype=np.float64)
        elif mode == "Density":
            z = np.exp(ls.log_density)
        else:
            z = np.asarray(ls.log_density, dtype=np.float64)
        levels = display_levels(z, mode)
        self.image.setImage(z.astype(np.float32), autoLevels=False, levels=levels)
        self.image.setRect(image_rect(np.asarray(ls.xs), np.asarray(ls.ys)))
        self.image.setVisible(True)
        if COLORMAPS[mode] != self._cmap_name:
            self._cmap_name = COLORMAPS[mode]
            self.colorbar.setColorMap(self._cmap_name)
        self.colorbar.axis.setLabel(COLORBAR_LABELS[mode])
        self.colorbar.setLevels(levels)
        self.info_label.setText(f"iteration {ls.iteration} · log Z = {ls.log_z + 0.0:.3f}")

    @staticmethod
    def _draw_points(item: pg.ScatterPlotItem, points: np.ndarray | None) -> None:
        if points is None or points.ndim != 2 or points.shape[1] != 2:
            item.setData(x=[], y=[])
            return
        pts = np.asarray(points, dtype=np.float64)
        item.setData(x=pts[:, 0], y=pts[:, 1])

    def _draw_chain(self) -> None:
        chain = self.session.chain
        states = None if chain is None else np.asarray(chain.states, dtype=np.float64)
        if states is None or states.ndim != 2 or states.shape[1] != 2 or len(states) == 0:
            self.chain_curve.setData(x=[], y=[])
            self.chain_start.setData(x=[], y=[])
            self.chain_end.setData(x=[], y=[])
            return
        self.chain_curve.setData(x=states[:, 0], y=states[:, 1])
        self.chain_start.setData(x=states[:1, 0], y=states[:1, 1])
        self.chain_end.setData(x=states[-1:, 0], y=states[-1:, 1])

    def _fit_range(self) -> None:
        """Fit the view to the data box once per box, so user zoom survives live updates."""
        box = self.session.data_box
        if box is None and self.session.landscape is not None:
            r = image_rect(np.asarray(self.session.landscape.xs), np.asarray(self.session.landscape.ys))
            box = (r.left(), r.right(), r.top(), r.bottom())
        if box is None and self.session.data_preview is not None and self.session.data_preview.ndim == 2:
            p = self.session.data_preview
            box = (float(p[:, 0].min()), float(p[:, 0].max()), float(p[:, 1].min()), float(p[:, 1].max()))
        if box is None or box == self._applied_box:
            return
        x0, x1, y0, y1 = (float(v) for v in box)
        self.plot.getViewBox().setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.02)
        self._applied_box = tuple(box)

    def _sync_legend(self) -> None:
        """Legend entries only for layers that have something drawn, in a fixed order."""
        shown = [key for key, (item, _) in self._legend_entries.items() if _point_count(item) > 0]
        if shown != self._in_legend:
            self.legend.clear()
            for key in shown:
                item, label = self._legend_entries[key]
                self.legend.addItem(item, label)
            self._in_legend = shown
        self.legend.setVisible(bool(shown))

    # --- input ------------------------------------------------------------------------------

    def _on_click(self, ev: Any) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or ev.double():
            return
        if experiment_kind(self.session) != "2d":
            return
        pos = ev.scenePos()
        vb = self.plot.getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            return
        if self.legend.isVisible() and self.legend.sceneBoundingRect().contains(pos):
            return
        p = vb.mapSceneToView(pos)
        self.chain_requested.emit(float(p.x()), float(p.y()))
