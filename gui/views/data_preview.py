"""A small preview of the training data for the experiment panel: a scatter or a grid of images."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from .common import PALETTE, message_label, shrinkable
from .throttle import Throttle
from .tiles import tile_images

PREVIEW_IMAGES = 36


class DataPreview(QWidget):
    """``session.data_preview``: (N, 2) points as a scatter (coloured by class when labels exist and
    'colour by class' is ticked), or the first 36 of (N, C, H, W) images as a 6 x 6 grid."""

    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._brushes = [pg.mkBrush(pg.mkColor(c).red(), pg.mkColor(c).green(), pg.mkColor(c).blue(), 170)
                         for c in PALETTE]
        self._plain_brush = pg.mkBrush(86, 180, 233, 140)

        self.caption = shrinkable(QLabel(""))
        self.caption.setStyleSheet("color: #777;")
        self.color_toggle = QCheckBox("colour by class")
        self.color_toggle.setChecked(True)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.caption, 1)
        top.addWidget(self.color_toggle)

        self.plot_widget = pg.PlotWidget()
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setAspectLocked(True)
        self.plot.hideButtons()
        self.scatter = pg.ScatterPlotItem(size=3, pen=None, brush=self._plain_brush)
        self.plot.addItem(self.scatter)

        self.image_widget = pg.GraphicsLayoutWidget()
        self.image_widget.ci.setContentsMargins(1, 1, 1, 1)
        self.image_box = self.image_widget.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.image_box.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image_box.addItem(self.image)

        self.message = message_label("No data loaded yet.")
        self.stack = QStackedWidget()
        for w in (self.plot_widget, self.image_widget, self.message):
            self.stack.addWidget(w)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.stack, 1)

        self.throttle = Throttle(self._redraw, parent=self)
        self.color_toggle.toggled.connect(self.throttle.request)
        session.data_changed.connect(self.throttle.request)
        session.config_changed.connect(self.throttle.request)
        self.refresh()

    def sizeHint(self) -> QSize:
        return QSize(240, 260)

    # --- public -------------------------------------------------------------------------

    def refresh(self) -> None:
        self.throttle.flush()

    def export_item(self) -> Any:
        return self.plot if self.stack.currentWidget() is self.plot_widget else self.image_widget.ci

    # --- drawing ------------------------------------------------------------------------

    def _redraw(self) -> None:
        s = self.session
        data = s.data_preview
        labels = s.data_labels
        has_labels = labels is not None and data is not None and len(labels) == len(data)
        self.color_toggle.setVisible(has_labels and data is not None and data.ndim == 2)
        if data is None or len(data) == 0:
            self.caption.setText("")
            self.stack.setCurrentWidget(self.message)
            return
        if data.ndim == 2 and data.shape[1] == 2:
            pts = np.asarray(data, dtype=np.float64)
            if has_labels and self.color_toggle.isChecked():
                idx = np.asarray(labels).astype(np.int64) % len(self._brushes)
                self.scatter.setData(x=pts[:, 0], y=pts[:, 1], brush=[self._brushes[i] for i in idx])
            else:
                self.scatter.setData(x=pts[:, 0], y=pts[:, 1], brush=self._plain_brush)
            if s.data_box is not None:
                x0, x1, y0, y1 = s.data_box
                self.plot.getViewBox().setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.02)
            else:
                self.plot.getViewBox().autoRange(padding=0.05)
            classes = f" · {len(np.unique(labels))} classes" if has_labels else ""
            self.caption.setText(f"{len(pts)} points{classes}")
            self.stack.setCurrentWidget(self.plot_widget)
            return
        if data.ndim == 4:
            shown = data[:PREVIEW_IMAGES]
            picture = tile_images(shown, s.value_range, ncols=6 if len(shown) >= 6 else None)
            self.image.setImage(picture, autoLevels=False, levels=(0, 255))
            self.image_box.autoRange(padding=0.0)
            n, c, h, w = data.shape
            self.caption.setText(f"{len(shown)} of {n} images · {c}×{h}×{w}")
            self.stack.setCurrentWidget(self.image_widget)
            return
        self.caption.setText("")
        self.message.setText(f"No preview for data of shape {tuple(data.shape)}.")
        self.stack.setCurrentWidget(self.message)
