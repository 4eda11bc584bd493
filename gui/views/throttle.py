"""Coalesce many 'changed' signals into one redraw, at most ~25 per second."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer

REFRESH_INTERVAL_MS = 40  # 25 redraws per second at most


class Throttle(QObject):
    """Calls ``callback`` once, ``interval_ms`` after the first of any burst of ``request()``s.

    Every view connects its session signals to ``request``; the single-shot timer
    runs the redraw on the GUI thread's event loop. ``flush()`` redraws now (tests,
    export) and cancels a pending redraw.
    """

    def __init__(self, callback: Callable[[], None], interval_ms: int = REFRESH_INTERVAL_MS,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._callback = callback
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(int(interval_ms))
        self._timer.timeout.connect(self._fire)
        self.count = 0  # redraws done, for tests and diagnostics

    @property
    def pending(self) -> bool:
        return self._timer.isActive()

    def request(self, *_args: object) -> None:
        """Schedule a redraw (signal arguments are ignored); a pending one absorbs it."""
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Redraw now."""
        self._timer.stop()
        self._fire()

    def _fire(self) -> None:
        self.count += 1
        self._callback()
