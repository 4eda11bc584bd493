"""One image shown large, on which the user paints a mask with the mouse (left paints, right erases)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from ..views.tiles import to_uint8

MASK_RGBA = (213, 94, 0, 150)  # the mismatch/error orange, half transparent


class MaskCanvas(QWidget):
    """image: (C, H, W) in ``value_range``; mask: (H, W) bool, True = to be filled.

    The picture keeps its aspect ratio, centred; a circle shows the brush. ``brush`` is the
    brush radius in image pixels. ``mask_changed`` fires after each stroke piece.
    """

    mask_changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.brush = 2.0
        self.editable = True
        self.show_mask = True
        self.overlay: np.ndarray | None = None  # (C, H, W) shown instead of the image (e.g. a noisy preview)
        self._image = np.zeros((1, 28, 28), np.float32)
        self._range = (-1.0, 1.0)
        self.mask = np.zeros((28, 28), dtype=bool)
        self._qimage: QImage | None = None
        self._stroke: tuple[bool, QPointF] | None = None  # (painting (not erasing), last image point)
        self._hover: QPointF | None = None

    # --- data ------------------------------------------------------------------------

    def set_image(self, image: np.ndarray, value_range: tuple[float, float]) -> None:
        """A new image; the mask is kept when the size is the same, else cleared."""
        image = np.asarray(image, dtype=np.float32)
        if image.shape[-2:] != self.mask.shape:
            self.mask = np.zeros(image.shape[-2:], dtype=bool)
        self._image, self._range = image, (float(value_range[0]), float(value_range[1]))
        self.overlay = None
        self._qimage = None
        self.update()

    def set_overlay(self, image: np.ndarray | None) -> None:
        self.overlay = None if image is None else np.asarray(image, dtype=np.float32)
        self._qimage = None
        self.update()

    def set_mask(self, mask: np.ndarray) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.ndim == 3:  # (C, H, W): any channel
            mask = mask.any(axis=0)
        if mask.shape != self.mask.shape:
            raise ValueError(f"the mask has shape {mask.shape}; the image is {self.mask.shape}")
        self.mask = mask.copy()
        self.update()
        self.mask_changed.emit()

    def clear(self) -> None:
        self.set_mask(np.zeros_like(self.mask))

    # --- geometry --------------------------------------------------------------------

    def image_rect(self) -> QRectF:
        """Where the picture is drawn, in widget coordinates."""
        h, w = self.mask.shape
        scale = max(1e-6, min(self.width() / w, self.height() / h))
        dw, dh = w * scale, h * scale
        return QRectF((self.width() - dw) / 2, (self.height() - dh) / 2, dw, dh)

    def to_image(self, pos: QPointF) -> QPointF:
        """Widget position -> image coordinates (x = column, y = row; pixel centres at +0.5)."""
        r = self.image_rect()
        h, w = self.mask.shape
        return QPointF((pos.x() - r.x()) * w / r.width(), (pos.y() - r.y()) * h / r.height())

    def to_widget(self, row: float, col: float) -> QPointF:
        """The widget position of image pixel (row, col)'s centre."""
        r = self.image_rect()
        h, w = self.mask.shape
        return QPointF(r.x() + (col + 0.5) * r.width() / w, r.y() + (row + 0.5) * r.height() / h)

    # --- painting --------------------------------------------------------------------

    def stamp(self, p: QPointF, value: bool) -> None:
        """Set the disc of radius ``brush`` around image point p (in image coordinates)."""
        h, w = self.mask.shape
        rows = np.arange(h)[:, None] + 0.5
        cols = np.arange(w)[None, :] + 0.5
        disc = (rows - p.y()) ** 2 + (cols - p.x()) ** 2 <= max(self.brush, 0.5) ** 2
        self.mask[disc] = value

    def _stroke_to(self, p: QPointF, value: bool, start: QPointF) -> None:
        # stamps every half brush along the segment, so a fast drag leaves no gaps
        d = np.hypot(p.x() - start.x(), p.y() - start.y())
        n = max(1, int(np.ceil(d / max(0.5, self.brush / 2))))
        for t in np.linspace(0.0, 1.0, n + 1)[1:]:
            self.stamp(QPointF(start.x() + t * (p.x() - start.x()), start.y() + t * (p.y() - start.y())), value)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if not self.editable or event.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return super().mousePressEvent(event)
        painting = event.button() == Qt.MouseButton.LeftButton
        p = self.to_image(event.position())
        self._stroke = (painting, p)
        self.stamp(p, painting)
        self.update()
        self.mask_changed.emit()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        p = self.to_image(event.position())
        self._hover = p
        if self._stroke is not None:
            painting, last = self._stroke
            self._stroke_to(p, painting, last)
            self._stroke = (painting, p)
            self.mask_changed.emit()
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._stroke = None
        super().mouseReleaseEvent(event)

    def leaveEvent(self, event: object) -> None:
        self._hover = None
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("black"))
        rect = self.image_rect()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)  # crisp pixels
        painter.drawImage(rect, self._picture())
        if self.show_mask:
            painter.drawImage(rect, self._mask_image())
        if self._hover is not None and self.editable:
            h, w = self.mask.shape
            sx, sy = rect.width() / w, rect.height() / h
            centre = QPointF(rect.x() + self._hover.x() * sx, rect.y() + self._hover.y() * sy)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.setPen(QPen(QColor("#56B4E9"), 1.5))
            painter.drawEllipse(centre, self.brush * sx, self.brush * sy)
        painter.end()

    def _picture(self) -> QImage:
        if self._qimage is None:
            source = self.overlay if self.overlay is not None else self._image
            pixels = to_uint8(source[None], self._range)[0]
            pixels = np.ascontiguousarray(pixels)
            h, w = pixels.shape[:2]
            fmt = QImage.Format.Format_RGB888 if pixels.ndim == 3 else QImage.Format.Format_Grayscale8
            self._qimage = QImage(pixels.data, w, h, pixels.strides[0], fmt).copy()
        return self._qimage

    def _mask_image(self) -> QImage:
        h, w = self.mask.shape
        rgba = np.zeros((h, w, 4), dtype=np.uint8)
        rgba[self.mask] = MASK_RGBA
        return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()
