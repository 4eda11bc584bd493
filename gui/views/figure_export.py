"""Figures to files: PNG through pyqtgraph's ImageExporter, SVG through its SVGExporter.

Both accept a pyqtgraph item (PlotItem, GraphicsLayout, ViewBox), a pyqtgraph
widget (PlotWidget, GraphicsLayoutWidget) or any view with ``export_item()``.
Files are written atomically (a temporary file, then a rename); every failure
raises :class:`engine.errors.EBMError` saying what to do.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter, SVGExporter
from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtWidgets import QApplication, QGraphicsItem, QGraphicsScene

from engine.errors import EBMError


def export_target(obj: Any) -> Any:
    """The pyqtgraph item (or scene) an exporter renders for ``obj``."""
    if hasattr(obj, "export_item") and callable(obj.export_item):
        obj = obj.export_item()
    if isinstance(obj, pg.PlotWidget):
        return obj.getPlotItem()
    if isinstance(obj, pg.GraphicsLayoutWidget):
        return obj.ci
    if isinstance(obj, pg.GraphicsView):
        return obj.scene()
    if isinstance(obj, (QGraphicsItem, QGraphicsScene)):
        return obj
    raise EBMError(f"Cannot export a {type(obj).__name__} as a figure: pass a plot, a plot widget or a view.")


def _device_pixel_ratio(target: Any) -> float:
    scene = target if isinstance(target, QGraphicsScene) else target.scene()
    views = scene.views() if scene is not None else []
    if views:
        return float(views[0].devicePixelRatioF())
    app = QApplication.instance()
    screen = app.primaryScreen() if app is not None else None
    return float(screen.devicePixelRatio()) if screen is not None else 1.0


def _check_scene(target: Any, path: Path) -> None:
    scene = target if isinstance(target, QGraphicsScene) else target.scene()
    if scene is None or not scene.views():
        raise EBMError(f"Cannot export {path.name}: the figure is not shown in a window yet.")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_atomic(path: Path, data: bytes) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise EBMError(f"Cannot save {path}: the folder {folder} does not exist. Choose an existing folder.")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise EBMError(f"Cannot save {path}: the folder {folder} is not writable ({exc.strerror}). "
                       "Choose another folder.") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; a figure is an ordinary file
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise EBMError(f"Cannot save {path}: {exc.strerror or exc}. Check the disk and the folder.") from exc


def export_png(item_or_widget: Any, path: str | os.PathLike, width: int | None = None,
               scale: float | None = None) -> Path:
    """Render to PNG. width: pixels (the height keeps the aspect ratio); scale: times the on-screen
    size; neither: the on-screen size times the device pixel ratio (full resolution on HiDPI)."""
    path = Path(path)
    target = export_target(item_or_widget)
    _check_scene(target, path)
    try:
        exporter = ImageExporter(target)
        on_screen = float(exporter.params["width"])
        if width is not None:
            pixels = int(width)
        else:
            pixels = round(on_screen * (scale if scale is not None else _device_pixel_ratio(target)))
        if pixels <= 0:
            raise EBMError(f"Cannot export {path.name}: the figure has no size (width {pixels} pixels).")
        exporter.params["width"] = pixels  # the height follows, keeping the aspect ratio
        image = exporter.export(toBytes=True)
    except EBMError:
        raise
    except Exception as exc:
        raise EBMError(f"Cannot render {path.name}: {exc}") from exc
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise EBMError(f"Cannot encode {path.name} as PNG.")
    _write_atomic(path, bytes(buffer.data()))
    return path


_CLOSE_MARK = "data-ebm-close-at"


def _correct_coordinates_keeping_closes(original: Any) -> Any:
    """pyqtgraph's correctCoordinates, tolerant of the 'Z' (close path) tokens Qt 6.12's QSvgGenerator
    writes: pyqtgraph 0.14 expects every token of a path to be 'x,y' and fails on them. The Z tokens
    are taken out, the coordinates transformed, and the Zs put back where they were."""

    def correct(node: Any, defs: Any, item: Any, options: Any) -> Any:
        paths = [p for p in node.getElementsByTagName("path") if p.getAttribute("d").strip()]
        for p in paths:
            tokens = p.getAttribute("d").split()
            closes = [i for i, t in enumerate(tokens) if t in ("Z", "z")]
            if closes:
                p.setAttribute("d", " ".join(t for t in tokens if t not in ("Z", "z")))
                p.setAttribute(_CLOSE_MARK, ",".join(str(i) for i in closes))
        result = original(node, defs, item, options)
        for p in node.getElementsByTagName("path"):
            if p.hasAttribute(_CLOSE_MARK):
                tokens = p.getAttribute("d").split()
                for i in (int(v) for v in p.getAttribute(_CLOSE_MARK).split(",")):
                    tokens.insert(i, "Z")
                p.setAttribute("d", " ".join(tokens))
                p.removeAttribute(_CLOSE_MARK)
        return result

    return correct


@contextlib.contextmanager
def _svg_close_tokens_fixed() -> Iterator[None]:
    module = importlib.import_module("pyqtgraph.exporters.SVGExporter")
    original = module.correctCoordinates
    module.correctCoordinates = _correct_coordinates_keeping_closes(original)
    try:
        yield
    finally:
        module.correctCoordinates = original


def export_svg(item: Any, path: str | os.PathLike) -> Path:
    """Render to SVG (vector; images inside stay bitmaps)."""
    path = Path(path)
    target = export_target(item)
    _check_scene(target, path)
    try:
        with _svg_close_tokens_fixed():
            data = SVGExporter(target).export(toBytes=True)
    except Exception as exc:
        raise EBMError(f"Cannot render {path.name} as SVG: {exc}") from exc
    if isinstance(data, QByteArray):
        data = bytes(data)
    elif isinstance(data, str):
        data = data.encode("utf-8")
    _write_atomic(path, data)
    return path
