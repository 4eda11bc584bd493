"""A table for editing a hyperparameter search space: one row per searched setting
(key, distribution, low/high or values, grid points), read back as the engine's space dict."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QCompleter,
    QHeaderView,
    QLineEdit,
    QSpinBox,
    QTableWidget,
    QWidget,
)

from engine.errors import ConfigError
from engine.experiments.space import KINDS, RESERVED, SearchSpace
from engine.fileio import atomic_write_text
from engine.training.config import ExperimentConfig, tomllib

COLUMNS = ("setting", "distribution", "low or values", "high", "points")
KIND_TIPS = {
    "log_uniform": "decimal numbers, uniform in log space between low and high (learning rates, step sizes)",
    "uniform": "decimal numbers, uniform between low and high",
    "int_uniform": "whole numbers, uniform between low and high (both included)",
    "int_log_uniform": "whole numbers, uniform in log space (widths, step counts)",
    "values": "one of a list of values (any kind of setting), e.g. 10, 20, 40 or langevin, mala",
}


def searchable_keys(config: ExperimentConfig | None = None) -> list[str]:
    """Every "section.name" setting with a number, text or yes/no value (lists such as model.layers
    cannot be searched from the table), without the ones the search sets itself."""
    config = config or ExperimentConfig()
    keys = []
    for section in dataclasses.fields(config):
        table = getattr(config, section.name)
        if not dataclasses.is_dataclass(table):
            continue
        for f in dataclasses.fields(table):
            key = f"{section.name}.{f.name}"
            if isinstance(getattr(table, f.name), (int, float, str)) and key not in RESERVED:
                keys.append(key)
    return keys


def parse_value(text: str) -> Any:
    """One listed value: a TOML number, true/false or quoted text; anything else as plain text."""
    text = text.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def format_value(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value).lower() if isinstance(value, bool) else str(value)


def space_toml(spec: dict[str, Any]) -> str:
    """A space dict ({"train.lr": {"log_uniform": [a, b]}, ...}) as TOML with one table per section."""
    sections: dict[str, list[str]] = {}
    for key, dist in spec.items():
        section, name = key.split(".", 1)
        inline = ", ".join(f"{k} = {_toml_value(v)}" for k, v in dist.items())
        sections.setdefault(section, []).append(f"{name} = {{ {inline} }}")
    blocks = [f"[{section}]\n" + "\n".join(lines) for section, lines in sections.items()]
    return "# EBM Studio search space (see resources/search/)\n\n" + "\n\n".join(blocks) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # a TOML basic string: the same escapes as JSON


class SpaceEditor(QTableWidget):
    """Rows of (setting, distribution, low or values, high, points) with a completer of the settings."""

    edited = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.verticalHeader().setVisible(False)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.horizontalHeader()
        header.setStretchLastSection(False)
        for col, width in ((1, 112), (2, 108), (3, 60), (4, 56)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            self.setColumnWidth(col, width)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # the setting's name takes the rest
        self.setToolTip("What the search varies: one setting per row (section.name, as in the config file) with "
                        "a range (low, high) or a list of values (comma-separated, in the low column); points: how "
                        "many values of a range a grid search tries")
        self.keys = searchable_keys()

    # --- rows ------------------------------------------------------------------------

    def add_row(self, key: str = "", kind: str = "log_uniform", low: Any = "", high: Any = "",
                values: list[Any] | None = None, points: int = 0) -> int:
        row = self.rowCount()
        self.insertRow(row)
        key_box = QComboBox()
        key_box.setEditable(True)
        key_box.addItems(self.keys)
        key_box.setCurrentText(key)
        key_box.lineEdit().setCursorPosition(0)  # a long name shows its start (the section)
        key_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        completer = QCompleter(self.keys, key_box)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        key_box.setCompleter(completer)
        key_box.setToolTip("The setting to search, as section.name (type to filter the list)")
        kind_box = QComboBox()
        for k in KINDS:
            kind_box.addItem(k)
            kind_box.setItemData(kind_box.count() - 1, KIND_TIPS[k], Qt.ItemDataRole.ToolTipRole)
        kind_box.setCurrentText(kind)
        kind_box.setToolTip("How values are drawn (hover over the choices for more)")
        first = ", ".join(format_value(v) for v in values) if kind == "values" and values else format_value(low)
        low_edit, high_edit = QLineEdit(first), QLineEdit(format_value(high))
        low_edit.setToolTip("A range's lowest value, or for 'values' the choices separated by commas "
                            "(e.g. 10, 20, 40 or langevin, mala)")
        high_edit.setToolTip("A range's highest value")
        points_box = QSpinBox()
        points_box.setRange(0, 100)
        points_box.setValue(points)
        points_box.setSpecialValueText("auto")
        points_box.setToolTip("Grid points of this range in a grid search (auto: the search's grid points)")
        for col, w in enumerate((key_box, kind_box, low_edit, high_edit, points_box)):
            self.setCellWidget(row, col, w)
            signal = getattr(w, "currentTextChanged", None) or getattr(w, "textChanged", None) or w.valueChanged
            signal.connect(lambda *_: self.edited.emit())
        kind_box.currentTextChanged.connect(lambda *_, r=kind_box: self._kind_changed(r))
        self._kind_changed(kind_box)
        return row

    def remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.selectedIndexes()}, reverse=True) or \
            ([self.currentRow()] if self.currentRow() >= 0 else [])
        for row in rows:
            self.removeRow(row)
        self.edited.emit()

    def _kind_changed(self, kind_box: QComboBox) -> None:
        row = next((r for r in range(self.rowCount()) if self.cellWidget(r, 1) is kind_box), -1)
        if row < 0:
            return
        listed = kind_box.currentText() == "values"
        for col in (3, 4):
            self.cellWidget(row, col).setEnabled(not listed)
        self.cellWidget(row, 2).setPlaceholderText("a, b, c" if listed else "low")

    # --- to and from the engine's space -------------------------------------------------------------

    def spec(self) -> dict[str, Any]:
        """The space dict of the rows (ConfigError naming the row for an unreadable number);
        the engine checks keys and values (SearchSpace.from_dict)."""
        out: dict[str, Any] = {}
        for row in range(self.rowCount()):
            key = self.cellWidget(row, 0).currentText().strip()
            kind = self.cellWidget(row, 1).currentText()
            low, high = (self.cellWidget(row, c).text().strip() for c in (2, 3))
            points = self.cellWidget(row, 4).value()
            if not key and not (low or high):
                continue  # an empty row
            where = f"search space row {row + 1}" + (f" ({key})" if key else "")
            if not key:
                raise ConfigError(f"{where}: choose the setting to search (section.name, e.g. train.lr)")
            if key in out:
                raise ConfigError(f"{where}: {key} is searched twice; keep one row per setting")
            if kind == "values":
                items = [parse_value(v) for v in low.split(",") if v.strip()]
                if not items:
                    raise ConfigError(f"{where}: give the values to try, separated by commas")
                out[key] = {"values": items}
                continue
            bounds = []
            for name, text in (("low", low), ("high", high)):
                value = parse_value(text)
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ConfigError(f"{where}: {name} must be a number, got {text!r}")
                if kind.startswith("int"):
                    if value != int(value):
                        raise ConfigError(f"{where}: {kind} needs whole numbers, got {name} = {text}")
                    value = int(value)
                else:
                    value = float(value)
                bounds.append(value)
            out[key] = {kind: bounds, **({"points": points} if points else {})}
        return out

    def space(self, base: ExperimentConfig) -> SearchSpace:
        """The rows as a checked SearchSpace for ``base`` (ConfigError naming the bad row or key)."""
        return SearchSpace.from_dict(self.spec(), base)

    def set_space(self, space: SearchSpace) -> None:
        self.setRowCount(0)
        for d in space.dimensions:
            if d.kind == "values":
                self.add_row(d.key, d.kind, values=list(d.args))
            else:
                self.add_row(d.key, d.kind, d.args[0], d.args[1], points=d.points)
        self.edited.emit()

    def load(self, path: str | os.PathLike, base: ExperimentConfig) -> SearchSpace:
        """Read a space TOML (checked against ``base``) into the rows."""
        space = SearchSpace.load(path, base)
        self.set_space(space)
        return space

    def save(self, path: str | os.PathLike, base: ExperimentConfig) -> Path:
        """Check the rows against ``base`` and write them as a space TOML (atomically)."""
        space = self.space(base)
        path = Path(path)
        try:
            atomic_write_text(path, space_toml(space.to_dict()))
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
        return path
