"""The main window: experiment panel, live views, controls, files and exports.

It owns the Session (what the views draw) and one TrainingWorker at a time
(the thread that trains). Edits to data or model start a new run after
asking; learning rate and sampler edits reach the running worker at once.
"""

from __future__ import annotations

import importlib
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (QApplication, QDockWidget, QFileDialog, QInputDialog, QLabel, QMainWindow, QMessageBox,
                               QProgressBar, QTabWidget, QToolBar, QWidget)

from engine.errors import EBMError
from engine.training.config import ExperimentConfig, load_config

from .jobs import wait_for_jobs
from .panels.experiment_panel import ExperimentPanel
from .run_folders import new_run_dir
from .session import Session
from .tools.registry import TOOLS, ToolEntry
from .views import ChainView, CurvesView, DataPreview, LandscapeView, LogView, SamplesView
from .views.figure_export import export_png, export_svg
from .worker import TrainingWorker

PRESET_DIR = Path(__file__).resolve().parent.parent / "resources" / "presets"
DEFAULT_PRESET = PRESET_DIR / "8gaussians.toml"
CHAIN_STEPS = 200
MAX_RECENT = 8


class MainWindow(QMainWindow):
    def __init__(self, config: ExperimentConfig | None = None, settings: QSettings | None = None):
        super().__init__()
        self.settings = settings or QSettings()
        self.session = Session(config or _default_config(), self)
        self.worker: TrainingWorker | None = None
        self.setWindowTitle("EBM Studio")
        self.setAcceptDrops(True)
        self._build_views()
        self._build_actions()
        self._build_status_bar()
        self._connect_session()
        self._restore_settings()
        app = QApplication.instance()
        if app is not None:  # quitting without closing the window still stops the worker cleanly
            app.aboutToQuit.connect(self._stop_worker)
            app.aboutToQuit.connect(wait_for_jobs)
        self.start_run(self.session.config)

    # --- layout ---------------------------------------------------------------------

    def _build_views(self) -> None:
        s = self.session
        self.landscape_view = LandscapeView(s)
        self.samples_view = SamplesView(s)
        self.curves_view = CurvesView(s)
        self.chain_view = ChainView(s)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.landscape_view, "Landscape")
        self.tabs.addTab(self.samples_view, "Samples")
        self.tabs.addTab(self.curves_view, "Curves")
        self.tabs.addTab(self.chain_view, "Chain")
        self.setCentralWidget(self.tabs)
        self.panel = ExperimentPanel(s)
        self.panel.set_preview_widget(DataPreview(s))
        self.panel.config_edited.connect(self.on_config_edited)
        self.panel.open_data_requested.connect(self.open_data_file)
        self.panel_dock = self._dock("Experiment", self.panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.log_view = LogView(s)
        self.log_dock = self._dock("Log", self.log_view, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.resizeDocks([self.log_dock], [130], Qt.Orientation.Vertical)
        self.resizeDocks([self.panel_dock], [340], Qt.Orientation.Horizontal)
        self.landscape_view.chain_requested.connect(self.start_chain_at)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, text: str, slot, shortcut: str | QKeySequence | None = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        action.triggered.connect(slot)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(f"{tip} ({QKeySequence(shortcut).toString()})" if shortcut and tip else tip)
        action.setStatusTip(tip)
        return action

    def _build_actions(self) -> None:
        self.train_action = self._action("Train", self.toggle_training, "Space", "Train, or pause training")
        self.step_action = self._action("Step", self.step_once, "S", "Run one training iteration")
        self.stop_action = self._action("Stop", self.stop_training, "Ctrl+.", "Stop and save the run")
        self.reset_action = self._action("Reset", self.reset_run, "Ctrl+R", "Start the experiment over")
        self.chain_action = self._action("Sample chain", self.start_chain_from_noise, "C",
                                         "Run a sampler chain from noise and show it")
        toolbar = QToolBar("Controls")
        toolbar.setObjectName("controls")
        for a in (self.train_action, self.step_action, self.stop_action, self.reset_action, self.chain_action):
            toolbar.addAction(a)
        self.addToolBar(toolbar)

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self.preset_menu = file_menu.addMenu("New from preset")
        for path in sorted(PRESET_DIR.glob("*.toml")):
            self.preset_menu.addAction(path.stem, lambda p=path: self.open_config(p))
        file_menu.addAction(self._action("Open experiment…", self.open_experiment_dialog, QKeySequence.StandardKey.Open,
                                         "Open a run folder or a config file"))
        self.recent_menu = file_menu.addMenu("Open recent")
        file_menu.addAction(self._action("Save experiment as…", self.save_experiment_as, QKeySequence.StandardKey.SaveAs,
                                         "Copy the run folder (config, model, metrics, samples, checkpoints)"))
        file_menu.addAction(self._action("Open data file…", self.open_data_file, "Ctrl+D",
                                         "Train on your own points or images"))
        file_menu.addSeparator()
        export_menu = file_menu.addMenu("Export")
        export_menu.addAction(self._action("Figure as PNG…", lambda: self.export_figure("png"), "Ctrl+E",
                                           "The current plot as a PNG at a chosen width"))
        export_menu.addAction(self._action("Figure as SVG…", lambda: self.export_figure("svg"), None,
                                           "The current plot as SVG"))
        export_menu.addAction(self._action("Curves as CSV…", self.export_curves, None, "Every learning curve"))
        export_menu.addAction(self._action("Samples as PNG grid…", lambda: self.export_samples("png"), None,
                                           "The current negatives"))
        export_menu.addAction(self._action("Samples as .npy…", lambda: self.export_samples("npy"), None,
                                           "The current negatives as an array"))
        export_menu.addAction(self._action("Model as safetensors…", lambda: self.export_model("safetensors"), None,
                                           "Weights + architecture JSON"))
        export_menu.addAction(self._action("Model as ONNX…", lambda: self.export_model("onnx"), None,
                                           "The energy function as an ONNX graph"))
        file_menu.addSeparator()
        file_menu.addAction(self._action("Compare with run…", self.compare_run, None,
                                         "Overlay another run's learning curves"))
        file_menu.addSeparator()
        file_menu.addAction(self._action("Quit", self.close, QKeySequence.StandardKey.Quit, "Quit EBM Studio"))
        run_menu = menu.addMenu("&Run")
        for a in (self.train_action, self.step_action, self.stop_action, self.reset_action, self.chain_action):
            run_menu.addAction(a)
        self._build_tool_menus(menu)
        view_menu = menu.addMenu("&View")
        view_menu.addAction(self.panel_dock.toggleViewAction())
        view_menu.addAction(self.log_dock.toggleViewAction())
        self._refresh_recent_menu()

    def _build_tool_menus(self, menu: Any) -> None:
        """Experiments (many runs) and Apply (what a trained EBM is for): one window per tool."""
        self.tool_windows: dict[str, QWidget] = {}
        menus: dict[str, Any] = {}
        for entry in TOOLS:
            if entry.menu not in menus:
                menus[entry.menu] = menu.addMenu(f"&{entry.menu}")
            menus[entry.menu].addAction(self._action(f"{entry.text}…", lambda e=entry: self.open_tool(e), None,
                                                     entry.tip))

    def open_tool(self, entry: ToolEntry) -> QWidget:
        """Show the tool's window (one per tool, kept while the main window lives)."""
        window = self.tool_windows.get(entry.target)
        if window is None:
            module, name = entry.target.split(":")
            window = getattr(importlib.import_module(module), name)(self.session, self)
            if hasattr(window, "config_chosen"):
                window.config_chosen.connect(self.use_config)
            self.tool_windows[entry.target] = window
        window.show()
        window.raise_()
        window.activateWindow()
        return window

    def use_config(self, config: ExperimentConfig) -> None:
        """Train ``config`` (from a tool, e.g. a search's best trial), asking first if a run is going."""
        if self.session.has_run and not self._confirm("Use this configuration",
                                                      "Start a new run with this configuration? The current "
                                                      "run stays saved in its folder."):
            return
        self.start_run(config)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setFormat("%v / %m")
        self.iteration_label = QLabel("")
        self.rate_label = QLabel("")
        self.state_label = QLabel("")
        self.backend_label = QLabel("")
        for w in (self.progress_bar, self.iteration_label, self.rate_label, self.state_label):
            bar.addPermanentWidget(w)  # permanent: temporary status tips must not hide them
        bar.addPermanentWidget(QLabel(""), 1)
        bar.addPermanentWidget(self.backend_label)

    def _connect_session(self) -> None:
        self.session.state_changed.connect(self._on_state)
        self.session.progress.connect(self._on_progress)
        self.session.config_changed.connect(self._show_fitting_tab)
        self.session.data_changed.connect(self._show_fitting_tab)

    # --- runs -------------------------------------------------------------------------

    def start_run(self, config: ExperimentConfig, run_dir: str | None = None, resume: bool = False) -> None:
        """Stop any worker and start a new one for ``config`` (resuming ``run_dir`` if asked)."""
        self._stop_worker()
        self.session.set_config(config)
        try:
            folder = run_dir or str(new_run_dir(config.name))
        except OSError as exc:
            self.show_error(f"Cannot create a folder for the run: {exc}")
            return
        self.session.run_dir = folder
        worker = TrainingWorker(config, folder, resume=resume, parent=self)
        worker.reports.connect(self.session.add_reports)
        worker.landscape.connect(self.session.set_landscape)
        worker.chain.connect(self.session.set_chain)
        worker.buffer_samples.connect(self.session.set_buffer_samples)
        worker.data_ready.connect(self.session.set_data)
        worker.state.connect(self.session.set_state)
        worker.progress.connect(self.session.progress)
        worker.backend_info.connect(self._on_backend)
        worker.error.connect(self._on_worker_error)
        worker.saved.connect(lambda path: self.session.log("info", f"run saved in {path}"))
        worker.exported.connect(lambda path: self.session.log("info", f"model exported to {path}"))
        self.worker = worker
        worker.start()
        self.session.log("info", f"experiment '{config.name}' in {folder}")

    def _stop_worker(self) -> None:
        if self.worker is not None:
            worker, self.worker = self.worker, None
            worker.stop()
            worker.wait(30_000)
            worker.deleteLater()

    def toggle_training(self) -> None:
        if self.worker is None or self.session.state == "failed":  # nothing started: Reset retries
            return
        if self.session.state == "running":
            self.worker.pause()
        else:
            self.worker.train()

    def step_once(self) -> None:
        if self.worker is not None and self.session.state != "failed":
            self.worker.step_once()

    def stop_training(self) -> None:
        if self.worker is not None and self.session.state in ("running", "paused"):
            self.worker.pause()
            self.worker.save_run()

    def reset_run(self) -> None:
        if self.session.has_run and not self._confirm("Reset", "Start this experiment over? The current run "
                                                      "stays saved in its folder."):
            return
        self.start_run(self.session.config)

    def on_config_edited(self, config: ExperimentConfig, kind: str) -> None:
        if kind == "live" and self.worker is not None:
            self.session.config = config
            self.worker.update_settings(config)
            return
        if self.session.has_run and not self._confirm(
                "Change the experiment", "Changing the data or the model starts a new run. The current run "
                "stays saved in its folder. Go on?"):
            self.panel.show_config()
            return
        self.start_run(config)

    def start_chain_at(self, x: float, y: float) -> None:
        if self.worker is not None and self.session.data_preview is not None and not self.session.is_image:
            self.worker.request_chain(np.array([x, y]), CHAIN_STEPS)
            self.tabs.setCurrentWidget(self.landscape_view)

    def start_chain_from_noise(self) -> None:
        if self.worker is None or self.session.data_preview is None:
            return
        lo, hi = self.session.value_range
        shape = self.session.data_preview.shape[1:]
        x0 = np.random.default_rng().uniform(lo, hi, size=shape)
        self.worker.request_chain(x0, CHAIN_STEPS)
        self.tabs.setCurrentWidget(self.chain_view if self.session.is_image else self.landscape_view)

    # --- files ------------------------------------------------------------------------

    def open_config(self, path: Path | str) -> None:
        try:
            config = load_config(path)
        except EBMError as exc:
            self.show_error(str(exc))
            return
        if self.session.has_run and not self._confirm("Open", "Open a new experiment? The current run stays "
                                                      "saved in its folder."):
            return
        self._add_recent(str(path))
        self.start_run(config)

    def open_experiment(self, path: str) -> None:
        """A run folder (reopened and resumable) or a config file (a new run)."""
        p = Path(path)
        if p.is_dir():
            try:
                config = load_config(p / "config.toml")
            except EBMError as exc:
                self.show_error(f"{p} is not an experiment folder: {exc}")
                return
            self._add_recent(str(p))
            self.start_run(config, run_dir=str(p), resume=True)
        else:
            self.open_config(p)

    def open_experiment_dialog(self) -> None:
        start = self.settings.value("dirs/experiments", str(Path.home()))
        path = QFileDialog.getExistingDirectory(self, "Open a run folder", start)
        if path:
            self.settings.setValue("dirs/experiments", path)
            self.open_experiment(path)

    def save_experiment_as(self) -> None:
        if self.worker is None or self.session.run_dir is None:
            return
        start = self.settings.value("dirs/experiments", str(Path.home()))
        target = QFileDialog.getExistingDirectory(self, "Save the run into a new folder inside…", start)
        if target:
            self.save_experiment_to(str(Path(target) / Path(self.session.run_dir).name))

    def save_experiment_to(self, target: str) -> None:
        """Save the run now, then copy its folder to ``target`` (which must not exist)."""
        assert self.worker is not None and self.session.run_dir is not None
        source = self.session.run_dir

        def copy(saved_dir: str) -> None:
            self.worker.saved.disconnect(copy)
            try:
                shutil.copytree(saved_dir, target)
            except OSError as exc:
                self.show_error(f"Could not save the experiment to {target}: {exc}")
                return
            self.settings.setValue("dirs/experiments", str(Path(target).parent))
            self._add_recent(target)
            self.session.log("info", f"experiment saved to {target}")

        if not self.session.has_run:
            Path(source, "checkpoints").mkdir(parents=True, exist_ok=True)
            copy(source)
            return
        self.worker.saved.connect(copy)
        self.worker.save_run()

    def open_data_file(self) -> None:
        start = self.settings.value("dirs/data", str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(
            self, "Open data", start, "Data (*.csv *.txt *.npy *.npz *.gz *idx* *ubyte* *.png *.jpg *.jpeg);;"
            "All files (*)")
        if path:
            self.settings.setValue("dirs/data", str(Path(path).parent))
            self.use_data_file(path)

    def use_data_file(self, path: str) -> None:
        config = self.session.config.replace(data={"name": "file", "path": path, "format": ""})
        self.on_config_edited(config, "data")

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not urls:
            return
        path = Path(urls[0])
        if path.suffix == ".toml" or (path / "config.toml").is_file():
            self.open_experiment(str(path))
        else:
            self.use_data_file(str(path))

    # --- exports ----------------------------------------------------------------------

    def _save_path(self, title: str, suffix: str, filters: str) -> str:
        start = self.settings.value("dirs/export", str(Path.home()))
        default = str(Path(start) / f"{self.session.config.name}{suffix}")
        path, _ = QFileDialog.getSaveFileName(self, title, default, filters)
        if path:
            self.settings.setValue("dirs/export", str(Path(path).parent))
        return path

    def export_figure(self, fmt: str, path: str | None = None, width: int | None = None) -> None:
        widget = self.tabs.currentWidget()
        if path is None:
            if fmt == "png":
                width, ok = QInputDialog.getInt(self, "Figure width", "Width in pixels:", 1600, 200, 10000, 100)
                if not ok:
                    return
            path = self._save_path("Export figure", f".{fmt}", f"{fmt.upper()} (*.{fmt})")
            if not path:
                return
        try:
            target = getattr(widget, "export_target", lambda: widget)()
            export_png(target, path, width=width) if fmt == "png" else export_svg(target, path)
        except EBMError as exc:
            self.show_error(str(exc))
            return
        self.session.log("info", f"figure saved to {path}")

    def export_curves(self, path: str | None = None) -> None:
        from engine.metrics import CurveLog  # noqa: PLC0415

        path = path or self._save_path("Export curves", ".csv", "CSV (*.csv)")
        if not path:
            return
        log = CurveLog()
        log.extend(self.session.history.rows())
        try:
            log.write_csv(path)
        except EBMError as exc:
            self.show_error(str(exc))
            return
        self.session.log("info", f"curves saved to {path}")

    def export_samples(self, fmt: str, path: str | None = None) -> None:
        from engine.export import save_image_grid, save_samples_npy  # noqa: PLC0415

        samples = self.session.samples
        if samples is None:
            self.show_error("There are no samples yet: train for a few iterations first.")
            return
        path = path or self._save_path("Export samples", f".{fmt}", f"{fmt.upper()} (*.{fmt})")
        if not path:
            return
        try:
            if fmt == "npy":
                save_samples_npy(samples, path)
            elif samples.ndim == 4:
                save_image_grid(samples, path, value_range=self.session.value_range, scale=2)
            else:
                self.show_error("2D samples export as .npy; export the landscape figure for a picture.")
                return
        except EBMError as exc:
            self.show_error(str(exc))
            return
        self.session.log("info", f"samples saved to {path}")

    def export_model(self, fmt: str, path: str | None = None) -> None:
        if self.worker is None:
            return
        suffix = ".onnx" if fmt == "onnx" else ".safetensors"
        path = path or self._save_path("Export model", suffix, f"{fmt} (*{suffix})")
        if path:
            self.worker.export_model(path, fmt)

    def compare_run(self, path: str | None = None) -> None:
        from engine.metrics import CurveLog  # noqa: PLC0415

        from .session import CurveHistory  # noqa: PLC0415

        if path is None:
            start = self.settings.value("dirs/experiments", str(Path.home()))
            path = QFileDialog.getExistingDirectory(self, "Compare with run folder", start)
            if not path:
                return
        try:
            log = CurveLog.read_csv(Path(path) / "metrics.csv")
        except EBMError as exc:
            self.show_error(f"Cannot compare with {path}: {exc}")
            return
        history = CurveHistory()
        for row in log.rows:
            history.add(int(row["iteration"]), {k: v for k, v in row.items() if k != "iteration"})
        self.session.comparisons[Path(path).name] = history
        self.session.reports_added.emit()
        self.tabs.setCurrentWidget(self.curves_view)

    # --- feedback ---------------------------------------------------------------------

    def _on_state(self, state: str) -> None:
        running = state == "running"
        self.train_action.setText("Pause" if running else "Train")
        usable = state in ("running", "paused", "finished", "error")
        for a in (self.train_action, self.step_action, self.chain_action):
            a.setEnabled(usable and state != "finished" or a is self.chain_action and usable)
        self.stop_action.setEnabled(state in ("running", "paused"))
        self.state_label.setText({"starting": "preparing data and model…", "running": "training",
                                  "paused": "paused", "finished": "finished (raise Iterations to go on)",
                                  "error": "stopped by an error (see the log): Train resumes, Reset starts over",
                                  "failed": "could not start (see the log): fix the problem, then Reset",
                                  "stopped": "stopped"}.get(state, state))

    def _on_progress(self, iteration: int, total: int, rate: float) -> None:
        self.progress_bar.setMaximum(max(total, 1))
        self.progress_bar.setValue(min(iteration, total))
        self.iteration_label.setText(f"iteration {iteration}")
        if rate > 0:
            eta = (total - iteration) / rate
            eta_text = f"{int(eta // 60)}:{int(eta % 60):02d}" if math.isfinite(eta) else "--"
            self.rate_label.setText(f"{rate:.1f} it/s   ETA {eta_text}")

    def _on_backend(self, text: str) -> None:
        self.session.backend_text = text
        self.backend_label.setText(text.split(" (")[0])
        self.backend_label.setToolTip(text)
        self.panel.backend_label.setText(text)

    def _on_worker_error(self, message: str, details: str) -> None:
        self.session.log("error", details if details != message else message)
        self.show_error(message)

    def _show_fitting_tab(self) -> None:
        image = self.session.is_image
        self.tabs.setTabEnabled(self.tabs.indexOf(self.landscape_view), not image)
        if image and self.tabs.currentWidget() is self.landscape_view:
            self.tabs.setCurrentWidget(self.samples_view)
        if not image and self.tabs.currentWidget() is self.samples_view:
            self.tabs.setCurrentWidget(self.landscape_view)

    def show_error(self, message: str) -> None:
        self.session.log("error", message)
        if not self.property("quiet_errors"):  # tests set this to keep dialogs from blocking
            QMessageBox.warning(self, "EBM Studio", message)

    def _confirm(self, title: str, text: str) -> bool:
        if self.property("assume_yes"):
            return True
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    # --- settings ---------------------------------------------------------------------

    def _restore_settings(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def _add_recent(self, path: str) -> None:
        recent = [p for p in (self.settings.value("recent") or []) if p != path]
        self.settings.setValue("recent", [path, *recent][:MAX_RECENT])
        self._refresh_recent_menu()

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.value("recent") or []
        if isinstance(recent, str):
            recent = [recent]
        for path in recent:
            self.recent_menu.addAction(path, lambda p=path: self.open_experiment(p))
        self.recent_menu.setEnabled(bool(recent))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        if self.session.state == "running" and not self._confirm(
                "Quit", "Training is running. Stop it, save the run and quit?"):
            event.ignore()
            return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        for window in self.tool_windows.values():
            window.close()  # a tool's job stops with its window
        self._stop_worker()
        wait_for_jobs()
        event.accept()


def _default_config() -> ExperimentConfig:
    try:
        return load_config(DEFAULT_PRESET)
    except EBMError:
        return ExperimentConfig()


