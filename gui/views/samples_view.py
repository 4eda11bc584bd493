"""The current negatives of an image experiment as one tiled picture (or the replay buffer, or the data)."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
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
from .tiles import tile_images


class SamplesView(QWidget):
    """``session.samples`` (N, C, H, W) tiled in a grid, grey or RGB; or the replay buffer, or the data."""

    MODES = {"negatives": "Negatives x-", "buffer": "Replay buffer", "data": "Training data"}

    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._samples_key: tuple[int, int] | None = None  # (id of the samples array, iteration first seen)
        self._shape: tuple | None = None

        self.mode = QComboBox()
        for key, label in self.MODES.items():
            self.mode.addItem(label, key)
        self.mode.setToolTip("The negatives of the last iteration, a random draw from the persistent replay "
                             "buffer, or the training data")
        self.caption = shrinkable(QLabel(""))
        self.controls = QWidget()
        top = QHBoxLayout(self.controls)
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.caption, 1)
        top.addWidget(self.mode)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.ci.setContentsMargins(2, 2, 2, 2)
        self.view_box = self.graphics.addViewBox(lockAspect=True, invertY=True)
        self.view_box.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view_box.addItem(self.image)

        self.message = message_label()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.graphics)
        self.stack.addWidget(self.message)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.controls)
        layout.addWidget(self.stack, 1)

        self.throttle = Throttle(self._redraw, parent=self)
        self.mode.currentIndexChanged.connect(self.throttle.request)
        for signal in (session.reports_added, session.data_changed, session.config_changed, session.buffer_changed):
            signal.connect(self.throttle.request)
        self.refresh()

    # --- public -------------------------------------------------------------------------

    @property
    def showing(self) -> str:
        return self.mode.currentData()

    def show_mode(self, what: str) -> None:
        """"negatives", "buffer" or "data"."""
        self.mode.setCurrentIndex(self.mode.findData(what))
        self.refresh()

    @property
    def showing_data(self) -> bool:
        return self.showing == "data"

    def show_data(self, on: bool) -> None:
        """True: the training data preview; False: the current negatives."""
        self.show_mode("data" if on else "negatives")

    def refresh(self) -> None:
        self.throttle.flush()

    def export_item(self) -> Any:
        return self.graphics.ci

    # --- drawing -------------------------------------------------------------------------

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.stack.setCurrentWidget(self.message)

    def _redraw(self) -> None:
        s = self.session
        kind = experiment_kind(s)
        self.controls.setVisible(kind == "image")
        if kind == "2d":
            self._show_message("This is a 2D experiment: the negatives are drawn as dots on the Landscape view.")
            return
        if kind == "none":
            self._show_message("No samples yet.\nPress Train or Step: the negatives of an image experiment "
                               "appear here.")
            return
        source = {"data": s.data_preview, "buffer": s.buffer_samples, "negatives": s.samples}[self.showing]
        images = source if source is not None and source.ndim == 4 else None
        what = self.MODES[self.showing]
        if images is None or len(images) == 0:
            self.caption.setText("")
            self._show_message({"negatives": "No negatives yet: they appear after the first training iterations.",
                                "buffer": "The replay buffer is empty (or the run has none): train a few iterations.",
                                "data": "The training data preview is not loaded yet."}[self.showing])
            return
        self.stack.setCurrentWidget(self.graphics)
        picture = tile_images(images, s.value_range)
        self.image.setImage(picture, autoLevels=False, levels=(0, 255))
        if picture.shape != self._shape:
            self._shape = picture.shape
            self.view_box.autoRange(padding=0.01)
        n, c, h, w = images.shape
        detail = f"{n} × {c}×{h}×{w} in [{s.value_range[0]:g}, {s.value_range[1]:g}]"
        if self.showing != "negatives":
            self.caption.setText(f"{what} · {detail}")
        else:
            key = id(s.samples)
            if self._samples_key is None or self._samples_key[0] != key:
                self._samples_key = (key, s.iteration)
            self.caption.setText(f"{what} at iteration {self._samples_key[1]} · {detail}")
