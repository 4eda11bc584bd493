"""An axis whose log-scale labels stay readable in short plots."""

from __future__ import annotations

import math
from typing import Any

import pyqtgraph as pg

LOG_LABEL_MANTISSAS = (1, 2, 3, 5)


class ReadableAxis(pg.AxisItem):
    """pyqtgraph's AxisItem, but in log mode only 1, 2, 3 and 5 times a power of ten get a label
    (all of them when that would leave fewer than two).

    pyqtgraph labels every minor log tick (0.06, 0.07, 0.08, ...) whenever their
    count seems to fit, and in a panel 100 pixels high they overlap.
    """

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        strings = super().tickStrings(values, scale, spacing)
        if not self.logMode:
            return strings
        out = []
        for v, text in zip(values, strings):
            mantissa = 10.0 ** (v - math.floor(v + 1e-9))
            out.append(text if any(abs(mantissa - m) < 1e-6 * m for m in LOG_LABEL_MANTISSAS) else "")
        # Less than a decade shown: keep every label rather than one or none.
        return out if sum(bool(t) for t in out) >= 2 else strings

    def __init__(self, orientation: str, **kwargs: Any) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)
