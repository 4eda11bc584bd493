"""Long work off the GUI thread, napari/superqt style: a function that reports as it goes.

    job = Job(lambda report, stop: run_search(..., on_result=report, stop=stop))
    job.reported.connect(table.add_row)      # each report(obj) the function makes
    job.done.connect(show_best)              # its return value
    job.failed.connect(show_error)           # (message for the user, traceback for the log)
    job.start(); ...; job.request_stop()

The function runs in a QThread; ``report`` hands small host objects to the GUI thread
through a queued signal, and ``stop`` is a threading.Event the function checks between
pieces of work. A user error (EBMError) arrives as its message; anything else as
"unexpected error" plus the traceback, never as a crash.
"""

from __future__ import annotations

import threading
import time
import traceback
from typing import Any, Callable

from PySide6.QtCore import QThread, Signal

from engine.errors import EBMError


_RUNNING: set["Job"] = set()  # jobs outlive a closed window: the app waits for them before it quits


def wait_for_jobs(timeout_ms: int = 600_000) -> bool:
    """Ask every running job to stop and wait for them (at quit: a QThread destroyed while it
    runs takes the process down). True when all ended in time."""
    jobs = list(_RUNNING)
    for job in jobs:
        job.request_stop()
    return all(job.wait(timeout_ms) for job in jobs)


class Job(QThread):
    reported = Signal(object)
    done = Signal(object)
    failed = Signal(str, str)  # message, details

    def __init__(self, fn: Callable[[Callable[[Any], None], threading.Event], Any], parent: Any = None):
        super().__init__(parent)
        self._fn = fn
        self.stop_event = threading.Event()
        self.started_at = 0.0

    def start(self) -> None:  # noqa: D102 - QThread.start, plus the bookkeeping above
        _RUNNING.add(self)
        self.finished.connect(lambda: _RUNNING.discard(self))
        super().start()

    def request_stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:  # the worker thread
        self.started_at = time.monotonic()
        try:
            result = self._fn(self.reported.emit, self.stop_event)
        except EBMError as exc:
            self.failed.emit(str(exc), traceback.format_exc())
        except Exception as exc:  # noqa: BLE001 - reported to the user instead of killing the thread
            self.failed.emit(f"unexpected error: {type(exc).__name__}: {exc}", traceback.format_exc())
        else:
            self.done.emit(result)


def eta_text(done: float, total: float, elapsed: float) -> str:
    """'3 / 10 · 1 min 12 s left' (no estimate before the first unit of work is done)."""
    head = f"{done:g} / {total:g}"
    if done <= 0 or total <= 0 or done >= total:
        return head
    left = elapsed * (total - done) / done
    if left >= 3600:
        return f"{head} · {left / 3600:.1f} h left"
    if left >= 60:
        return f"{head} · {int(left // 60)} min {int(left % 60)} s left"
    return f"{head} · {left:.0f} s left"
