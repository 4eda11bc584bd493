"""Small widgets the experiment windows share: which config to run, where to save, number cells."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.errors import ConfigError
from engine.experiments.trial import config_metrics, offered_metrics  # noqa: F401 - the windows import them from here
from engine.training.config import ExperimentConfig, load_config

from ..views.log_axis import ReadableAxis

PRESET_DIR = Path(__file__).resolve().parents[2] / "resources" / "presets"


def default_workers() -> int:
    """Worker processes by default: min(2, cores - 1), so one core stays free for the window
    (1 on a 2-core machine; 0, i.e. in this process, on a single core)."""
    return max(0, min(2, (os.cpu_count() or 1) - 1))


def fmt(value: Any, digits: int = 4) -> str:
    """A table cell: floats to ``digits`` significant digits, None/NaN as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}g}" if math.isfinite(value) else ("" if math.isnan(value) else str(value))
    return str(value)


def spin(lo: int, hi: int, value: int, tip: str, special: str = "") -> QSpinBox:
    """An integer box with a tooltip; ``special`` is shown instead of the lowest value (e.g. "auto")."""
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setValue(value)
    box.setToolTip(tip)
    if special:
        box.setSpecialValueText(special)
    return box


class CountAxis(ReadableAxis):
    """A log axis of counts (training-set sizes): labels as plain whole numbers (64, 200, 1,000)."""

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        strings = super().tickStrings(values, scale, spacing)
        if not self.logMode:
            return strings
        return [f"{10.0 ** v:,.0f}" if text and 10.0 ** v >= 1 else text for v, text in zip(values, strings)]


def plot_widget(x_label: str, y_label: str, log_x: bool = False) -> pg.PlotWidget:
    """A pyqtgraph plot in the style of the main window's curves (readable log labels, faint grid);
    with ``log_x`` the x data are log10 of counts, labelled as counts."""
    bottom = CountAxis("bottom") if log_x else ReadableAxis("bottom")
    plot = pg.PlotWidget(axisItems={"left": ReadableAxis("left"), "bottom": bottom})
    item = plot.getPlotItem()
    item.showGrid(x=True, y=True, alpha=0.15)
    item.setLabel("bottom", x_label)
    item.setLabel("left", y_label)
    item.getAxis("left").setWidth(56)
    if log_x:
        # the data are log10(x): the axis only labels them as powers of ten (error bars need linear data)
        item.getAxis("bottom").setLogMode(True)
    return plot


class ConfigSource(QWidget):
    """The experiment a tool runs: the main window's current one (read when the run starts) or a
    TOML file. ``changed`` fires when the choice changes; ``failed(message)`` when a file cannot be read."""

    changed = Signal()
    failed = Signal(str)

    def __init__(self, session: Any = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self._config: ExperimentConfig | None = None  # None: the session's current config
        self._what = ""
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.current_button = QPushButton("Current")
        self.current_button.setToolTip("Run the experiment open in the main window (as it is when you press Run)")
        self.current_button.clicked.connect(self.use_current)
        self.file_button = QPushButton("File…")
        self.file_button.setToolTip("Run an experiment saved as a TOML config (a preset or a run's config.toml)")
        self.file_button.clicked.connect(lambda: self.open_file())
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.current_button)
        buttons.addWidget(self.file_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addLayout(buttons)
        if session is not None and hasattr(session, "config_changed"):
            session.config_changed.connect(self._session_changed)
        self._show()

    def config(self) -> ExperimentConfig:
        if self._config is not None:
            return self._config
        return getattr(self.session, "config", None) or ExperimentConfig()

    @property
    def is_current(self) -> bool:
        return self._config is None

    def use_current(self) -> None:
        self._config, self._what = None, ""
        self._show()
        self.changed.emit()

    def open_file(self, path: str | os.PathLike | None = None) -> bool:
        """Load a config file (a dialog when ``path`` is None); False, with ``failed`` emitted, if it cannot."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Open an experiment config", str(PRESET_DIR),
                                                  "Experiment configs (*.toml);;All files (*)")
            if not path:
                return False
        try:
            config = load_config(path)
        except ConfigError as exc:
            self.failed.emit(str(exc))
            return False
        self.set_config(config, f"file {Path(path).name}")
        return True

    def set_config(self, config: ExperimentConfig, what: str) -> None:
        """Use ``config`` (e.g. a saved search's base config), described as ``what``."""
        self._config, self._what = config, what
        self._show()
        self.changed.emit()

    def _session_changed(self) -> None:
        if self.is_current:
            self._show()
            self.changed.emit()

    def _show(self) -> None:
        c = self.config()
        where = "current experiment" if self.is_current else self._what
        model = c.model.preset or "custom layers"
        if c.model.width:
            model += f" (width {c.model.width})"
        self.label.setText(f"<b>{c.name}</b> · {where}<br><small>{c.data.name}, {model}, {c.sampler.kind}, "
                           f"{c.train.iterations} iterations</small>")


class FolderField(QWidget):
    """A folder to write into: empty means "a new folder under the runs folder when the run starts"."""

    def __init__(self, placeholder: str, tip: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.edit.setClearButtonEnabled(True)
        self.edit.setToolTip(tip)
        self.browse = QPushButton("…")
        self.browse.setToolTip("Choose a folder")
        self.browse.setFixedWidth(32)
        self.browse.clicked.connect(self._choose)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.browse)

    def path(self) -> Path | None:
        text = self.edit.text().strip()
        return Path(text).expanduser() if text else None

    def set_path(self, path: str | os.PathLike | None) -> None:
        self.edit.setText("" if path is None else str(path))

    def _choose(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a folder", self.edit.text())
        if path:
            self.edit.setText(path)
