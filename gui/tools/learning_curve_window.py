"""Learning curve over training-set size: train the experiment on nested subsets of its data,
plot train and validation metric against size (log x, mean ± std over seeds) as trials finish,
and read the bias/variance diagnosis off the numbers (engine.experiments.learning_curve)."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from engine.data.dataset import load_dataset
from engine.errors import ConfigError, EBMError
from engine.experiments.learning_curve import (
    CurvePoint,
    LearningCurve,
    default_sizes,
    run_learning_curve,
)

from ..run_folders import new_run_dir
from ..views.common import PALETTE
from ..views.figure_export import export_png
from .base import ToolWindow
from .widgets import (
    ConfigSource,
    FolderField,
    config_metrics,
    default_workers,
    offered_metrics,
    plot_widget,
    spin,
)

DEFAULT_ITERATIONS = 300  # per trial: 5 sizes x 2 seeds of the 2D presets in about a minute on 2 cores
AUTO = "auto"
TRAIN_COLOR, VAL_COLOR, REF_COLOR = PALETTE[0], PALETTE[1], "#BBBBBB"
UNITS = {"nll": "nats", "kl": "nats", "true_nll": "nats"}


@dataclass(frozen=True)
class Plan:
    """What a run will do, known once its data is loaded (the first report)."""

    sizes: list[int]
    seeds: list[int]
    metric: str  # the engine's default for this data
    metrics: list[str]  # what the data offers
    dataset: str
    n_train: int


def parse_sizes(text: str) -> list[int] | None:
    """'64, 256, 1024' -> [64, 256, 1024]; '' or 'auto' -> None."""
    text = text.strip()
    if not text or text.lower() == AUTO:
        return None
    try:
        sizes = [int(v) for v in text.replace(";", ",").replace(" ", ",").split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"sizes: expected whole numbers separated by commas (e.g. 64, 256, 1024), or empty for "
                          f"automatic sizes; got {text!r}") from None
    if not sizes or min(sizes) < 2:
        raise ConfigError(f"sizes: every training-set size must be at least 2, got {text!r}")
    return sorted(set(sizes))


class LearningCurveWindow(ToolWindow):
    title = "Learning curve over data size"
    run_text = "Run"

    def __init__(self, session: Any = None, parent: QWidget | None = None):
        super().__init__(session, parent)
        self.curve: LearningCurve | None = None
        self.plan: Plan | None = None
        self.saved_to: Path | None = None
        self._build_form()
        self._build_results()
        self._config_changed()
        self._redraw()
        self.resize(1100, 760)

    # --- building -----------------------------------------------------------------------

    def _build_form(self) -> None:
        f = self.form
        self.source = ConfigSource(self.session)
        self.source.changed.connect(self._config_changed)
        self.source.failed.connect(self.show_error)
        f.addRow("Experiment", self.source)
        self.sizes_edit = QLineEdit()
        self.sizes_edit.setPlaceholderText("auto")
        self.sizes_edit.setToolTip("Training-set sizes, e.g. 64, 256, 1024 (each at most the training set). "
                                   "Empty: 'points' sizes spread evenly in log size from 'smallest' to the whole set")
        self.sizes_edit.textChanged.connect(self._sizes_mode)
        f.addRow("Sizes", self.sizes_edit)
        self.points = spin(2, 20, 5, "How many automatic sizes (log-spaced; the largest is the whole training set)")
        self.smallest = spin(2, 10_000_000, 64, "The smallest automatic size (samples)")
        auto = QHBoxLayout()
        auto.addWidget(self.points)
        auto.addWidget(QLabel("from"))
        auto.addWidget(self.smallest)
        f.addRow("Auto points", auto)
        self.seeds = spin(1, 20, 2, "Runs per size with seeds 0..N-1 (different subsets, initialisations and "
                                    "validation splits); the error bars are the spread across seeds (needs 2+)")
        f.addRow("Seeds", self.seeds)
        self.iterations = spin(1, 10_000_000, DEFAULT_ITERATIONS,
                               "Training iterations of each run (overrides the experiment's train.iterations; "
                               "its learning-rate schedule follows)")
        f.addRow("Iterations per run", self.iterations)
        self.metric_box = QComboBox()
        self.metric_box.setToolTip("The metric plotted and diagnosed, on the training subset and on the validation set "
                               "(auto: exact NLL for 2D toy data, MMD² of samples vs data otherwise). Can be changed "
                               "after the run")
        self.metric_box.currentIndexChanged.connect(lambda *_: self._redraw())
        f.addRow("Metric", self.metric_box)
        self.workers = spin(0, 64, default_workers(), "Worker processes running trials side by side "
                                                      "(0: in this process). Each takes a core", special="0 (here)")
        f.addRow("Workers", self.workers)
        self.ray = QLineEdit()
        self.ray.setPlaceholderText("none (this machine)")
        self.ray.setToolTip("Run the trials on a Ray cluster: 'auto', 'ray://host:10001', or 'local' (needs ray)")
        f.addRow("Ray address", self.ray)
        self.folder = FolderField("new folder under runs/", "Where learning_curve.json and .csv are saved at the "
                                                            "end of the run (also when stopped). Empty: a new folder "
                                                            "in the runs folder")
        f.addRow("Save into", self.folder)

    def _build_results(self) -> None:
        self.plot = plot_widget("training-set size (samples)", "metric", log_x=True)
        self.series: dict[str, dict[str, Any]] = {}
        for name, color, label in (("train", TRAIN_COLOR, "train (its subset)"), ("val", VAL_COLOR, "validation")):
            c = pg.mkColor(color)
            faint = pg.mkColor(color)
            faint.setAlpha(110)
            line = pg.PlotDataItem(pen=pg.mkPen(c, width=2), symbol="o", symbolSize=8, symbolBrush=c,
                                   symbolPen=None)
            bars = pg.ErrorBarItem(pen=pg.mkPen(c, width=1.5), beam=0.04)
            seeds = pg.ScatterPlotItem(size=5, pen=None, brush=pg.mkBrush(faint))
            for item in (bars, seeds, line):
                self.plot.addItem(item)
            self.series[name] = {"line": line, "bars": bars, "seeds": seeds}
        self.reference = pg.PlotDataItem(pen=pg.mkPen(REF_COLOR, width=1.2, style=Qt.PenStyle.DashLine))
        self.plot.addItem(self.reference)

        self.diagnosis = QTextBrowser()  # scrolls when the diagnosis is longer than its room
        self.diagnosis.setFrameShape(QFrame.Shape.NoFrame)
        self.diagnosis.setMinimumHeight(70)
        self.diagnosis.setStyleSheet("background: transparent;")
        self.table = QTableWidget(0, 5)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip("Per size: mean ± standard deviation over seeds")

        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Show a saved learning curve (learning_curve.json or .csv)")
        self.open_button.clicked.connect(lambda: self.open_curve())
        self.save_button = QPushButton("Save as…")
        self.save_button.setToolTip("Write learning_curve.json (everything) and learning_curve.csv (one row per "
                                    "trial) into a folder")
        self.save_button.clicked.connect(lambda: self.save_curve())
        self.png_button = QPushButton("Export PNG…")
        self.png_button.setToolTip("The plot as a PNG image")
        self.png_button.clicked.connect(lambda: self.export_plot())
        buttons = QHBoxLayout()
        for b in (self.open_button, self.save_button, self.png_button):
            buttons.addWidget(b)
        buttons.addStretch(1)

        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.diagnosis, 2)
        lower_layout.addWidget(self.table, 3)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.plot)
        split.addWidget(lower)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        self.results.addWidget(split, 1)
        self.results.addLayout(buttons)

    # --- settings -------------------------------------------------------------------------

    def _config_changed(self) -> None:
        config = self.source.config()
        self.iterations.setValue(min(config.train.iterations, DEFAULT_ITERATIONS))
        if self.curve is None or not self.curve.points:
            self._set_metrics(config_metrics(config))

    def _sizes_mode(self) -> None:
        auto = not self.sizes_edit.text().strip()
        self.points.setEnabled(auto)
        self.smallest.setEnabled(auto)

    def _set_metrics(self, names: list[str]) -> None:
        current = self.metric_box.currentData()
        self.metric_box.blockSignals(True)
        self.metric_box.clear()
        self.metric_box.addItem(AUTO, None)
        for name in names:
            self.metric_box.addItem(name, name)
        index = self.metric_box.findData(current) if current else 0
        self.metric_box.setCurrentIndex(max(index, 0))
        self.metric_box.blockSignals(False)

    def chosen_metric(self) -> str:
        """The metric shown: the combo's, or for auto the curve's (the engine's default for its data)."""
        name = self.metric_box.currentData()
        if name:
            return name
        if self.plan is not None:
            return self.plan.metric
        return self.curve.metric if self.curve is not None else "nll"

    # --- running --------------------------------------------------------------------------

    def make_job_fn(self) -> Callable[[Callable[[Any], None], Any], Any]:
        config = self.source.config()
        sizes = parse_sizes(self.sizes_edit.text())
        seeds = list(range(self.seeds.value()))
        iterations = self.iterations.value()
        points, smallest = self.points.value(), self.smallest.value()
        workers, ray = self.workers.value(), self.ray.text().strip() or None
        folder = self.folder.path()
        chosen = self.metric_box.currentData()
        jem = config.model.kind == "jem"

        def fn(report: Callable[[Any], None], stop: Any) -> tuple[LearningCurve, Path]:
            cfg = config.replace(train={"iterations": iterations})
            train, _ = load_dataset(cfg.data.spec(seeds[0]))  # the training-set size, before the first trial
            n_train = len(train)
            planned = sizes if sizes is not None else default_sizes(n_train, points, smallest)
            box = train.meta.get("box") is not None
            offered = offered_metrics(box, train.meta.get("log_prob") is not None, train.x.ndim == 4, jem)
            report(Plan(planned, seeds, "nll" if box else "mmd", offered, train.name, n_train))
            curve = run_learning_curve(cfg, planned, seeds, workers=workers, ray_address=ray, on_result=report,
                                       stop=stop)
            if chosen and chosen in curve.metric_names():
                curve.metric = chosen
            target = folder or new_run_dir(f"learning-curve-{config.name}")
            if curve.points:
                curve.save(target)
            return curve, target

        self.curve, self.plan, self.saved_to = None, None, None
        self._redraw()
        return fn

    def on_report(self, obj: Any) -> None:
        if isinstance(obj, Plan):
            self.plan = obj
            self.curve = LearningCurve([], obj.metric, {"sizes": obj.sizes, "seeds": obj.seeds,
                                                        "dataset": obj.dataset, "n_train": obj.n_train})
            self._set_metrics(obj.metrics)
            self.set_progress(0, len(obj.sizes) * len(obj.seeds))
            self._redraw()
        elif isinstance(obj, CurvePoint) and self.curve is not None:
            self.curve.points.append(obj)
            self.curve.points.sort(key=lambda p: (p.size, p.seed))
            self.set_progress(len(self.curve.points), self._total())
            self._redraw()

    def on_done(self, result: Any) -> None:
        curve, folder = result
        total = self._total()
        self.curve = curve
        self._set_metrics([m for m in curve.metric_names() if m != "true_nll"] or (self.plan.metrics
                                                                                   if self.plan else []))
        self._redraw()
        if not curve.points:
            self.status.setText("stopped before any trial finished: nothing to show or save")
            return
        self.saved_to = folder
        head = "done" if curve.info.get("complete") else f"stopped after {len(curve.points)} of {total} trials"
        self.status.setText(f"{head} · saved in {folder}")

    def _total(self) -> int:
        return len(self.plan.sizes) * len(self.plan.seeds) if self.plan is not None else 0

    # --- files ----------------------------------------------------------------------------

    def open_curve(self, path: str | Path | None = None) -> bool:
        """Show a saved learning curve (a dialog when ``path`` is None)."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Open a learning curve", str(self.saved_to or ""),
                                                  "Learning curves (learning_curve.json *.json *.csv);;All files (*)")
            if not path:
                return False
        if self.running:
            self.show_error("a learning curve is running: stop it before opening another")
            return False
        try:
            curve = LearningCurve.load(path)
        except EBMError as exc:
            self.show_error(str(exc))
            return False
        self.plan = None
        self.curve = curve
        self._set_metrics([m for m in curve.metric_names() if m != "true_nll"])
        self._redraw()
        self.show_message(f"opened {path}")
        return True

    def save_curve(self, folder: str | Path | None = None) -> bool:
        """Write learning_curve.json and .csv of the curve shown into ``folder`` (a dialog when None)."""
        if self.curve is None or not self.curve.points:
            self.show_error("no learning curve to save yet: run one first")
            return False
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Save the learning curve into…", str(self.saved_to or ""))
            if not folder:
                return False
        metric = self.chosen_metric()
        if metric in self.curve.metric_names():
            self.curve.metric = metric
        try:
            json_path, _ = self.curve.save(folder)
        except EBMError as exc:
            self.show_error(str(exc))
            return False
        self.show_message(f"saved {json_path} and learning_curve.csv")
        return True

    def export_plot(self, path: str | Path | None = None) -> bool:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export the plot", "learning_curve.png", "PNG (*.png)")
            if not path:
                return False
        try:
            export_png(self.plot, path)
        except EBMError as exc:
            self.show_error(str(exc))
            return False
        self.show_message(f"saved {path}")
        return True

    # --- drawing ----------------------------------------------------------------------------

    def _redraw(self) -> None:
        curve = self.curve
        metric = self.chosen_metric()
        have = curve is not None and metric in curve.metric_names()
        unit = UNITS.get(metric)
        self.plot.getPlotItem().setLabel("left", f"{metric}" + (f" ({unit})" if unit else ""))
        summary = curve.summary(metric) if have else []
        for name in ("train", "val"):
            s = self.series[name]
            x = np.array([math.log10(r.size) for r in summary if r.n], dtype=float)
            mean = np.array([getattr(r, f"{name}_mean") for r in summary if r.n], dtype=float)
            std = np.array([getattr(r, f"{name}_std") for r in summary if r.n], dtype=float)
            s["line"].setData(x, mean)
            spread = np.where(np.isfinite(std), std, 0.0)
            s["bars"].setData(x=x, y=mean, top=spread, bottom=spread)
            s["bars"].setVisible(bool(x.size) and bool(np.any(spread > 0)))
            dots = [] if not have else [(math.log10(size), pair[0 if name == "train" else 1])
                                        for size in curve.sizes for pair in curve.values(metric, size).values()]
            s["seeds"].setData(pos=np.array(dots, dtype=float).reshape(-1, 2))
        self._draw_reference(metric, summary)
        self._fill_table(metric, summary)
        self.diagnosis.setHtml(self._diagnosis_text(metric, have))

    def _draw_reference(self, metric: str, summary: list[Any]) -> None:
        """For nll, the true density's NLL on the validation set (the best a model can do), dashed."""
        refs = [p.metrics.get("val_true_nll", math.nan) for p in (self.curve.points if self.curve else [])]
        refs = [r for r in refs if math.isfinite(r)]
        if metric == "nll" and refs and summary:
            x = [math.log10(summary[0].size), math.log10(summary[-1].size)]
            self.reference.setData(x if x[0] != x[1] else [x[0] - 0.1, x[0] + 0.1], [float(np.mean(refs))] * 2)
            self.reference.setVisible(True)
        else:
            self.reference.setData([], [])
            self.reference.setVisible(False)
        # the key as the plot's title: a legend inside the plot would sit on some of the points
        key = [f"<span style='color:{TRAIN_COLOR}'>● train (its subset)</span>",
               f"<span style='color:{VAL_COLOR}'>● validation</span>"]
        if self.reference.isVisible():
            key.append(f"<span style='color:{REF_COLOR}'>- - true density</span>")
        self.plot.getPlotItem().setTitle("&nbsp;&nbsp;&nbsp;".join(key), size="9pt")

    def _fill_table(self, metric: str, summary: list[Any]) -> None:
        self.table.setHorizontalHeaderLabels(["size", "seeds", f"train {metric}", f"val {metric}", "gap (val − train)"])
        self.table.setRowCount(len(summary))
        for row, s in enumerate(summary):
            cells = [str(s.size), str(s.n), _pm(s.train_mean, s.train_std), _pm(s.val_mean, s.val_std),
                     f"{s.gap:+.4f}" if math.isfinite(s.gap) else ""]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)

    def _diagnosis_text(self, metric: str, have: bool) -> str:
        curve = self.curve
        if curve is None:
            return ("Press Run: the experiment is trained on nested subsets of its training data, and the train "
                    "and validation metric appear here as each run finishes.")
        if not curve.points:
            sizes = ", ".join(map(str, self.plan.sizes)) if self.plan else ""
            return f"Training at sizes {sizes}…" if sizes else ""
        diverged = sum(1 for p in curve.points if p.diverged)
        note = f" {diverged} run(s) diverged and are left out." if diverged else ""
        if not have:
            return html.escape(f"No run gave a finite {metric}.{note}")
        return f"<b>Diagnosis.</b> {html.escape(curve.diagnosis(metric) + note)}"


def _pm(mean: float, std: float) -> str:
    if not math.isfinite(mean):
        return ""
    return f"{mean:.4f}" + (f" ± {std:.4f}" if math.isfinite(std) else "")
