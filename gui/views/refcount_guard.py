"""Work around reference-count bugs of PySide6 6.12 on Python < 3.12.

Measured here (PySide6/shiboken6 6.12.0, CPython 3.11): every Python-side
``SignalInstance.emit()`` returns ``True`` without the reference it owes, and
every call of a C++ ``void`` method (``QLabel.setText``, ``QGraphicsItem.setVisible``,
...) returns ``None`` the same way. Each call drops one reference; pyqtgraph makes
dozens per ``setData``, so after a few thousand calls the count reaches zero and
the interpreter aborts ("Fatal Python error: bool_dealloc" / "none_dealloc"),
at any moment or at exit. Python 3.12+ makes these singletons immortal, so there
the bug is harmless; here we do the same by hand (add 2**40 to their counts),
once, and only when a leak is measured. Call :func:`protect_singletons` before
the first widget exists; the views package does it on import. It is idempotent.
"""

from __future__ import annotations

import ctypes
import sys

_BOOST = 1 << 40
_applied = False


def _add_refs(obj: object, count: int) -> None:
    # ob_refcnt is the first field of every object in a release build of CPython < 3.12.
    cell = ctypes.c_ssize_t.from_address(id(obj))
    cell.value += count


def measure_leaks(calls: int = 16) -> dict[str, int]:
    """References to True and None lost over ``calls`` emits / void calls (0 each when PySide6 is sound)."""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    true_before = sys.getrefcount(True)
    for _ in range(calls):
        probe.ping.emit()
    lost_true = true_before - sys.getrefcount(True)
    none_before = sys.getrefcount(None)
    for _ in range(calls):
        probe.setObjectName("probe")
    lost_none = none_before - sys.getrefcount(None)
    # give back what the probe took
    if lost_true > 0:
        _add_refs(True, lost_true)
    if lost_none > 0:
        _add_refs(None, lost_none)
    return {"True": lost_true, "None": lost_none}


def protect_singletons() -> bool:
    """Make True, False and None effectively immortal when PySide6 leaks them; True when it did so."""
    global _applied
    if _applied:
        return True
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    leaks = measure_leaks()
    if max(leaks.values()) < 8:  # half the probe calls: noise can't do that
        return False
    for obj in (True, False, None):
        _add_refs(obj, _BOOST)
    _applied = True
    return True


protect_bools = protect_singletons  # the older name
