"""The frame every tool window shares: settings on the left, results on the right,
Run / Stop, a progress bar with ETA, and a status line for errors.

A subclass fills ``self.form`` (a QFormLayout) and ``self.results`` (a QVBoxLayout),
and implements ``make_job_fn()`` (the function the Job runs, built from the form)
plus ``on_report(obj)`` and ``on_done(result)``. Errors go to the status line and to the
session log; they never raise into Qt.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QFormLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSplitter,
                               QVBoxLayout, QWidget)

from engine.errors import EBMError

from ..jobs import Job, eta_text


class ToolWindow(QWidget):
    title = "Tool"
    run_text = "Run"

    def __init__(self, session: Any = None, parent: QWidget | None = None):
        super().__init__(parent, Qt.WindowType.Window)
        self.session = session
        self.job: Job | None = None
        self.setWindowTitle(f"{self.title} — EBM Studio")
        self._progress = (0.0, 0.0)

        settings = QWidget()
        self.form = QFormLayout(settings)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        results = QWidget()
        self.results = QVBoxLayout(results)
        self.results.setContentsMargins(0, 0, 0, 0)
        split = QSplitter()
        split.addWidget(settings)
        split.addWidget(results)
        split.setStretchFactor(1, 1)
        split.setSizes([320, 680])

        self.run_button = QPushButton(self.run_text)
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bar = QHBoxLayout()
        bar.addWidget(self.run_button)
        bar.addWidget(self.stop_button)
        bar.addWidget(self.progress_bar, 1)

        layout = QVBoxLayout(self)
        layout.addWidget(split, 1)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        self._eta_timer = QTimer(self)  # the ETA counts down between reports too
        self._eta_timer.setInterval(1000)
        self._eta_timer.timeout.connect(self._show_progress)
        self.resize(1000, 620)

    # --- for subclasses -------------------------------------------------------------

    def make_job_fn(self) -> Callable[[Callable[[Any], None], Any], Any]:
        raise NotImplementedError

    def on_report(self, obj: Any) -> None:
        pass

    def on_done(self, result: Any) -> None:
        pass

    def set_progress(self, done: float, total: float) -> None:
        self._progress = (float(done), float(total))
        self._show_progress()

    # --- running --------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.isRunning()

    def start(self) -> None:
        if self.running:
            return
        try:
            fn = self.make_job_fn()  # reads and checks the form: a bad setting stops here
        except EBMError as exc:
            self.show_error(str(exc))
            return
        self.show_message("running…")
        self.set_progress(0, 0)
        self.job = Job(fn, self)
        self.job.reported.connect(self.on_report)
        self.job.done.connect(self._finished_ok)
        self.job.failed.connect(self._failed)
        self.job.finished.connect(self._job_ended)
        self._set_running(True)
        self.job.start()
        self._eta_timer.start()

    def stop(self) -> None:
        if self.running:
            self.job.request_stop()
            self.status.setText("stopping after the current piece of work…")

    def _finished_ok(self, result: Any) -> None:
        stopped = self.job is not None and self.job.stop_event.is_set()
        self.status.setText("stopped" if stopped else "done")
        self.on_done(result)

    def _failed(self, message: str, details: str) -> None:
        self.show_error(message)
        if self.session is not None and hasattr(self.session, "log"):
            self.session.log("debug", details)

    def _job_ended(self) -> None:
        self._eta_timer.stop()
        self._set_running(False)
        self._show_progress()  # a job that never reported progress must not leave the bar busy
        if self._progress[1] <= 0:  # ... and its settled bar says whether it finished
            self.progress_bar.setValue(1 if self.status.text() == "done" else 0)

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.stop_button.setEnabled(running)

    def _show_progress(self) -> None:
        done, total = self._progress
        if total <= 0:
            self.progress_bar.setRange(0, 0 if self.running else 1)  # busy indicator while running
            self.progress_bar.setFormat("")
            return
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(int(1000 * min(done / total, 1.0)))
        elapsed = time.monotonic() - self.job.started_at if self.job is not None and self.job.started_at else 0.0
        self.progress_bar.setFormat(eta_text(done, total, elapsed))

    def show_message(self, text: str) -> None:
        """A plain status line (what just happened), clearing an error's colour."""
        self.status.setStyleSheet("")
        self.status.setText(text)

    def show_error(self, message: str) -> None:
        self.status.setText(message)
        self.status.setStyleSheet("color: #D55E00;")
        if self.session is not None and hasattr(self.session, "log"):
            self.session.log("error", f"{self.title}: {message}")

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if self.running:  # stop it; if it needs longer (a trial in a worker process), it goes on
            self.job.request_stop()  # without the window, and the app waits for it before quitting
            if not self.job.wait(2000):
                self.job.setParent(None)
        super().closeEvent(event)
