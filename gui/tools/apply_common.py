"""What the Apply windows share: the model and preset pickers, an input-set picker, image grids,
plots in the main window's style, and progress/stop plumbing for the engine's chains.

The windows never hand an OpenedModel from the GUI thread to a Job: the picker opens the model
here only to read what it is (shape, classes, what it was trained on), and each Job opens its
own copy from ``picker.reference()`` (engine networks keep scratch buffers; two threads must not
share one).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QWidget,
)

from engine.applications.models import (
    MODEL_SUFFIX,
    OpenedModel,
    open_model,
    shipped_models,
)
from engine.applications.preset import ApplicationPreset, list_applications
from engine.data import builtin, toy2d
from engine.errors import ConfigError, EBMError, ModelFileError

from ..views.common import PALETTE
from ..views.landscape_view import add_energy_image, display_levels, image_rect
from ..views.log_axis import ReadableAxis
from ..views.tiles import tile_images
from .widgets import spin  # noqa: F401 - the windows import it from here too

CURRENT_RUN = "__current_run__"
BROWSE = "__browse__"
FILE = "__file__"
MUTED = "color: #888;"
WARN = "color: #D55E00;"
MISMATCH = "#D55E00"
CAPTION_FONT = QFont()
CAPTION_FONT.setPointSizeF(7.5)
IMAGE_SETS = tuple(builtin.GENERATORS)
ENERGY_PERCENTILE = 50  # 2D landscapes colour energies up to this percentile of the grid
POINT_SETS = tuple(toy2d.TOY_DATASETS)


# --- progress and stop ---------------------------------------------------------------------------


class Stopped(Exception):
    """Raised inside a Job's engine call when the user pressed Stop."""


@dataclass(frozen=True)
class Progress:
    """A Job's progress report: ``done`` of ``total`` units (steps, batches)."""

    done: float
    total: float


def chain_progress(report: Callable[[Any], None], stop: threading.Event, offset: int = 0,
                   total: int | None = None) -> Callable[[int, int], None]:
    """A progress callback for the engine's chains: reports Progress, raises Stopped once stop is set.

    offset/total place one chain inside a larger job (e.g. the second of two runs)."""

    def progress(done: int, steps: int) -> None:
        if stop.is_set():
            raise Stopped
        report(Progress(offset + done, total if total is not None else steps))

    return progress


def stoppable(fn: Callable[[Callable[[Any], None], threading.Event], Any]) -> Callable[..., Any]:
    """Wrap a Job function so that Stopped ends it quietly (the result is None)."""

    def run(report: Callable[[Any], None], stop: threading.Event) -> Any:
        try:
            return fn(report, stop)
        except Stopped:
            return None

    return run


# --- settings widgets ------------------------------------------------------------------------------


def dspin(lo: float, hi: float, value: float, tip: str, decimals: int = 3, step: float = 0.1,
          special: str = "") -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setValue(value)
    box.setToolTip(tip)
    if special:
        box.setSpecialValueText(special)
    return box


def step_size_box() -> QDoubleSpinBox:
    """The Langevin step size; its lowest value reads "as trained" (None: the model's training sampler)."""
    return dspin(0.0, 1000.0, 0.0, "Langevin step size (multiplies dE/dx); 'as trained' uses the step the model "
                 "was trained with", decimals=4, step=0.01, special="as trained")


def noise_box(tip: str = "") -> QDoubleSpinBox:
    """The Langevin noise std; its lowest value reads "as trained" (the training sampler's noise)."""
    return dspin(-0.001, 10.0, -0.001, tip or "Standard deviation of the Gaussian noise added per Langevin step; "
                 "0 = plain gradient descent on the energy; 'as trained' uses the training sampler's noise",
                 decimals=3, step=0.001, special="as trained")


def optional_value(box: QDoubleSpinBox) -> float | None:
    """None at the box's special ("as trained") value, else its number."""
    return None if box.specialValueText() and box.value() == box.minimum() else float(box.value())


def set_field(widget: Any, value: Any) -> None:
    """Put a preset's value into a settings widget (spin boxes, combos, pickers)."""
    if isinstance(widget, QDoubleSpinBox):
        widget.setValue(widget.minimum() if value is None else float(value))
    elif isinstance(widget, QSpinBox):
        widget.setValue(widget.minimum() if value is None else int(value))
    elif isinstance(widget, QComboBox):
        index = widget.findData(value)
        if index < 0:
            index = widget.findText(str(value))
        if index >= 0:
            widget.setCurrentIndex(index)
    elif hasattr(widget, "set_value"):
        widget.set_value(value)


