"""Interpolate: walk the straight line between two inputs, then let a few Langevin steps pull every
inner point to low energy (engine.applications.interpolate), and plot the energy along both paths.

Image models: two images of a set, picked by index from the strip shown. 2D models: two points;
the path is drawn on the model's energy landscape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QStackedWidget, QVBoxLayout, QWidget

from engine.applications.inputs import load_inputs
from engine.applications.interpolate import interpolate
from engine.applications.models import OpenedModel, open_model
from engine.applications.ood import energies
from engine.errors import ConfigError, EBMError

from ..views.common import PALETTE
from ..views.figure_export import export_png
from .apply_base import ApplyWindow
from .apply_common import (
    IMAGE_SETS,
    InputPicker,
    LandscapePlot,
    TileView,
    chain_progress,
    dspin,
    grid_points,
    muted,
    noise_box,
    optional_value,
    plot_widget,
    save_grid,
    spin,
    step_size_box,
    stoppable,
)

POOL = 24  # images of the set shown to pick from
GRID = 120  # landscape resolution for 2D models
LINEAR_COLOR, REFINED_COLOR = PALETTE[0], PALETTE[1]
ENDPOINT_COLOR = "#00E676"


@dataclass
class PathResult:
    """t: (n,); linear, refined: (n, *shape); energy_linear, energy_refined: (n,); for 2D models the
    landscape xs (R,), ys (R,), energy (R, R); refine_steps: the Langevin steps taken."""

    t: np.ndarray
    linear: np.ndarray
    refined: np.ndarray
    energy_linear: np.ndarray
    energy_refined: np.ndarray
    refine_steps: int
    value_range: tuple[float, float]
    landscape: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


class InterpolateWindow(ApplyWindow):
    title = "Interpolate"
    run_text = "Interpolate"
    kinds = ("interpolate",)

    def __init__(self, session: Any = None, parent: QWidget | None = None):
        super().__init__(session, parent)
        self.pool: np.ndarray | None = None
        self.pool_range = (-1.0, 1.0)
        self._pool_key: tuple | None = None
        self.is_2d = False

        self.images = self.add_field("data", "Images", InputPicker(IMAGE_SETS, "The set the two images come "
                                                                   "from: a built-in set or a file"))
        self.index_a = spin(0, POOL - 1, 0, "Index of the first image (A) in the strip")
        self.index_b = spin(0, POOL - 1, 1, "Index of the second image (B) in the strip")
        self._point_rows: list[QWidget] = []
        self.form.addRow("Image A #", self.index_a)
        self.form.addRow("Image B #", self.index_b)
        self.point_a = self._point_row("A", (-3.0, -1.0))
        self.point_b = self._point_row("B", (3.0, 1.0))
        self.n = self.add_field("n", "Points", spin(2, 64, 10, "Points on the path, both ends included"))
        self.refine = self.add_field("refine_steps", "Refine steps", spin(0, 5000, 20, "Langevin steps from every "
                                     "inner point (the ends stay fixed); 0 = the straight line only"))
        self.step_size = self.add_field("step_size", "Step size", step_size_box())
        self.noise = self.add_field("noise", "Langevin noise", noise_box())
        self.seed = self.add_field("seed", "Seed", spin(0, 2**31 - 1, 0, "Random seed of the Langevin noise"))
        self._build_results()

        self.images.changed.connect(self.load_pool)
        self.index_a.valueChanged.connect(self._mark_pair)
        self.index_b.valueChanged.connect(self._mark_pair)
        self.resize(1150, 720)
        self.finish_setup()

    def _point_row(self, name: str, default: tuple[float, float]) -> tuple[Any, Any]:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        boxes = tuple(dspin(-1000.0, 1000.0, v, f"Point {name} of the path: coordinate x{i + 1}", decimals=2)
                      for i, v in enumerate(default))
        for box in boxes:
            layout.addWidget(box)
        self.form.addRow(f"Point {name}", row)
        self._point_rows.append(row)
        return boxes

    def _build_results(self) -> None:
        self.pool_view = TileView("the set: pick A and B by index")
        self.pool_view.setToolTip("The images to choose from; A and B are framed")
        self.path_view = TileView("the path from A to B")
        self.path_view.setToolTip("Top: the straight line (1 - t) A + t B; bottom: each point after the "
                                  "Langevin refinement")
        image_page = QWidget()
        image_layout = QVBoxLayout(image_page)
        image_layout.setContentsMargins(0, 0, 0, 0)
        image_layout.addWidget(self.pool_view, 2)
        image_layout.addWidget(self.path_view, 3)
        self.landscape = LandscapePlot()
        self.landscape.setToolTip("The model's energy, with the straight path (dashed) and the refined one")
        self.linear_curve = pg.PlotDataItem(pen=pg.mkPen(LINEAR_COLOR, width=2, style=Qt.PenStyle.DashLine),
                                            symbol="o", symbolSize=6, symbolBrush=LINEAR_COLOR, symbolPen=None,
                                            name="straight line")
        self.refined_curve = pg.PlotDataItem(pen=pg.mkPen(REFINED_COLOR, width=2), symbol="o", symbolSize=7,
                                             symbolBrush=REFINED_COLOR, symbolPen=pg.mkPen("k"), name="refined")
        self.ends = pg.ScatterPlotItem(size=12, pen=pg.mkPen("k", width=1), brush=pg.mkBrush(ENDPOINT_COLOR))
        self.landscape.plot.addLegend(offset=(10, 10))
        for item in (self.linear_curve, self.refined_curve, self.ends):
            self.landscape.plot.addItem(item)
        self.pages = QStackedWidget()
        self.pages.addWidget(image_page)
        self.pages.addWidget(self.landscape)
        self.energy_plot = plot_widget("t (0 = A, 1 = B)", "E(x)")
        self.energy_plot.getPlotItem().addLegend(offset=(-10, 10))
        self.energy_plot.setMinimumHeight(150)
        self.summary = muted("Run to walk from A to B.")
        self.results.addWidget(self.pages, 3)
        self.results.addWidget(self.summary)
        self.results.addWidget(self.energy_plot, 2)

    # --- model and inputs -------------------------------------------------------------------------

    def model_problem(self, opened: OpenedModel) -> str | None:
        if not opened.is_image and opened.input_shape != (2,):
            return (f"{opened.name} takes inputs of shape {opened.input_shape}; this window walks between images "
                    "or between 2D points")
        return None

    def model_changed(self) -> None:
        try:
            opened = self.checked_model()
        except EBMError:
            return
        self.is_2d = not opened.is_image
        for w in (self.images, self.index_a, self.index_b):
            self._set_row_visible(w, not self.is_2d)
        for row in self._point_rows:
            self._set_row_visible(row, self.is_2d)
        self.pages.setCurrentIndex(1 if self.is_2d else 0)
        if self.is_2d:
            lo, hi = opened.value_range
            self.landscape.plot.setRange(xRange=(lo, hi), yRange=(lo, hi))
        else:
            self.load_pool()

    def _set_row_visible(self, field: QWidget, visible: bool) -> None:
        self.form.setRowVisible(field, visible)

    def preset_applied(self, preset: Any) -> None:
        self.index_a.setValue(0)
        self.index_b.setValue(1)
        self.model_changed()

    def load_pool(self) -> None:
        try:
            opened = self.checked_model()
        except EBMError:
            return
        if not opened.is_image:
            return
        key = (self.images.value(), opened.input_shape, opened.value_range)
        if key == self._pool_key:
            return
        try:
            x, _ = load_inputs(self.images.value(), POOL, opened.input_shape, opened.value_range, seed=0)
        except EBMError as exc:
            self.show_error(str(exc))
            self.pool, self._pool_key = None, None
            return
        self.pool, self.pool_range, self._pool_key = x, opened.value_range, key
        for box in (self.index_a, self.index_b):
            box.setMaximum(len(x) - 1)
        self._mark_pair()

    def _mark_pair(self) -> None:
        if self.pool is None:
            return
        a, b = self.index_a.value(), self.index_b.value()
        captions = ["A" if i == a else "B" if i == b else str(i) for i in range(len(self.pool))]
        colors = ["#00E676" if i in (a, b) else "#FFFFFF" for i in range(len(self.pool))]
        self.pool_view.show_images(self.pool, self.pool_range, ncols=12, captions=captions, caption_colors=colors,
                                   outlined=[a, b], outline_color=ENDPOINT_COLOR)

    # --- running ---------------------------------------------------------------------------------

    def make_job_fn(self) -> Callable[[Callable[[Any], None], Any], Any]:
        opened = self.checked_model()
        ref = self.model_picker.reference()
        if opened.is_image:
            if self.pool is None:
                raise ConfigError("no images loaded: pick an image set the model can read")
            a, b = self.pool[self.index_a.value()].copy(), self.pool[self.index_b.value()].copy()
        else:
            a = np.array([box.value() for box in self.point_a], dtype=np.float32)
            b = np.array([box.value() for box in self.point_b], dtype=np.float32)
        n, refine, seed, value_range = self.n.value(), self.refine.value(), self.seed.value(), opened.value_range
        step, noise, image = optional_value(self.step_size), optional_value(self.noise), opened.is_image

        def fn(report: Callable[[Any], None], stop: Any) -> PathResult:
            model = open_model(ref)
            r = interpolate(model, a, b, n, refine, step, noise, seed=seed, progress=chain_progress(report, stop))
            landscape = None
            if not image:
                xs, ys, points = grid_points(value_range, GRID)
                landscape = (xs, ys, energies(model, points, batch_size=4096).reshape(len(ys), len(xs)))
            return PathResult(r.t, r.linear[0], r.path[0], r.energy_linear[0], r.energy_path[0], refine,
                              value_range, landscape)

        return stoppable(fn)

    def on_done(self, result: PathResult | None) -> None:
        if result is None:
            return
        self.result = result
        n = len(result.t)
        if result.landscape is None:
            both = np.concatenate([result.linear, result.refined])
            titles = ["line", "refined"] if result.refine_steps else ["line"]
            shown = both if result.refine_steps else result.linear
            self.path_view.show_images(shown, result.value_range, ncols=n, row_titles=titles,
                                       captions=[f"t={t:.2f}" if i == 0 else f"{t:.2f}"
                                                 for i, t in enumerate(result.t)], captions_above=True)
        else:
            xs, ys, z = result.landscape
            self.landscape.show_grid(xs, ys, z)
            self.linear_curve.setData(result.linear[:, 0], result.linear[:, 1])
            self.refined_curve.setData(result.refined[:, 0], result.refined[:, 1])
            self.refined_curve.setVisible(result.refine_steps > 0)
            self.ends.setData([result.linear[0, 0], result.linear[-1, 0]], [result.linear[0, 1], result.linear[-1, 1]])
        plot = self.energy_plot.getPlotItem()
        plot.clear()
        plot.legend.clear()
        plot.plot(result.t, result.energy_linear, pen=pg.mkPen(LINEAR_COLOR, width=2,
                                                               style=Qt.PenStyle.DashLine),
                  symbol="o", symbolSize=5, symbolBrush=LINEAR_COLOR, symbolPen=None, name="straight line")
        if result.refine_steps:
            plot.plot(result.t, result.energy_refined, pen=pg.mkPen(REFINED_COLOR, width=2), symbol="o",
                      symbolSize=5, symbolBrush=REFINED_COLOR, symbolPen=None,
                      name=f"after {result.refine_steps} Langevin steps")
        inner = slice(1, -1) if n > 2 else slice(None)
        peak_line = float(result.energy_linear[inner].max())
        text = f"highest energy on the straight line: {peak_line:.3g}"
        if result.refine_steps:
            text += f"; after refinement: {float(result.energy_refined[inner].max()):.3g}"
        text += f" (ends: {result.energy_linear[0]:.3g}, {result.energy_linear[-1]:.3g})"
        self.summary.setText(text)
        self.save_button.setEnabled(True)

    def save_to(self, folder: str) -> list[str]:
        r = self.result
        if r is None:
            raise ConfigError("nothing to save yet: interpolate first")
        out = Path(folder)
        energy = str(export_png(self.energy_plot, out / "interpolation_energy.png", scale=2))
        if r.landscape is not None:
            return [str(export_png(self.landscape, out / "interpolation_landscape.png", scale=2)), energy]
        path = out / "interpolation.png"
        return [str(save_grid(np.concatenate([r.linear, r.refined]), path, r.value_range, ncols=len(r.t))), energy]
