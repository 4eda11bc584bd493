"""The fixed benchmark suite (engine.experiments.suite): run it (quick or full) with a row per case
filled in as each case finishes, save it, and compare two saved results side by side."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.errors import EBMError
from engine.experiments.suite import (
    BUDGETS,
    JSON_NAME,
    METRIC_COLUMNS,
    SUITE_VERSION,
    BenchmarkResult,
    Comparison,
    compare,
    load_results,
    run_suite,
    select_cases,
    suite_cases,
)
from engine.experiments.trial import is_minimized

from ..run_folders import new_run_dir
from .base import ToolWindow
from .widgets import FolderField, default_workers, fmt, spin

RUN_COLUMNS = ("case", "status", "sampler", "iterations", *METRIC_COLUMNS)
STATUS = RUN_COLUMNS.index("status")
COMPARE_COLUMNS = ("case", "metric", "A", "B", "delta (B − A)", "better")
BETTER = QColor(0, 158, 115, 90)  # PALETTE green, translucent: readable text on top
WORSE = QColor(213, 94, 0, 45)
RUNNING = "running…"
DIGITS = {"mmd": 3, "seconds": 3}


class _Cell(QTableWidgetItem):
    """A table cell that sorts by its number (empty cells last), not by its text."""

    def __init__(self, text: str, key: Any = None):
        super().__init__(text)
        self.key = key

    def __lt__(self, other: QTableWidgetItem) -> bool:
        a, b = self.key, getattr(other, "key", None)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return (math.isnan(a), a) < (math.isnan(b), b)
        return super().__lt__(other)


def _table(columns: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.setAlternatingRowColors(True)
    table.verticalHeader().setDefaultSectionSize(24)
    return table


def _allow_sorting(table: QTableWidget) -> None:
    """Clicking a header sorts; until then the rows keep their own order (the suite's)."""
    table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
    table.setSortingEnabled(True)


def _number(value: Any, metric: str = "") -> _Cell:
    v = float(value) if isinstance(value, (int, float)) else math.nan
    cell = _Cell(fmt(v, DIGITS.get(metric, 4)) if math.isfinite(v) else "", v)
    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return cell


class BenchmarkWindow(ToolWindow):
    title = "Benchmark suite"
    run_text = "Run suite"

    def __init__(self, session: Any = None, parent: QWidget | None = None):
        super().__init__(session, parent)
        self.result: BenchmarkResult | None = None
        self.saved_to: Path | None = None
        self.comparison: list[Comparison] = []
        self._slots = 1
        self._build_form()
        self._build_results()
        self.resize(1150, 720)
        split = self.findChild(QSplitter)
        if split is not None:  # few settings: the table gets the room
            split.setSizes([290, 860])

    # --- building -------------------------------------------------------------------------------

    def _build_form(self) -> None:
        f = self.form
        self.budget = QComboBox()
        q, full = BUDGETS[True], BUDGETS[False]
        self.budget.addItem(f"quick ({q['2d']} / {q['image']} iterations)", True)
        self.budget.addItem(f"full ({full['2d']} / {full['image']} iterations)", False)
        self.budget.setToolTip("Iterations per 2D case / for digits. Full runs are the benchmark (about 6-8 minutes "
                               "on 2 cores); quick ones only check that every case runs, and compare only with "
                               "other quick ones")
        f.addRow("Budget", self.budget)
        self.only = QLineEdit()
        self.only.setPlaceholderText(f"all {len(suite_cases())} cases")
        self.only.setToolTip("Comma-separated case-name patterns (wildcards * ?, or any part of a name), e.g. "
                             "8gaussians_*, digits. The cases: " + ", ".join(c.name for c in suite_cases()))
        f.addRow("Only", self.only)
        self.workers = spin(0, 64, min(1, default_workers()), "Worker processes running cases side by side "
                            "(0: in this process). Seconds are only comparable between runs with 0 or 1",
                            special="0 (here)")
        f.addRow("Workers", self.workers)
        self.ray = QLineEdit()
        self.ray.setPlaceholderText("none (this machine)")
        self.ray.setToolTip("Run the cases on a Ray cluster: 'auto', 'ray://host:10001', or 'local' (needs ray)")
        f.addRow("Ray address", self.ray)
        self.folder = FolderField("new folder under runs/", "Where benchmark.json and .csv are saved at the end "
                                                            "(also when stopped). Empty: a new folder in the runs "
                                                            "folder")
        f.addRow("Save into", self.folder)
        note = QLabel(f"Suite version {SUITE_VERSION}: every 2D toy density with Langevin and MALA, plus the "
                      f"built-in digits; fixed presets, budgets and seed, so two results compare.")
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(mid);")
        f.addRow(note)

    def _build_results(self) -> None:
        self.tabs = QTabWidget()
        # the run
        self.run_table = _table(RUN_COLUMNS)
        self.run_table.setToolTip("One row per case, filled in as it finishes (metrics at the end of training)")
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Show a saved result (benchmark.json or .csv)")
        self.open_button.clicked.connect(lambda: self.open_result())
        self.save_button = QPushButton("Save as…")
        self.save_button.setToolTip("Write benchmark.json and benchmark.csv into a folder")
        self.save_button.clicked.connect(lambda: self.save_result())
        self.info = QLabel("")
        self.info.setWordWrap(True)
        run_page = QWidget()
        run_layout = QVBoxLayout(run_page)
        run_layout.addWidget(self.info)
        run_layout.addWidget(self.run_table, 1)
        row = QHBoxLayout()
        row.addWidget(self.open_button)
        row.addWidget(self.save_button)
        row.addStretch(1)
        run_layout.addLayout(row)
        self.tabs.addTab(run_page, "Results")

        # the comparison
        self.path_a, self.path_b = QLineEdit(), QLineEdit()
        grid = QGridLayout()
        for i, (name, edit) in enumerate((("A", self.path_a), ("B", self.path_b))):
            edit.setPlaceholderText("benchmark.json or benchmark.csv")
            edit.setToolTip(f"Result {name}: a saved benchmark.json or .csv of the same suite version and budget")
            button = QPushButton("…")
            button.setFixedWidth(32)
            button.setToolTip(f"Choose result {name}")
            button.clicked.connect(lambda _=False, e=edit: self._choose_result(e))
            grid.addWidget(QLabel(name), i, 0)
            grid.addWidget(edit, i, 1)
            grid.addWidget(button, i, 2)
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("Per case and metric: A, B, the difference and the better side (lower NLL, "
                                       "KL, MMD² and seconds; higher acceptance)")
        self.compare_button.clicked.connect(lambda: self.compare_files())
        grid.addWidget(self.compare_button, 0, 3, 2, 1)
        self.compare_summary = QLabel("")
        self.compare_summary.setWordWrap(True)
        self.compare_table = _table(COMPARE_COLUMNS)
        compare_page = QWidget()
        compare_layout = QVBoxLayout(compare_page)
        compare_layout.addLayout(grid)
        compare_layout.addWidget(self.compare_summary)
        compare_layout.addWidget(self.compare_table, 1)
        self.tabs.addTab(compare_page, "Compare")
        self.results.addWidget(self.tabs)

    # --- running ----------------------------------------------------------------------------------

    def make_job_fn(self) -> Callable[[Callable[[Any], None], Any], Any]:
        quick = bool(self.budget.currentData())
        only = self.only.text().strip() or None
        cases = select_cases(only)  # a pattern that matches nothing stops here
        workers, ray = self.workers.value(), self.ray.text().strip() or None
        folder = self.folder.path()

        def fn(report: Callable[[Any], None], stop: Any) -> tuple[BenchmarkResult, Path | None]:
            result = run_suite(quick=quick, workers=workers, only=only, ray_address=ray, on_result=report, stop=stop)
            if not result.rows:
                return result, None
            target = folder or new_run_dir("benchmark-quick" if quick else "benchmark")
            result.save(target)
            return result, target

        self.result, self.saved_to = None, None
        self.tabs.setCurrentIndex(0)
        self.run_table.setSortingEnabled(False)
        self.run_table.setRowCount(len(cases))
        for r, case in enumerate(cases):
            self._fill_run_row(r, {"case": case.name, "sampler": case.sampler}, "waiting")
        self.info.setText(f"Suite v{SUITE_VERSION}, {'quick' if quick else 'full'} budget, {len(cases)} cases")
        self.set_progress(0, len(cases))
        self._slots = max(1, workers)
        self._mark_running(starting=True)
        return fn

    def _mark_running(self, starting: bool = False) -> None:
        """The suite starts cases in order, as many at once as it has workers: those are running."""
        if not starting and self.job is not None and self.job.stop_event.is_set():
            return  # stopping: no case starts any more
        statuses = [self.run_table.item(r, STATUS) for r in range(self.run_table.rowCount())]
        free = self._slots - sum(1 for item in statuses if item.text() == RUNNING)
        for item in statuses:
            if free <= 0:
                break
            if item.text() == "waiting":
                item.setText(RUNNING)
                free -= 1

    def on_report(self, row: Any) -> None:
        r = self._row_of(row["case"])
        if r is None:
            r = self.run_table.rowCount()
            self.run_table.insertRow(r)
        self._fill_run_row(r, row, "diverged" if row.get("diverged") else "done")
        done = sum(1 for i in range(self.run_table.rowCount())
                   if self.run_table.item(i, STATUS).text() in ("done", "diverged"))
        self.set_progress(done, self.run_table.rowCount())
        self._mark_running()

    def on_done(self, result: Any) -> None:
        self.result, self.saved_to = result
        for r in range(self.run_table.rowCount()):
            status = self.run_table.item(r, STATUS)
            if status.text() in ("waiting", RUNNING):
                status.setText("not run")
                status.setForeground(QBrush(QColor("#888888")))
        _allow_sorting(self.run_table)
        stopped = self.job is not None and self.job.stop_event.is_set()
        if self.saved_to is None:
            self.status.setText("stopped before any case finished: nothing to save")
            return
        total = self.run_table.rowCount()
        head = f"stopped after {len(self.result.rows)} of {total} cases" if stopped else "done"
        self.status.setText(f"{head} · saved in {self.saved_to}")
        if not self.path_b.text().strip():
            self.path_b.setText(str(self.saved_to / JSON_NAME))  # ready to compare with a baseline as A

    def _row_of(self, case: str) -> int | None:
        for r in range(self.run_table.rowCount()):
            item = self.run_table.item(r, 0)
            if item is not None and item.text() == case:
                return r
        return None

    def _fill_run_row(self, r: int, row: dict[str, Any], status: str) -> None:
        state = QTableWidgetItem(status)
        if status in ("diverged", "not run"):
            state.setForeground(QBrush(QColor("#D55E00" if status == "diverged" else "#888888")))
            if row.get("diverged"):
                state.setToolTip(str(row["diverged"]))
        cells = [QTableWidgetItem(str(row.get("case", ""))), state, QTableWidgetItem(str(row.get("sampler", ""))),
                 _number(row["iterations"]) if "iterations" in row else QTableWidgetItem("")]
        cells += [_number(row[c], c) if c in row else QTableWidgetItem("") for c in METRIC_COLUMNS]
        for c, cell in enumerate(cells):
            self.run_table.setItem(r, c, cell)

    def show_result(self, result: BenchmarkResult) -> None:
        self.result = result
        self.run_table.setSortingEnabled(False)
        self.run_table.setRowCount(len(result.rows))
        for r, row in enumerate(result.rows):
            self._fill_run_row(r, row, "diverged" if row.get("diverged") else "done")
        _allow_sorting(self.run_table)
        info = result.info
        self.info.setText(f"Suite v{info.get('suite_version')}, {'quick' if info.get('quick') else 'full'} budget, "
                          f"engine {info.get('engine_version', '?')}, {info.get('date', '')}, "
                          f"{info.get('backend', '')}")

    # --- files ---------------------------------------------------------------------------------

    def open_result(self, path: str | Path | None = None) -> bool:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Open a benchmark result", "",
                                                  "Benchmark results (*.json *.csv);;All files (*)")
            if not path:
                return False
        if self.running:
            self.show_error("the suite is running: stop it before opening a result")
            return False
        try:
            result = load_results(path)
        except EBMError as exc:
            self.show_error(str(exc))
            return False
        self.show_result(result)
        self.show_message(f"opened {path}")
        return True

    def save_result(self, folder: str | Path | None = None) -> bool:
        if self.result is None or not self.result.rows:
            self.show_error("no benchmark result to save yet: run the suite first")
            return False
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Save the benchmark result into…", str(self.saved_to or ""))
            if not folder:
                return False
        try:
            json_path, csv_path = self.result.save(folder)
        except EBMError as exc:
            self.show_error(str(exc))
            return False
        self.show_message(f"saved {json_path} and {csv_path.name}")
        return True

    def _choose_result(self, edit: QLineEdit) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a benchmark result", edit.text(),
                                              "Benchmark results (*.json *.csv);;All files (*)")
        if path:
            edit.setText(path)

    def compare_files(self, a: str | Path | None = None, b: str | Path | None = None) -> bool:
        """Compare results A and B (the paths in the fields unless given) into the Compare tab."""
        if a is not None:
            self.path_a.setText(str(a))
        if b is not None:
            self.path_b.setText(str(b))
        self.tabs.setCurrentIndex(1)
        paths = [self.path_a.text().strip(), self.path_b.text().strip()]
        self.comparison = []
        self.compare_table.setRowCount(0)
        self.compare_summary.setText("")
        if not all(paths):
            self.show_error("choose two benchmark results to compare (A and B)")
            return False
        try:
            ra, rb = (load_results(p) for p in paths)
            rows = compare(ra, rb)
        except EBMError as exc:
            self.show_error(str(exc))
            return False
        self.comparison = rows
        self._fill_comparison(rows)
        wins = {side: sum(1 for r in rows if r.better == side) for side in ("a", "b", "same")}
        self.compare_summary.setText(
            f"A = {html.escape(Path(paths[0]).name)} ({ra.info.get('engine_version', '?')}, {ra.info.get('date', '')})"
            f"<br>B = {html.escape(Path(paths[1]).name)} ({rb.info.get('engine_version', '?')}, "
            f"{rb.info.get('date', '')})<br><b>B better in {wins['b']}, A better in {wins['a']}, "
            f"equal in {wins['same']}</b> of {len(rows)} compared values (green: the better side)")
        self.show_message(f"compared {len(rows)} values")
        return True

    def _fill_comparison(self, rows: list[Comparison]) -> None:
        table = self.compare_table
        table.setSortingEnabled(False)
        table.setRowCount(len(rows))
        for r, c in enumerate(rows):
            cells = [QTableWidgetItem(c.case), QTableWidgetItem(c.metric), _number(c.a, c.metric),
                     _number(c.b, c.metric), _number(c.delta, c.metric),
                     QTableWidgetItem({"a": "A", "b": "B", "same": "same", "": "–"}[c.better])]
            if math.isfinite(c.delta):
                cells[4].setText(f"{c.delta:+.{DIGITS.get(c.metric, 4)}g}" if c.delta else "0")
            cells[1].setToolTip("lower is better" if is_minimized(c.metric) else "higher is better")
            if c.better in ("a", "b"):
                win, lose = (2, 3) if c.better == "a" else (3, 2)
                cells[win].setBackground(QBrush(BETTER))
                cells[lose].setBackground(QBrush(WORSE))
                cells[5].setBackground(QBrush(BETTER))
            for col, cell in enumerate(cells):
                table.setItem(r, col, cell)
        _allow_sorting(table)