def get_field(widget: Any) -> Any:
    """The value set_field would put back (for resetting a form to its defaults)."""
    if isinstance(widget, QDoubleSpinBox):
        return optional_value(widget) if widget.specialValueText() else widget.value()
    if isinstance(widget, QSpinBox):
        return widget.value()
    if isinstance(widget, QComboBox):
        return widget.currentData()
    return widget.value() if hasattr(widget, "value") else None


def muted(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(MUTED)
    return label


# --- model picker ----------------------------------------------------------------------------------


def describe_model(opened: OpenedModel) -> str:
    """One or two lines: what the model is and what it was trained on."""
    shape = "×".join(str(s) for s in opened.input_shape)
    lo, hi = opened.value_range
    what = f"JEM classifier, {opened.num_classes} classes" if opened.is_jem else "energy network"
    inputs = f"{shape} images in [{lo:g}, {hi:g}]" if opened.is_image else f"{shape}-D points"
    line = f"{what} on {inputs}"
    if opened.dataset:
        line += f"; trained on {Path(opened.dataset).name if os.sep in opened.dataset else opened.dataset}"
    iterations = opened.info.get("iterations") or (opened.config.train.iterations if opened.config else None)
    if iterations:
        line += f" ({iterations} iterations)"
    metrics = opened.info.get("metrics") or {}
    if isinstance(metrics.get("val_accuracy"), (int, float)):
        line += f"; validation accuracy {100 * metrics['val_accuracy']:.1f}%"
    if opened.config is None:
        line += "; no training config found (sampler defaults are generic)"
    return line


class ModelPicker(QWidget):
    """The model an Apply window uses: the current run, a shipped model, or a browsed file/run folder.

    ``changed`` fires when the choice changes. ``reference()`` is what a Job passes to
    open_model; ``opened()`` reads the model here (cached per file and modification time) to
    say what it is. Both raise ModelFileError with a message for the status line.
    """

    changed = Signal()

    def __init__(self, session: Any = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self._cache: dict[str, tuple[float, OpenedModel]] = {}
        self.combo = QComboBox()
        self.combo.setToolTip("The trained model to apply: the main window's current run (once it has saved a "
                              "model), a model shipped with EBM Studio, or a run folder / .safetensors file")
        if session is not None:
            self.combo.addItem("Current run", CURRENT_RUN)
        for name in shipped_models():
            self.combo.addItem(name, name)
        self.combo.addItem("Browse…", BROWSE)
        self.info = muted()
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QHBoxLayout(self)  # the window puts ``info`` on a row of its own (full width)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo)
        self._last = self.combo.currentIndex()
        self.combo.activated.connect(self._activated)
        self.combo.currentIndexChanged.connect(self._index_changed)
        if session is not None and hasattr(session, "state_changed"):
            session.state_changed.connect(self._session_state)  # a stopped run has just saved its model
        self.refresh()

    # --- choosing ----------------------------------------------------------------------

    def set_value(self, ref: str | os.PathLike[str] | None) -> None:
        """Select a shipped name, "current run", or a path (added to the list)."""
        if ref is None:
            return
        text = os.fspath(ref)
        index = self.combo.findData(CURRENT_RUN if text == "current run" else text)
        if index < 0:
            plain = "/" not in text and "\\" not in text and not Path(text).exists()
            path = text if plain else str(Path(text).expanduser().resolve())  # a missing shipped name stays a name
            index = self.combo.findData(path)
            if index < 0:
                index = self.combo.count() - 1  # before "Browse…"
                label = Path(path).name if Path(path).name != f"model{MODEL_SUFFIX}" else Path(path).parent.name
                self.combo.insertItem(index, label, path)
                self.combo.setItemData(index, path, Qt.ItemDataRole.ToolTipRole)
        self.combo.setCurrentIndex(index)

    def _activated(self, index: int) -> None:
        if self.combo.itemData(index) != BROWSE:
            return
        start = str(Path(self.session.run_dir).parent) if self.session is not None and self.session.run_dir else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open a model: a run folder's model.safetensors, or any "
                                              ".safetensors", start, f"Models (*{MODEL_SUFFIX});;All files (*)")
        if path:
            self.set_value(path)
        else:
            self.combo.setCurrentIndex(self._last)

    def _index_changed(self, index: int) -> None:
        if self.combo.itemData(index) == BROWSE:
            return
        self._last = index
        self.refresh()
        self.changed.emit()

    def _session_state(self, state: str) -> None:
        if self.combo.currentData() == CURRENT_RUN:
            self.refresh()

    # --- reading ----------------------------------------------------------------------

    def reference(self) -> str:
        """A reference for open_model: a shipped name or a path. ModelFileError if there is none."""
        data = self.combo.currentData()
        if data == CURRENT_RUN:
            run_dir = getattr(self.session, "run_dir", None)
            if not run_dir:
                raise ModelFileError("there is no current run: start one in the main window, or pick a "
                                     "shipped model")
            if not (Path(run_dir) / f"model{MODEL_SUFFIX}").is_file():
                raise ModelFileError(f"the current run ({Path(run_dir).name}) has not saved a model yet: train "
                                     "it, then press Stop (the trainer saves the model when it stops), or pick "
                                     "a shipped model")
            return str(run_dir)
        if data in (None, BROWSE):
            raise ModelFileError("no model chosen: pick one from the list or Browse… for a file")
        return str(data)

    def opened(self) -> OpenedModel:
        """The chosen model, read in this thread for its description (do not run it here)."""
        ref = self.reference()
        path = Path(ref)
        model_file = path / f"model{MODEL_SUFFIX}" if path.is_dir() else path
        try:
            stamp = model_file.stat().st_mtime if model_file.exists() else 0.0
        except OSError:
            stamp = 0.0
        cached = self._cache.get(ref)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        opened = open_model(ref)
        self._cache[ref] = (stamp, opened)
        return opened

    def refresh(self) -> None:
        """Say what the chosen model is (or why it cannot be used)."""
        try:
            opened = self.opened()
        except EBMError as exc:
            self.info.setText(str(exc))
            self.info.setStyleSheet(WARN)
            return
        self.info.setText(describe_model(opened))
        self.info.setStyleSheet(MUTED)
        self.info.setToolTip(str(opened.source))


class PresetPicker(QWidget):
    """The application presets of some kinds; choosing one emits ``chosen(preset)``."""

    chosen = Signal(object)

    def __init__(self, kinds: Sequence[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setToolTip("Ready-made settings from resources/applications/: choosing one fills in the model "
                              "and the settings below")
        self.presets: list[ApplicationPreset] = []
        self.problem = ""
        try:
            self.presets = [p for kind in kinds for p in list_applications(kind)]
        except EBMError as exc:  # a broken preset file must not keep the window from opening
            self.problem = str(exc)
        for p in self.presets:
            self.combo.addItem(p.name, p.name)
            self.combo.setItemData(self.combo.count() - 1, p.description, Qt.ItemDataRole.ToolTipRole)
        if not self.presets:
            self.combo.addItem("(none)")
            self.combo.setEnabled(False)
        self.about = muted(self.problem)  # the window puts it on a row of its own
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo)
        self.combo.activated.connect(self._emit)

    def current(self) -> ApplicationPreset | None:
        index = self.combo.currentIndex()
        return self.presets[index] if 0 <= index < len(self.presets) else None

    def choose(self, name: str | None = None) -> ApplicationPreset | None:
        """Select a preset by name (default: the current one) and emit ``chosen``."""
        if name is not None:
            index = self.combo.findData(name)
            if index < 0:
                raise ConfigError(f"no application preset {name!r} here; "
                                  f"have: {', '.join(p.name for p in self.presets) or '(none)'}")
            self.combo.setCurrentIndex(index)
        return self._emit(self.combo.currentIndex())

    def _emit(self, index: int) -> ApplicationPreset | None:
        preset = self.current()
        if preset is not None:
            self.about.setText(preset.description)
            self.chosen.emit(preset)
        return preset


class InputPicker(QWidget):
    """A named input set for load_inputs: built-in images, toy points, uniform noise, or a file.

    ``value()`` is the name or path; ``changed`` fires on a new choice."""

    changed = Signal()

    def __init__(self, names: Sequence[str], tip: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setToolTip(tip)
        for name in names:
            self.combo.addItem(name, name)
        self.combo.addItem("File…", FILE)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo)
        self._last = 0
        self.combo.activated.connect(self._activated)
        self.combo.currentIndexChanged.connect(self._index_changed)

    def value(self) -> str:
        return str(self.combo.currentData())

    def set_value(self, value: str | os.PathLike[str] | None) -> None:
        if value is None:
            return
        text = os.fspath(value)
        index = self.combo.findData(text)
        if index < 0:
            index = self.combo.count() - 1
            self.combo.insertItem(index, Path(text).name, text)
            self.combo.setItemData(index, text, Qt.ItemDataRole.ToolTipRole)
        self.combo.setCurrentIndex(index)

    def _activated(self, index: int) -> None:
        if self.combo.itemData(index) != FILE:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open inputs", "", "Data (*.npy *.npz *.gz *idx* *ubyte* "
                                              "*.png *.jpg *.jpeg *.csv *.txt);;All files (*)")
        if path:
            self.set_value(path)
        else:
            self.combo.setCurrentIndex(self._last)

    def _index_changed(self, index: int) -> None:
        if self.combo.itemData(index) == FILE:
            return
        self._last = index
        self.changed.emit()


# --- pictures and plots --------------------------------------------------------------------------------


def plot_widget(x_label: str, y_label: str) -> pg.PlotWidget:
    """A plot in the style of the main window's curves: readable axes, a faint grid."""
    plot = pg.PlotWidget(axisItems={"left": ReadableAxis("left"), "bottom": ReadableAxis("bottom")})
    item = plot.getPlotItem()
    item.showGrid(x=True, y=True, alpha=0.15)
    item.setLabel("bottom", x_label)
    item.setLabel("left", y_label)
    item.getAxis("left").setWidth(56)
    return plot


class TileView(pg.GraphicsLayoutWidget):
    """A grid of images as one picture, with an optional title per row, a caption per tile and
    outlined tiles (e.g. the ones a classifier gets wrong).

    ``rows``/``cols`` give the grid last shown; ``captions`` the tile captions (row-major)."""

    GAP = 2

    def __init__(self, title: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.ci.setContentsMargins(2, 2, 2, 2)
        self.setBackground("k")
        self.title = self.addLabel(title, row=0, col=0, size="9pt", color="#BBBBBB")
        self.title.setVisible(bool(title))
        self.box = self.addViewBox(row=1, col=0, lockAspect=True, invertY=True, enableMouse=False)
        self.box.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.box.addItem(self.image)
        self._items: list[Any] = []
        self.rows = self.cols = 0
        self.captions: list[str] = []
        self.row_titles: list[str] = []
        self.outlined: list[int] = []
        self.setMinimumHeight(60)

    def set_title(self, text: str) -> None:
        self.title.setText(text, size="9pt", color="#BBBBBB")
        self.title.setVisible(bool(text))

    def clear_tiles(self) -> None:
        for item in self._items:
            self.box.removeItem(item)
        self._items = []
        self.image.clear()
        self.rows = self.cols = 0
        self.captions, self.row_titles, self.outlined = [], [], []

    def show_images(self, images: np.ndarray, value_range: tuple[float, float], ncols: int | None = None,
                    row_titles: Sequence[str] = (), captions: Sequence[str] = (),
                    caption_colors: Sequence[str] = (), outlined: Sequence[int] = (),
                    title_width: float = 0.0, captions_above: bool = False,
                    outline_color: str = MISMATCH) -> None:
        """images: (N, C, H, W). row_titles: one per row, left of it; captions: one per tile (in its
        top-left corner), or with ``captions_above`` one per column, above the first row; outlined:
        tile indices framed in the mismatch colour. title_width: room on the left for the row
        titles, in tile widths (0 = automatic when there are titles)."""
        for item in self._items:
            self.box.removeItem(item)
        self._items = []
        images = np.asarray(images)
        n, h, w = images.shape[0], images.shape[-2], images.shape[-1]
        cols = max(1, min(n, ncols or int(np.ceil(np.sqrt(n)))))
        rows = int(np.ceil(n / cols))
        picture = tile_images(images, value_range, ncols=cols, gap=self.GAP)
        self.image.setImage(picture, autoLevels=False, levels=(0, 255))
        self.rows, self.cols = rows, cols
        self.captions, self.row_titles, self.outlined = list(captions), list(row_titles), list(outlined)
        step_x, step_y = w + self.GAP, h + self.GAP
        for r, text in enumerate(row_titles[:rows]):
            item = pg.TextItem(text, color="#DDDDDD", anchor=(1, 0.5))
            item.setPos(-self.GAP * 2, r * step_y + h / 2)
            self._add(item)
        for k, text in enumerate(captions[:n]):
            if not text:
                continue
            r, c = divmod(k, cols)
            color = caption_colors[k] if k < len(caption_colors) else "#FFFFFF"
            if captions_above:
                if r > 0:
                    break
                item = pg.TextItem(text, color=color, anchor=(0.5, 1))
                item.setPos(c * step_x + w / 2, -self.GAP)
            else:
                item = pg.TextItem(text, color=color, fill=pg.mkBrush(0, 0, 0, 170), anchor=(0, 0))
                item.setFont(CAPTION_FONT)
                item.setPos(c * step_x, r * step_y)
            self._add(item)
        for k in outlined:
            r, c = divmod(int(k), cols)
            frame = QGraphicsRectItem(QRectF(c * step_x - 0.5, r * step_y - 0.5, w + 1, h + 1))
            pen = QPen(QColor(outline_color))
            pen.setWidthF(2.0)
            pen.setCosmetic(True)
            frame.setPen(pen)
            self._add(frame)
        left = -(title_width or (1.0 if row_titles else 0.0)) * w
        top = -0.5 * h if captions_above and any(captions) else -1
        self.box.setRange(xRange=(left - 1, picture.shape[1] + 1), yRange=(top, picture.shape[0] + 1), padding=0)

    def _add(self, item: Any) -> None:
        self.box.addItem(item, ignoreBounds=True)
        self._items.append(item)

    def export_item(self) -> Any:
        return self.ci


class LandscapePlot(pg.PlotWidget):
    """A 2D energy (or density) on a grid as a colour image with a colour bar; points and paths go on top."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, axisItems={"left": ReadableAxis("left"), "bottom": ReadableAxis("bottom")})
        self.plot = self.getPlotItem()
        self.plot.setLabel("bottom", "x1")
        self.plot.setLabel("left", "x2")
        self.plot.setAspectLocked(True)
        self.image, self.colorbar = add_energy_image(self.plot)
        self.mode = ""

    def show_grid(self, xs: np.ndarray, ys: np.ndarray, z: np.ndarray, mode: str = "Energy") -> None:
        """z: (len(ys), len(xs)), z[i, j] at (xs[j], ys[i]); mode "Energy" (magma) or "Density" (viridis)."""
        z = np.asarray(z, dtype=np.float64)
        levels = display_levels(z, mode)
        finite = z[np.isfinite(z)]
        if mode == "Energy" and finite.size:  # the box's corners dwarf the basins: colour the lower half only
            top = float(np.percentile(finite, ENERGY_PERCENTILE))
            levels = (levels[0], top) if top > levels[0] else levels
        self.image.setImage(z.astype(np.float32), autoLevels=False, levels=levels)
        self.image.setRect(image_rect(np.asarray(xs), np.asarray(ys)))
        if mode != self.mode:
            self.colorbar.setColorMap("magma" if mode == "Energy" else "viridis")
            self.colorbar.axis.setLabel("energy E(x)" if mode == "Energy" else "density")
            self.mode = mode
        self.colorbar.setLevels(levels)
        self.plot.setRange(xRange=(float(xs[0]), float(xs[-1])), yRange=(float(ys[0]), float(ys[-1])), padding=0.02)

    def export_item(self) -> Any:
        return self.plot


def grid_points(value_range: tuple[float, float], resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xs (R,), ys (R,), points (R*R, 2) float32) over the square value_range², row-major in y."""
    lo, hi = float(value_range[0]), float(value_range[1])
    xs = np.linspace(lo, hi, int(resolution))
    gx, gy = np.meshgrid(xs, xs)
    return xs, xs.copy(), np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)


def save_grid(images: np.ndarray, path: str | os.PathLike[str], value_range: tuple[float, float],
              ncols: int | None = None) -> Path:
    """images: (N, C, H, W) as a PNG grid, each pixel 3×3 (engine.export.save_image_grid)."""
    from engine.export import save_image_grid

    return save_image_grid(images, path, nrow=ncols, value_range=value_range, scale=3)


def pick_folder(parent: QWidget, title: str) -> str:
    return QFileDialog.getExistingDirectory(parent, title, str(Path.home()))


def colors(k: int) -> list[str]:
    return [PALETTE[i % len(PALETTE)] for i in range(k)]
