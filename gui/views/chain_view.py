"""One sampler chain: its energy per step, and for images a filmstrip of states along it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QStackedWidget, QVBoxLayout, QWidget

from .common import message_label, shrinkable
from .log_axis import ReadableAxis
from .throttle import Throttle
from .tiles import evenly_spaced, tile_images

FILMSTRIP_FRAMES = 10
HINT = "Click the landscape (2D) or use Sample chain (images) to start a chain."


class ChainView(QWidget):
    """``session.chain``: E(x_k) against step k, plus up to 10 evenly spaced states for image chains."""

    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session

        self.caption = shrinkable(QLabel(""))
        self.energy_widget = pg.PlotWidget(axisItems={"left": ReadableAxis("left"), "bottom": ReadableAxis("bottom")})
        self.energy_plot = self.energy_widget.getPlotItem()
        self.energy_plot.setLabel("bottom", "step")
        self.energy_plot.setLabel("left", "E(x)")
        self.energy_plot.showGrid(x=True, y=True, alpha=0.15)
        self.energy_curve = pg.PlotDataItem(pen=pg.mkPen("#00E5FF", width=1.5))
        self.energy_plot.addItem(self.energy_curve)
        self.frame_marks = pg.ScatterPlotItem(size=8, pen=pg.mkPen("k"), brush=pg.mkBrush("#FFB000"))
        self.frame_marks.setZValue(2)
        self.energy_plot.addItem(self.frame_marks)

        self.film_widget = pg.GraphicsLayoutWidget()
        self.film_widget.ci.setContentsMargins(2, 2, 2, 2)
        self.film_widget.setMinimumHeight(80)
        self.film_box = self.film_widget.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.film_box.setMenuEnabled(False)
        self.film_image = pg.ImageItem(axisOrder="row-major")
        self.film_box.addItem(self.film_image)
        self.film_labels = []
        for _ in range(FILMSTRIP_FRAMES):
            label = pg.TextItem("", color="w", fill=pg.mkBrush(0, 0, 0, 150), anchor=(0, 0))
            label.setVisible(False)
            self.film_box.addItem(label, ignoreBounds=True)
            self.film_labels.append(label)
        self.film_widget.setVisible(False)

        page = QWidget()
        page_layout = QVBoxLayout(page)
        page_layout.setContentsMargins(0, 0, 0, 0)
        page_layout.addWidget(self.caption)
        page_layout.addWidget(self.energy_widget, 3)
        page_layout.addWidget(self.film_widget, 2)
        self.page = page
        self.message = message_label(HINT)
        self.stack = QStackedWidget()
        self.stack.addWidget(page)
        self.stack.addWidget(self.message)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.stack)

        self.throttle = Throttle(self._redraw, parent=self)
        session.chain_changed.connect(self.throttle.request)
        session.config_changed.connect(self.throttle.request)
        session.data_changed.connect(self.throttle.request)  # the value range of the filmstrip
        self.refresh()

    # --- public -------------------------------------------------------------------------

    def refresh(self) -> None:
        self.throttle.flush()

    def frame_steps(self) -> list[int]:
        """Steps shown in the filmstrip (empty for 2D chains)."""
        chain = self.session.chain
        if chain is None or np.asarray(chain.states).ndim < 3:
            return []
        return [int(k) for k in evenly_spaced(len(chain.states), FILMSTRIP_FRAMES)]

    def export_item(self) -> Any:
        return self.energy_plot

    # --- drawing -------------------------------------------------------------------------

    def _redraw(self) -> None:
        chain = self.session.chain
        if chain is None or len(chain.energies) == 0:
            self.energy_curve.setData([], [])
            self.frame_marks.setData([], [])
            self.stack.setCurrentWidget(self.message)
            return
        self.stack.setCurrentWidget(self.page)
        energies = np.asarray(chain.energies, dtype=np.float64)
        steps = np.arange(energies.size)
        many = energies.size > 150
        self.energy_curve.setData(steps, energies, symbol=None if many else "o", symbolSize=4, symbolPen=None,
                                  symbolBrush="#00E5FF")
        acc = "" if chain.acceptance is None else f" · acceptance {chain.acceptance:.2f}"
        self.caption.setText(f"{chain.sampler} chain · {energies.size} states · E from {energies[0]:.3g} "
                             f"to {energies[-1]:.3g}{acc}")
        frames = self.frame_steps()
        if not frames:
            self.film_widget.setVisible(False)
            self.frame_marks.setData([], [])
            return
        states = np.asarray(chain.states)[frames]
        if states.ndim == 3:  # (K, H, W) without a channel axis
            states = states[:, None]
        picture = tile_images(states, self.session.value_range, ncols=len(frames), gap=2)
        self.film_image.setImage(picture, autoLevels=False, levels=(0, 255))
        w = states.shape[-1]
        for i, label in enumerate(self.film_labels):
            if i < len(frames):
                label.setText(str(frames[i]))
                label.setPos(i * (w + 2), 0)
            label.setVisible(i < len(frames))
        self.film_box.autoRange(padding=0.01)
        self.frame_marks.setData(frames, energies[frames])
        self.film_widget.setVisible(True)
