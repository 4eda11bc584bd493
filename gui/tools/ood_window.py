"""Out-of-distribution detection by energy: histograms of E on the training kind of data and on another
set, the AUROC, and the threshold that keeps 95% of the in-distribution inputs with its false-positive
rate (engine.applications.ood).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from engine.applications.inputs import NOISE, load_inputs
from engine.applications.models import OpenedModel, open_model
from engine.applications.ood import OODResult, energies, score_energies
from engine.errors import ConfigError, EBMError
from engine.fileio import atomic_write_text

from ..views.common import PALETTE
from ..views.figure_export import export_png
from .apply_base import ApplyWindow
from .apply_common import (
    IMAGE_SETS,
    POINT_SETS,
    InputPicker,
    Progress,
    Stopped,
    muted,
    plot_widget,
    spin,
    stoppable,
)

IN_COLOR, OUT_COLOR = PALETTE[0], PALETTE[1]
BATCH = 64  # inputs per energy evaluation between progress reports
SETS = (*IMAGE_SETS, NOISE, *POINT_SETS)


@dataclass
class OODRun:
    result: OODResult
    n_in: int
    n_out: int


def batched_energies(model: Any, x: np.ndarray, report: Callable[[Any], None], stop: Any, offset: int,
                     total: int) -> np.ndarray:
    """E of x: (N, *shape) in batches, reporting Progress(offset + done, total); Stopped on a stop."""
    parts = []
    for i in range(0, len(x), BATCH):
        if stop.is_set():
            raise Stopped
        parts.append(energies(model, x[i:i + BATCH]))
        report(Progress(offset + min(i + BATCH, len(x)), total))
    return np.concatenate(parts) if parts else np.zeros(0)


class OODWindow(ApplyWindow):
    title = "Out-of-distribution detection"
    run_text = "Score"
    kinds = ("ood",)

    def __init__(self, session: Any = None, parent: QWidget | None = None):
        super().__init__(session, parent)
        self.in_data = self.add_field("in_data", "In-distribution", InputPicker(
            SETS, "Inputs like the training data (they should get low energy): a built-in set, a toy 2D density, "
            "or a file"))
        self.out_data = self.add_field("out_data", "Other data", InputPicker(
            SETS, "Inputs the model never saw (they should get high energy): another set, uniform noise, or a file"))
        self.n = self.add_field("n", "Inputs per set", spin(10, 100000, 500, "How many inputs of each set are scored"))
        self.bins = self.add_field("bins", "Bins", spin(5, 200, 30, "Histogram bins (shared by both sets)"))
        self.seed = self.add_field("seed", "Seed", spin(0, 2**31 - 1, 0, "Which inputs are drawn"))

        self.plot = plot_widget("energy E(x)", "inputs per bin")
        self.plot.setToolTip("Energies of both sets on shared bins; the dashed line keeps 95% of the "
                             "in-distribution inputs (E at or below it)")
        item = self.plot.getPlotItem()
        self.legend = item.addLegend(offset=(-10, 10))
        self.hist_in = pg.PlotDataItem(stepMode="center", fillLevel=0, pen=pg.mkPen(IN_COLOR, width=2),
                                       brush=pg.mkBrush(pg.mkColor(IN_COLOR).red(), pg.mkColor(IN_COLOR).green(),
                                                        pg.mkColor(IN_COLOR).blue(), 90), name="in")
        self.hist_out = pg.PlotDataItem(stepMode="center", fillLevel=0, pen=pg.mkPen(OUT_COLOR, width=2),
                                        brush=pg.mkBrush(pg.mkColor(OUT_COLOR).red(), pg.mkColor(OUT_COLOR).green(),
                                                         pg.mkColor(OUT_COLOR).blue(), 90), name="other")
        item.addItem(self.hist_in)
        item.addItem(self.hist_out)
        self.threshold = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#FFFFFF", width=1.5,
                                                                               style=Qt.PenStyle.DashLine),
                                         label="", labelOpts={"position": 0.75, "color": "#FFFFFF",
                                                              "fill": pg.mkBrush(0, 0, 0, 190),
                                                              "anchors": [(-0.05, 0.5), (-0.05, 0.5)]})
        self.threshold.setVisible(False)
        item.addItem(self.threshold, ignoreBounds=True)
        self.summary = QLabel("Run to score both sets by their energy.")
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("font-size: 13px;")
        self.explain = muted("AUROC: the chance that a random in-distribution input gets a lower energy than a "
                             "random other one (1 = perfectly separated, 0.5 = chance). FPR at 95% TPR: the "
                             "fraction of the other inputs that pass a threshold keeping 95% of the "
                             "in-distribution ones.")
        self.results.addWidget(self.plot, 1)
        self.results.addWidget(self.summary)
        self.results.addWidget(self.explain)
        self.save_button.setText("Save PNG + CSV…")
        self.resize(1100, 650)
        self.finish_setup()

    def model_changed(self) -> None:
        try:
            opened = self.checked_model()
        except EBMError:
            return
        if not opened.is_image and self.in_data.value() in IMAGE_SETS:  # a 2D model: its own density vs noise
            self.in_data.set_value(opened.dataset if opened.dataset in POINT_SETS else POINT_SETS[0])
            self.out_data.set_value(NOISE)

    def model_problem(self, opened: OpenedModel) -> str | None:
        return None

    def make_job_fn(self) -> Callable[[Callable[[Any], None], Any], Any]:
        opened = self.checked_model()
        ref = self.model_picker.reference()
        names = self.in_data.value(), self.out_data.value()
        if names[0] == names[1]:
            raise ConfigError("the in-distribution and the other data are the same set: pick another one for "
                              "'Other data' (e.g. noise or another built-in set)")
        n, bins, seed = self.n.value(), self.bins.value(), self.seed.value()
        shape, value_range = opened.input_shape, opened.value_range

        def fn(report: Callable[[Any], None], stop: Any) -> OODRun:
            model = open_model(ref)
            x_in, _ = load_inputs(names[0], n, shape, value_range, seed)
            x_out, _ = load_inputs(names[1], n, shape, value_range, seed + 1)
            total = len(x_in) + len(x_out)
            e_in = batched_energies(model, x_in, report, stop, 0, total)
            e_out = batched_energies(model, x_out, report, stop, len(x_in), total)
            return OODRun(score_energies(e_in, e_out, bins, Path(names[0]).name, Path(names[1]).name),
                          len(x_in), len(x_out))

        return stoppable(fn)

    def on_done(self, run: OODRun | None) -> None:
        if run is None:
            return
        self.result = run
        r = run.result
        self.hist_in.setData(r.bin_edges, r.hist_in)
        self.hist_out.setData(r.bin_edges, r.hist_out)
        self.legend.clear()
        self.legend.addItem(self.hist_in, f"{r.name_in} (in, {run.n_in})")
        self.legend.addItem(self.hist_out, f"{r.name_out} (other, {run.n_out})")
        self.threshold.setVisible(True)  # first: a hidden line's label does not update its text
        self.threshold.setValue(r.threshold)
        self.threshold.label.setFormat(f"{100 * r.tpr:.0f}% TPR: E ≤ {r.threshold:.3g}\nFPR {100 * r.fpr:.1f}%")
        self.plot.getPlotItem().autoRange()
        verdict = ("well separated" if r.auroc >= 0.9 else "partly separated" if r.auroc >= 0.7
                   else "hardly separated" if r.auroc >= 0.55 else "not separated (or reversed)")
        self.summary.setText(f"AUROC <b>{r.auroc:.3f}</b> ({verdict}) · threshold E ≤ {r.threshold:.4g} keeps "
                             f"{100 * r.tpr:.1f}% of {r.name_in} · FPR at 95% TPR: <b>{100 * r.fpr:.1f}%</b> of "
                             f"{r.name_out} pass it · mean E: {r.energy_in.mean():.3g} (in) vs "
                             f"{r.energy_out.mean():.3g} (other)")
        self.save_button.setEnabled(True)

    def save_to(self, folder: str) -> list[str]:
        if self.result is None:
            raise ConfigError("nothing to save yet: score the sets first")
        r = self.result.result
        png = export_png(self.plot, Path(folder) / "ood_histogram.png", scale=2)
        rows = ["bin_low,bin_high,count_in,count_out"] + [f"{a!r},{b!r},{c},{d}" for a, b, c, d in
                                                          r.histogram_rows()]
        csv = Path(folder) / "ood_histogram.csv"
        atomic_write_text(csv, "\n".join(rows) + "\n")
        return [str(png), str(csv)]
