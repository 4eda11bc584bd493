"""Hyperparameter search: a space over config settings, grid or random trials, ASHA early
stopping, a resumable search folder (engine.experiments.search); a live, sortable table of the
trials, their curves, and "Apply" to train the best (or a chosen) trial's config."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from engine.errors import ConfigError, EBMError
from engine.experiments.search import (
    BUDGET,
    SEARCH_FILE,
    Search,
    SearchProgress,
    SearchSettings,
    default_objective,
)
from engine.experiments.search_results import SearchResults, TrialSummary
from engine.training.config import ExperimentConfig

from ..run_folders import new_run_dir
from ..views.common import PALETTE
from ..views.curves_view import ema_debiased
from .base import ToolWindow
from .space_editor import SpaceEditor
from .widgets import (
    ConfigSource,
    FolderField,
    config_metrics,
    default_workers,
    fmt,
    plot_widget,
    spin,
)

EXAMPLE_SPACES = Path(__file__).resolve().parents[2] / "resources" / "search"
DEFAULT_TRIAL_ITERATIONS = 540  # with ASHA (eta 3): rungs at 60, 180, 540 iterations
STATUS_COLORS = {"completed": "#009E73", "promoted": "#0072B2", "running": "#E69F00", "stopped": "#888888",
                 "diverged": "#D55E00", "failed": "#D55E00"}
LOSS, OBJECTIVE = "training loss", "objective per rung"
FAINT = (200, 200, 200, 110)
_TOP = QModelIndex()  # the table's (invalid) root index


@dataclass(frozen=True)
class Started:
    """The first report of a run: the search it works on (read its results() from any thread)."""

    search: Search


class TrialsModel(QAbstractTableModel):
    """SearchResults as a table: id, status, rung, iteration, searched keys, objective, best, metrics."""

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.results: SearchResults | None = None
        self.columns: list[str] = []
        self.n_rungs = 1

    def set_results(self, results: SearchResults | None, n_rungs: int = 1) -> None:
        self.beginResetModel()
        self.results, self.n_rungs = results, max(1, n_rungs)
        if results is None:
            self.columns = []
        else:  # the objective is the "value" column: not a second time among the metrics
            self.columns = [c for c in results.columns() if c != results.objective]
        self.endResetModel()

    def trial(self, row: int) -> TrialSummary:
        return self.results.trials[row]

    def rowCount(self, parent: QModelIndex = _TOP) -> int:
        return 0 if parent.isValid() or self.results is None else len(self.results.trials)

    def columnCount(self, parent: QModelIndex = _TOP) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.columns):
            return None
        name = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return {"value": self.results.objective, "best_value": "best", "iteration": "iterations"}.get(name, name)
        if role == Qt.ItemDataRole.ToolTipRole:
            return {"value": f"The objective ({self.results.objective}) at the trial's last rung",
                    "best_value": "The best objective over the trial's rungs",
                    "rung": "The last finished rung (ASHA budget level) of the trial",
                    "status": "promoted: runs on · stopped: cut by ASHA · completed: ran the full budget"}.get(name)
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self.results is None:
            return None
        t = self.results.trials[index.row()]
        column = self.columns[index.column()]
        value = t.get(column)
        if role == Qt.ItemDataRole.UserRole:  # the sort key
            return value
        if role == Qt.ItemDataRole.DisplayRole:
            if column == "rung":
                return "" if value is None or value < 0 else f"{value + 1}/{self.n_rungs}"
            return fmt(value)
        if role == Qt.ItemDataRole.ForegroundRole and column == "status":
            return QColor(STATUS_COLORS.get(str(value), "#000000"))
        if role == Qt.ItemDataRole.ToolTipRole and t.error:
            return t.error
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class SortProxy(QSortFilterProxyModel):
    """Numbers by value, text by text, empty cells last."""

    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:
        return _sort_key(left.data(Qt.ItemDataRole.UserRole)) < _sort_key(right.data(Qt.ItemDataRole.UserRole))


def _state(results: SearchResults | None) -> tuple:
    return () if results is None else tuple((t.id, t.status, t.rung) for t in results.trials)


def _sort_key(v: Any) -> tuple:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return (2, 0.0, "")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (0, float(v), "")
    return (1, 0.0, str(v))


class SearchWindow(ToolWindow):
    title = "Hyperparameter search"
    config_chosen = Signal(object)  # the ExperimentConfig of the trial to train

    def __init__(self, session: Any = None, parent: QWidget | None = None):
        super().__init__(session, parent)
        self.search: Search | None = None
        self.results_now: SearchResults | None = None
        self._build_form()
        self._build_results()
        self._config_changed()
        self._load_example_space()
        self._poll = QTimer(self)  # trials in flight show up as "running" between rung results
        self._poll.setInterval(1000)
        self._poll.timeout.connect(self._poll_results)
        self.resize(1280, 800)
        split = self.findChild(QSplitter)
        if split is not None:
            split.setSizes([500, 780])

    # --- building -----------------------------------------------------------------------------

    def _build_form(self) -> None:
        f = self.form
        self.source = ConfigSource(self.session)
        self.source.changed.connect(self._config_changed)
        self.source.failed.connect(self.show_error)
        f.addRow("Base experiment", self.source)

        self.space_editor = SpaceEditor()
        self.space_editor.setMinimumHeight(150)
        f.addRow(QLabel("Search space"))
        f.addRow(self.space_editor)
        add, remove = QPushButton("Add"), QPushButton("Remove")
        add.setToolTip("Add a setting to search")
        add.clicked.connect(lambda: self.space_editor.add_row())
        remove.setToolTip("Remove the selected settings")
        remove.clicked.connect(self.space_editor.remove_selected)
        load, save = QPushButton("Load…"), QPushButton("Save…")
        load.setToolTip(f"Read a search-space TOML file (examples in {EXAMPLE_SPACES})")
        load.clicked.connect(lambda: self.load_space())
        save.setToolTip("Write these rows as a search-space TOML file (for 'ebm-studio search --space')")
        save.clicked.connect(lambda: self.save_space())
        row = QHBoxLayout()
        for b in (add, remove, load, save):
            row.addWidget(b)
        row.addStretch(1)
        f.addRow(row)

        self.method = QComboBox()
        self.method.addItems(["random", "grid"])
        self.method.setToolTip("random: seeded draws from the ranges · grid: every combination (ranges get "
                               "'grid points' values each)")
        self.method.currentTextChanged.connect(self._method_changed)
        self.grid_points = spin(1, 50, 3, "Values per range in a grid search (a row's own 'points' wins)")
        method_row = QHBoxLayout()
        method_row.addWidget(self.method)
        method_row.addWidget(QLabel("grid points"))
        method_row.addWidget(self.grid_points)
        f.addRow("Method", method_row)
        self.trials = spin(0, 100_000, 0, "How many trials at most (auto: every grid point, or 10 random trials "
                                           "unless a time budget is set)", special="auto")
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0.0, 100_000.0)
        self.minutes.setDecimals(1)
        self.minutes.setSpecialValueText("no limit")
        self.minutes.setSuffix(" min")
        self.minutes.setToolTip("Wall-clock budget of this run of the search (a resumed search gets it afresh)")
        budget = QHBoxLayout()
        budget.addWidget(self.trials)
        budget.addWidget(QLabel("time"))
        budget.addWidget(self.minutes)
        f.addRow("Trials", budget)
        self.max_iterations = spin(1, 10_000_000, DEFAULT_TRIAL_ITERATIONS,
                                   "The full training budget of one trial (its learning-rate schedule follows it)")
        f.addRow("Iterations per trial", self.max_iterations)
        self.objective = QComboBox()
        self.objective.setToolTip("The metric to optimise, measured at each rung (val_: on the validation set, "
                                  "train_: on the training set; accuracy and AUROC are maximised, the rest minimised)")
        f.addRow("Objective", self.objective)
        self.asha = QCheckBox("stop poor trials early (ASHA)")
        self.asha.setChecked(True)
        self.asha.setToolTip("Asynchronous successive halving: every trial first trains 'min iterations'; only the "
                             "best 1/eta at each rung train eta times longer")
        self.asha.toggled.connect(self._asha_changed)
        f.addRow("Early stopping", self.asha)
        self.min_iterations = spin(0, 10_000_000, 0, "Budget of the first rung (auto: iterations per trial / eta²)",
                                   special="auto")
        self.eta = spin(2, 20, 3, "Keep the best 1/eta of the trials at each rung; rungs grow by eta")
        asha_row = QHBoxLayout()
        asha_row.addWidget(self.min_iterations)
        asha_row.addWidget(QLabel("eta"))
        asha_row.addWidget(self.eta)
        f.addRow("Min iterations", asha_row)
        self.workers = spin(0, 64, default_workers(), "Worker processes running trials side by side "
                                                      "(0: in this process). Each takes a core", special="0 (here)")
        f.addRow("Workers", self.workers)
        self.ray = QLineEdit()
        self.ray.setPlaceholderText("none (this machine)")
        self.ray.setToolTip("Run the trials on a Ray cluster: 'auto', 'ray://host:10001', or 'local' (needs ray); "
                            "the search folder must be on a file system the cluster shares")
        f.addRow("Ray address", self.ray)
        self.folder = FolderField("new folder under runs/", "The search folder (settings, results log, one run "
                                                            "folder per trial). Empty: a new one in the runs folder. "
                                                            "A folder that holds a search is resumed")
        f.addRow("Search folder", self.folder)
        self.resume_button = QPushButton("Resume…")
        self.resume_button.setToolTip("Open a search folder: its settings and trials are shown, and Run continues "
                                      "it where it stopped")
        self.resume_button.clicked.connect(lambda: self.open_search())
        f.addRow("", self.resume_button)
        self._method_changed()
        self._asha_changed()

    def _build_results(self) -> None:
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.model = TrialsModel(self)
        self.proxy = SortProxy(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setAlternatingRowColors(True)
        self.table.setToolTip("The trials; click a header to sort, select rows to see their curves")
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._redraw())

        self.curve_kind = QComboBox()
        self.curve_kind.addItems([OBJECTIVE, LOSS])
        self.curve_kind.setToolTip("What the plot shows per trial: the objective measured at each rung it reached "
                                   "(ASHA at work), or its training loss per iteration (smoothed)")
        self.curve_kind.currentTextChanged.connect(lambda *_: self._redraw())
        self.plot = plot_widget("iteration", LOSS)
        plot_box = QWidget()
        plot_layout = QVBoxLayout(plot_box)
        plot_layout.setContentsMargins(0, 0, 0, 0)
        plot_head = QHBoxLayout()
        plot_head.addWidget(QLabel("Curves of the selected trials (the others faint):"))
        plot_head.addWidget(self.curve_kind)
        plot_head.addStretch(1)
        plot_layout.addLayout(plot_head)
        plot_layout.addWidget(self.plot, 1)

        self.apply_best_button = QPushButton("Apply best")
        self.apply_best_button.setToolTip("Train the best trial's full configuration in the main window")
        self.apply_best_button.clicked.connect(self.apply_best)
        self.apply_selected_button = QPushButton("Apply selected")
        self.apply_selected_button.setToolTip("Train the selected trial's full configuration in the main window")
        self.apply_selected_button.clicked.connect(self.apply_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(self.apply_best_button)
        buttons.addWidget(self.apply_selected_button)
        buttons.addStretch(1)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(plot_box)
        split.setSizes([330, 330])
        self.results.addWidget(self.summary)
        self.results.addWidget(split, 1)
        self.results.addLayout(buttons)
        self._show_summary()
        self._redraw()

    # --- settings ---------------------------------------------------------------------------

    def _config_changed(self) -> None:
        config = self.source.config()
        self.max_iterations.setValue(min(config.train.iterations, DEFAULT_TRIAL_ITERATIONS))
        current = self.objective.currentData()
        self.objective.clear()
        self.objective.addItem(f"auto ({default_objective(config)})", "")
        names = config_metrics(config)
        for name in [f"val_{m}" for m in names] + [f"train_{m}" for m in names] + ["loss"]:
            self.objective.addItem(name, name)
        self.objective.setCurrentIndex(max(0, self.objective.findData(current)))

    def _method_changed(self) -> None:
        self.grid_points.setEnabled(self.method.currentText() == "grid")

    def _asha_changed(self) -> None:
        self.min_iterations.setEnabled(self.asha.isChecked())
        self.eta.setEnabled(self.asha.isChecked())

    def _load_example_space(self) -> None:
        """The example space that fits the experiment (named after its data), else the first one."""
        examples = sorted(EXAMPLE_SPACES.glob("*.toml"))
        config = self.source.config()
        chosen = next((p for p in examples if p.stem == config.data.name), examples[0] if examples else None)
        try:
            if chosen is None:
                raise ConfigError("no example space")
            self.space_editor.load(chosen, config)
        except ConfigError:
            self.space_editor.add_row("train.lr", "log_uniform", 3e-4, 1e-2)

    def settings(self) -> SearchSettings:
        """The search settings of the form (unresolved: zeros mean "the default")."""
        asha = self.asha.isChecked()
        return SearchSettings(method=self.method.currentText(), trials=self.trials.value(),
                              minutes=float(self.minutes.value()), objective=self.objective.currentData() or "",
                              asha=asha, min_iterations=self.min_iterations.value() if asha else 0,
                              max_iterations=self.max_iterations.value(), eta=self.eta.value(),
                              grid_points=self.grid_points.value())

    def show_settings(self, s: SearchSettings) -> None:
        self.method.setCurrentText(s.method)
        self.grid_points.setValue(s.grid_points)
        self.trials.setValue(s.trials)
        self.minutes.setValue(s.minutes)
        self.max_iterations.setValue(s.max_iterations)
        index = self.objective.findData(s.objective)
        if index < 0:
            self.objective.addItem(s.objective, s.objective)
            index = self.objective.count() - 1
        self.objective.setCurrentIndex(index)
        self.asha.setChecked(s.asha)
        self.min_iterations.setValue(s.min_iterations)
        self.eta.setValue(s.eta)

    # --- files --------------------------------------------------------------------------------

    def load_space(self, path: str | Path | None = None) -> bool:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Open a search space", str(EXAMPLE_SPACES),
                                                  "Search spaces (*.toml);;All files (*)")
            if not path:
                return False
        try:
            self.space_editor.load(path, self.source.config())
        except ConfigError as exc:
            self.show_error(str(exc))
            return False
        self.show_message(f"loaded the search space {path}")
        return True

    def save_space(self, path: str | Path | None = None) -> bool:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save the search space", "space.toml",
                                                  "Search spaces (*.toml)")
            if not path:
                return False
        try:
            written = self.space_editor.save(path, self.source.config())
        except EBMError as exc:
            self.show_error(str(exc))
            return False
        self.show_message(f"saved {written}")
        return True

    def open_search(self, folder: str | Path | None = None) -> bool:
        """Show the search saved in ``folder`` (a dialog when None); Run then continues it."""
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Open a search folder", str(self.folder.path() or ""))
            if not folder:
                return False
        if self.running:
            self.show_error("a search is running: stop it before opening another")
            return False
        try:
            search = Search.open(folder)
            results = search.results()
        except EBMError as exc:
            self.show_error(str(exc))
            return False
        self.source.set_config(search.config, f"search folder {Path(folder).name}")
        self.space_editor.set_space(search.space)
        self.show_settings(search.settings)
        self.folder.set_path(folder)
        self.search = search
        self._show_results(results)
        counts = ", ".join(f"{n} {s}" for s, n in sorted(results.counts().items())) or "no trials yet"
        self.show_message(f"opened the search in {folder} ({counts}): press Run to continue it")
        return True

    # --- running ------------------------------------------------------------------------------

    def make_job_fn(self) -> Callable[[Callable[[Any], None], Any], Any]:
        config = self.source.config()
        space = self.space_editor.space(config)  # a bad key or value stops here, naming it
        settings = self.settings()
        resolved = settings.resolve(config, space)
        folder = self.folder.path()
        resume = folder is not None and (folder / SEARCH_FILE).exists()
        workers, ray = self.workers.value(), self.ray.text().strip() or None
        same = {k: v for k, v in resolved.to_dict().items() if k not in BUDGET}

        def fn(report: Callable[[Any], None], stop: Any) -> SearchResults:
            if resume:
                search = Search.open(folder, trials=settings.trials or None, minutes=settings.minutes or None)
                search.check_same(config, space, same)
            else:
                search = Search.create(folder or new_run_dir(f"search-{config.name}"), config, space, settings)
            report(Started(search))

            def progress(p: SearchProgress) -> None:
                report((p, search.results()))

            return search.run(workers=workers, ray_address=ray, stop=stop, progress=progress)

        self.search = None
        return fn

    def on_report(self, obj: Any) -> None:
        if isinstance(obj, Started):
            self.search = obj.search
            self.folder.set_path(obj.search.folder)  # Run again (after Stop) resumes this folder
            self._show_results(obj.search.results())
            self._poll.start()
            self.set_progress(self._finished_count(), obj.search.settings.trials or 0)
        elif isinstance(obj, tuple) and isinstance(obj[0], SearchProgress):
            p, results = obj
            self._show_results(results)
            if p.trials_total:
                self.set_progress(p.trials_done, p.trials_total)
            elif self.search is not None and self.search.settings.minutes:
                budget = 60.0 * self.search.settings.minutes
                self.set_progress(min(p.elapsed_seconds, budget), budget)

    def on_done(self, results: SearchResults) -> None:
        self._poll.stop()
        self._show_results(results)
        where = f" · folder {self.search.folder}" if self.search is not None else ""
        stopped = self.job is not None and self.job.stop_event.is_set()
        head = "stopped: press Run to resume" if stopped else "done"
        self.status.setText(f"{head} · {len(results.trials)} trials{where}")

    def _poll_results(self) -> None:
        if not self.running:
            self._poll.stop()
        elif self.search is not None:
            results = self.search.results()
            if _state(results) != _state(self.results_now):  # redraw only when a trial started or moved on
                self._show_results(results)

    def _finished_count(self) -> int:
        results = self.results_now
        return 0 if results is None else sum(n for s, n in results.counts().items() if s not in ("promoted", "running"))

    # --- results ------------------------------------------------------------------------------

    def _show_results(self, results: SearchResults) -> None:
        selected = self.selected_ids()
        self.results_now = results
        n_rungs = len(self.search.rungs) if self.search is not None else 1
        self.model.set_results(results, n_rungs)
        self._select(selected)
        self._show_summary()
        self._redraw()

    def _show_summary(self) -> None:
        results = self.results_now
        if results is None or not results.trials:
            self.summary.setText("Press Run: trials appear here as their rungs finish. Sort by any column; select "
                                 "trials to see their curves; Apply trains a trial's configuration.")
            return
        counts = ", ".join(f"{n} {s}" for s, n in sorted(results.counts().items()))
        try:
            best, _ = results.best()
        except EBMError:
            self.summary.setText(f"{len(results.trials)} trials ({counts}); none with a finite {results.objective} yet")
            return
        params = ", ".join(f"{k} = {fmt(v)}" for k, v in best.params.items())
        self.summary.setText(f"{len(results.trials)} trials ({counts}). <b>Best: trial {best.id}</b>, "
                             f"{results.objective} {fmt(best.value)} after {best.iteration} iterations ({params})")

    def selected_ids(self) -> list[int]:
        rows = sorted({self.proxy.mapToSource(i).row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.trial(r).id for r in rows if self.model.results is not None
                and r < len(self.model.results.trials)]

    def select_trials(self, ids: list[int]) -> None:
        self._select(ids)
        self._redraw()

    def _select(self, ids: list[int]) -> None:
        selection = self.table.selectionModel()
        selection.blockSignals(True)
        selection.clearSelection()
        if self.model.results is not None:
            for row, t in enumerate(self.model.results.trials):
                if t.id in ids:
                    index = self.proxy.mapFromSource(self.model.index(row, 0))
                    selection.select(index, QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
        selection.blockSignals(False)

    def _trial_series(self, t: TrialSummary, kind: str) -> tuple[np.ndarray, np.ndarray]:
        if kind == OBJECTIVE:
            pts = [(it, v) for it, v in t.objective_curve if v is not None]
            return np.array([p[0] for p in pts], dtype=float), np.array([p[1] for p in pts], dtype=float)
        y = np.asarray(t.curve, dtype=float)
        return np.arange(1, y.size + 1, dtype=float), ema_debiased(y, 0.9) if y.size else y

    def _redraw(self) -> None:
        item = self.plot.getPlotItem()
        item.clear()
        results = self.results_now
        kind = self.curve_kind.currentText()
        label = results.objective if kind == OBJECTIVE and results is not None else "training loss (smoothed)"
        item.setLabel("left", label)
        if results is None:
            item.setTitle("")
            return
        symbol = "o" if kind == OBJECTIVE else None
        chosen = self.selected_ids()
        for t in results.trials:
            if t.id not in chosen:
                x, y = self._trial_series(t, kind)
                item.plot(x, y, pen=pg.mkPen(FAINT, width=1), symbol=symbol, symbolSize=4, symbolPen=None,
                          symbolBrush=pg.mkBrush(FAINT))
        key = []
        for i, trial_id in enumerate(chosen):
            t = next(x for x in results.trials if x.id == trial_id)
            color = PALETTE[i % len(PALETTE)]
            x, y = self._trial_series(t, kind)
            curve = item.plot(x, y, pen=pg.mkPen(color, width=2.5), symbol=symbol, symbolSize=7, symbolPen=None,
                              symbolBrush=pg.mkBrush(color))
            curve.setZValue(10)
            key.append(f"<span style='color:{color}'>━ trial {t.id}</span>")
        item.setTitle("&nbsp;&nbsp;".join(key[:8]) + (" …" if len(key) > 8 else ""), size="9pt")

    # --- apply --------------------------------------------------------------------------------

    def apply_best(self) -> ExperimentConfig | None:
        if self.results_now is None:
            self.show_error("no search results yet: run a search, or Resume… to open one")
            return None
        try:
            trial, config = self.results_now.best()
        except EBMError as exc:
            self.show_error(str(exc))
            return None
        self.config_chosen.emit(config)
        self.show_message(f"applied trial {trial.id} (the best, {self.results_now.objective} {fmt(trial.value)})")
        return config

    def apply_selected(self) -> ExperimentConfig | None:
        ids = self.selected_ids()
        if self.results_now is None or not ids:
            self.show_error("select a trial in the table first")
            return None
        try:
            config = self.results_now.config_of(ids[0])
        except EBMError as exc:
            self.show_error(str(exc))
            return None
        self.config_chosen.emit(config)
        self.show_message(f"applied trial {ids[0]}")
        return config
