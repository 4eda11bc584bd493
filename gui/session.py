"""The GUI's model of one experiment: state the views draw, signals they follow.

napari-style: widgets take the Session in ``__init__``, subscribe to its
signals and read its fields; they keep no experiment state of their own.
Everything here is host data (NumPy copies made by the worker), owned by the
GUI thread. The worker (gui.worker) fills it through queued signals.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.training.config import ExperimentConfig
from engine.training.report import Report

# Curves every report carries, then the ones that come now and then.
TRAIN_CURVES = ("loss", "e_pos", "e_neg", "grad_norm", "lr", "seconds", "acceptance", "accuracy")


@dataclass(frozen=True)
class Landscape:
    """E on a grid over the data box: energy (ny, nx), xs (nx,), ys (ny,), log_z (for the density)."""

    iteration: int
    energy: np.ndarray
    xs: np.ndarray
    ys: np.ndarray
    log_z: float

    @property
    def log_density(self) -> np.ndarray:
        return -self.energy - self.log_z


@dataclass(frozen=True)
class Chain:
    """One sampler chain: states (K, *shape) and energies (K,), started at states[0]."""

    states: np.ndarray
    energies: np.ndarray
    sampler: str
    acceptance: float | None = None


class CurveHistory:
    """Scalar series by name, each as (iterations, values), growing append-only.

    Kept in typed arrays (16 bytes a value, not about 70 as Python lists of
    numbers): a long run keeps every iteration.
    """

    def __init__(self) -> None:
        self._data: dict[str, tuple[array, array]] = {}

    def add(self, iteration: int, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if value is None or isinstance(value, str):
                continue
            its, vals = self._data.setdefault(name, (array("q"), array("d")))
            its.append(int(iteration))
            vals.append(float(value))

    def names(self) -> list[str]:
        return list(self._data)

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        its, vals = self._data.get(name, (array("q"), array("d")))
        return np.array(its, dtype=np.int64), np.array(vals, dtype=np.float64)

    def __len__(self) -> int:
        return max((len(v[0]) for v in self._data.values()), default=0)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per iteration, for CSV export."""
        by_it: dict[int, dict[str, Any]] = {}
        for name, (its, vals) in self._data.items():
            for it, v in zip(its, vals):
                by_it.setdefault(it, {"iteration": it})[name] = v
        return [by_it[k] for k in sorted(by_it)]


class Session(QObject):
    config_changed = Signal()  # a new experiment (data or model changed): views start over
    data_changed = Signal()  # data preview ready
    reports_added = Signal()  # new training reports in history / samples
    landscape_changed = Signal()
    chain_changed = Signal()
    buffer_changed = Signal()
    state_changed = Signal(str)  # "idle", "starting", "running", "paused", "finished", "error"
    message = Signal(str, str)  # (level: "info" | "warning" | "error", text)
    progress = Signal(int, int, float)  # (iteration, total, iterations per second)

    def __init__(self, config: ExperimentConfig | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.config = config or ExperimentConfig()
        self.state = "idle"
        self.run_dir: str | None = None
        self.backend_text = ""
        self.history = CurveHistory()
        self.iteration = 0
        self.samples: np.ndarray | None = None
        self.buffer_samples: np.ndarray | None = None  # a random draw from the replay buffer
        self.data_preview: np.ndarray | None = None  # (N, 2) points or (N, C, H, W) images
        self.data_labels: np.ndarray | None = None
        self.data_box: tuple[float, float, float, float] | None = None
        self.value_range: tuple[float, float] = (-1.0, 1.0)
        self.landscape: Landscape | None = None
        self.chain: Chain | None = None
        self.comparisons: dict[str, CurveHistory] = {}  # saved runs overlaid on the curves

    # --- read-only helpers for the views ---------------------------------------------

    @property
    def is_image(self) -> bool:
        return self.data_preview is not None and self.data_preview.ndim == 4

    @property
    def has_run(self) -> bool:
        return self.iteration > 0

    # --- mutations (GUI thread only) ---------------------------------------------------

    def set_config(self, config: ExperimentConfig) -> None:
        """A new experiment: forget the run and its plots."""
        self.config = config
        self.reset_run()
        self.config_changed.emit()

    def reset_run(self) -> None:
        self.history = CurveHistory()
        self.iteration = 0
        self.samples = None
        self.buffer_samples = None
        self.landscape = None
        self.chain = None
        self.run_dir = None
        self.reports_added.emit()
        self.landscape_changed.emit()
        self.chain_changed.emit()

    def set_data(self, preview: np.ndarray, labels: np.ndarray | None, box: Any, value_range: tuple) -> None:
        self.data_preview, self.data_labels = preview, labels
        self.data_box = tuple(box) if box is not None else None
        self.value_range = (float(value_range[0]), float(value_range[1]))
        self.data_changed.emit()

    def add_reports(self, reports: list[Report]) -> None:
        for r in reports:
            self.history.add(r.iteration, {k: v for k, v in r.scalars().items() if k != "iteration"})
            self.iteration = r.iteration
            if r.samples is not None:
                self.samples = r.samples
            if r.message:
                self.message.emit("warning" if "diverged" in r.message else "info", r.message)
        if reports:
            self.reports_added.emit()

    def set_history(self, history: CurveHistory, iteration: int) -> None:
        self.history, self.iteration = history, iteration
        self.reports_added.emit()

    def set_landscape(self, landscape: Landscape) -> None:
        self.landscape = landscape
        self.landscape_changed.emit()

    def set_buffer_samples(self, samples: np.ndarray) -> None:
        self.buffer_samples = samples
        self.buffer_changed.emit()

    def set_chain(self, chain: Chain | None) -> None:
        self.chain = chain
        self.chain_changed.emit()

    def set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    def log(self, level: str, text: str) -> None:
        self.message.emit(level, text)
