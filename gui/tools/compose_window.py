"""Compose: sample from a weighted sum of trained energies, E(x) = sum_i w_i E_i(x)
(engine.applications.compose). Positive weights ask for what every model likes ("A and B", a
product of experts); a negative weight pushes samples away from a model ("A but not B").

2D models: the composed energy landscape with the samples on top. Image models: a grid of samples.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from engine.applications.compose import (
    Composition,
    compose,
    density_on_grid,
    sample_composed,
)
from engine.applications.models import open_model
from engine.applications.preset import ApplicationPreset
from engine.errors import ConfigError

from ..views.figure_export import export_png
from .apply_base import ApplyWindow
from .apply_common import (
    LandscapePlot,
    ModelPicker,
    TileView,
    chain_progress,
    dspin,
    muted,
    optional_value,
    save_grid,
    spin,
    step_size_box,
    stoppable,
)

GRID = 150  # landscape resolution
MAX_TILES = 100  # image samples shown
SAMPLE_COLOR = (0, 229, 255)
DEFAULT_ROWS = (("rings_small", 1.0), ("8gaussians_small", 1.0))


@dataclass
class ComposeRun:
    """samples: (n, *shape); description: "1 * A - 0.5 * B"; value_range: the clamp box; for 2D the
    landscape (xs, ys, density) of the composed energy; acceptance for MALA; n_steps taken."""

    samples: np.ndarray
    description: str
    value_range: tuple[float, float]
    landscape: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    acceptance: float | None
    n_steps: int


class ComponentRow(QWidget):
    """One model of the composition and its weight; ``removed`` asks the window to drop the row."""

    removed = Signal(object)
    changed = Signal()

    def __init__(self, session: Any, ref: str | None, weight: float, parent: QWidget | None = None):
        super().__init__(parent)
        self.picker = ModelPicker(session)
        self.picker.set_value(ref)
        self.weight = dspin(-10.0, 10.0, weight, "Weight w of this model's energy: > 0 asks for what it likes, "
                            "< 0 pushes samples away from it, 0 ignores it", decimals=2, step=0.1)
        self.remove = QPushButton("✕")
        self.remove.setToolTip("Remove this model from the composition")
        self.remove.setFixedWidth(28)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.picker, 1)
        top.addWidget(QLabel("×"))
        top.addWidget(self.weight)
        top.addWidget(self.remove)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 4)
        layout.setSpacing(1)
        layout.addLayout(top)
        layout.addWidget(self.picker.info)
        self.remove.clicked.connect(lambda: self.removed.emit(self))
        self.picker.changed.connect(self.changed)
        self.weight.valueChanged.connect(self.changed)


class ComposeWindow(ApplyWindow):
    title = "Compose models"
    run_text = "Sample"
    kinds = ("compose",)
    uses_model_picker = False

    def __init__(self, session: Any = None, parent: QWidget | None = None):
        super().__init__(session, parent)
        self.rows: list[ComponentRow] = []
        self.rows_box = QVBoxLayout()
        self.rows_box.setContentsMargins(0, 0, 0, 0)
        rows_widget = QWidget()
        rows_widget.setLayout(self.rows_box)
        self.form.insertRow(0, "Models", rows_widget)
        self.add_button = QPushButton("Add model")
        self.add_button.setToolTip("Add another model to the weighted sum")
        self.add_button.clicked.connect(lambda: self.add_row(None, 1.0))
        self.formula = muted("")
        self.form.insertRow(1, "", self.add_button)
        self.form.insertRow(2, self.formula)
        self.n = self.add_field("n", "Samples", spin(1, 100000, 2000, "How many samples (chains), started "
                                                                      "uniformly over the value range"))
        self.steps = self.add_field("n_steps", "Steps", spin(1, 100000, 500, "Sampler steps"))
        self.sampler = QComboBox()
        self.sampler.addItem("Langevin", "langevin")
        self.sampler.addItem("MALA (exact Metropolis test)", "mala")
        self.sampler.setToolTip("Langevin as the first model was trained, or Metropolis-adjusted Langevin")
        self.add_field("sampler", "Sampler", self.sampler)
        self.step_size = self.add_field("step_size", "Step size", step_size_box())
        self.noise = self.add_field("noise", "Langevin noise", dspin(-0.001, 10.0, -0.001, "Noise std per step; "
                                    "'default' is the first model's training noise, or sqrt(2 step) when a step "
                                    "size is given", decimals=3, step=0.001, special="default"))
        self.seed = self.add_field("seed", "Seed", spin(0, 2**31 - 1, 0, "Random seed of the starts and the chains"))
        self.show_as = QComboBox()
        self.show_as.addItems(["Energy", "Density"])
        self.show_as.setToolTip("2D: colour the composed energy (up to a constant) or the normalised density")
        self.form.addRow("Show", self.show_as)

        self.landscape = LandscapePlot()
        self.landscape.setToolTip("The composed energy E = sum_i w_i E_i on a grid, and the samples")
        self.scatter = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(*SAMPLE_COLOR, 170))
        self.landscape.plot.addItem(self.scatter)
        self.grid = TileView("samples of the composed energy")
        self.pages = QStackedWidget()
        self.pages.addWidget(self.landscape)
        self.pages.addWidget(self.grid)
        self.summary = QLabel("Run to sample from the weighted sum of the models' energies.")
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("font-size: 13px;")
        self.results.addWidget(self.pages, 1)
        self.results.addWidget(self.summary)
        self.show_as.currentIndexChanged.connect(self._draw_landscape)
        self.resize(1150, 720)
        if self.preset_picker.current() is None:
            for ref, w in DEFAULT_ROWS:
                self.add_row(ref, w)
        self.finish_setup()

    # --- the rows ------------------------------------------------------------------------------

    def add_row(self, ref: str | None, weight: float) -> ComponentRow:
        row = ComponentRow(self.session, ref, weight)
        row.removed.connect(self.remove_row)
        row.changed.connect(self.models_changed)
        self.rows.append(row)
        self.rows_box.addWidget(row)
        self.models_changed()
        return row

    def remove_row(self, row: ComponentRow) -> None:
        if row in self.rows:
            self.rows.remove(row)
            self.rows_box.removeWidget(row)
            row.deleteLater()
            self.models_changed()

    def set_rows(self, items: list[tuple[str, float]]) -> None:
        for row in list(self.rows):
            self.rows.remove(row)
            self.rows_box.removeWidget(row)
            row.deleteLater()
        for ref, w in items:
            self.add_row(ref, w)

    def apply_preset(self, preset: ApplicationPreset) -> None:
        if isinstance(preset.model, list):
            self.set_rows([(item["model"], float(item.get("weight", 1.0))) for item in preset.model])
        super().apply_preset(preset)

    # --- checks --------------------------------------------------------------------------------

    def composition(self) -> Composition:
        """The composition of the chosen models' descriptions (GUI thread: built, never run)."""
        if not self.rows:
            raise ConfigError("no models: add at least one (two or more to compose)")
        return compose([(row.picker.opened(), row.weight.value()) for row in self.rows])

    def check_models(self) -> None:
        combo = self.composition()
        shape = combo.input_shape
        lo, hi = combo.value_range
        if shape == (2,) and self.result is None:  # before the first run: the box the samples will live in
            self.landscape.plot.setRange(xRange=(lo, hi), yRange=(lo, hi))
        what = f"{shape[0]}-D points" if len(shape) == 1 else f"{'×'.join(map(str, shape))} images"
        self.formula.setText(f"E(x) = {combo.describe()}  ·  {what} in [{combo.value_range[0]:g}, "
                             f"{combo.value_range[1]:g}]")

    def models_changed(self) -> None:
        if not hasattr(self, "rows"):
            return  # the base class asks before the rows exist
        self.formula.setText("")
        super().models_changed()

    # --- running -------------------------------------------------------------------------------

    def make_job_fn(self) -> Callable[[Callable[[Any], None], Any], Any]:
        combo = self.composition()
        refs = [(row.picker.reference(), row.weight.value()) for row in self.rows]
        is_2d = combo.input_shape == (2,)
        n, steps, sampler, seed = self.n.value(), self.steps.value(), self.sampler.currentData(), self.seed.value()
        step, noise = optional_value(self.step_size), optional_value(self.noise)

        def fn(report: Callable[[Any], None], stop: threading.Event) -> ComposeRun:
            combo = compose([(open_model(ref), w) for ref, w in refs])
            out = sample_composed(combo, n=n, n_steps=steps, step_size=step, noise=noise, sampler=sampler,
                                  seed=seed, progress=chain_progress(report, stop))
            landscape = density_on_grid(combo, resolution=GRID) if is_2d else None
            return ComposeRun(out.x, combo.describe(), combo.value_range, landscape, out.acceptance, steps)

        return stoppable(fn)

    def on_done(self, run: ComposeRun | None) -> None:
        if run is None:
            return
        self.result = run
        if run.landscape is not None:
            self.pages.setCurrentWidget(self.landscape)
            self._draw_landscape()
            self.scatter.setData(run.samples[:, 0], run.samples[:, 1])
        else:
            self.pages.setCurrentWidget(self.grid)
            self.grid.show_images(run.samples[:MAX_TILES], run.value_range)
        self.save_button.setEnabled(True)
        acc = "" if run.acceptance is None else f" · MALA acceptance {run.acceptance:.2f}"
        more = f" (first {MAX_TILES} shown)" if run.landscape is None and len(run.samples) > MAX_TILES else ""
        self.summary.setText(f"{len(run.samples)} samples{more} of E(x) = <b>{run.description}</b> after "
                             f"{run.n_steps} steps{acc}")

    def _draw_landscape(self) -> None:
        run = self.result
        if run is None or run.landscape is None:
            return
        xs, ys, p = run.landscape
        if self.show_as.currentText() == "Energy":  # -log p: the composed energy up to a constant
            z = -np.log(np.maximum(p, np.finfo(np.float64).tiny))
            z -= z.min()
            self.landscape.show_grid(xs, ys, z, "Energy")
        else:
            self.landscape.show_grid(xs, ys, p, "Density")

    def save_to(self, folder: str) -> list[str]:
        run = self.result
        if run is None:
            raise ConfigError("nothing to save yet: sample first")
        if run.landscape is not None:
            return [str(export_png(self.landscape, Path(folder) / "compose_landscape.png", scale=2))]
        return [str(save_grid(run.samples[:MAX_TILES], Path(folder) / "compose_samples.png", run.value_range))]
