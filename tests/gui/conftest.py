"""Shared GUI fixtures, and Qt test hygiene: garbage is collected between tests, not in the middle of one.

Widgets a test leaves behind (pyqtgraph items in reference cycles) are destroyed when
Python's cyclic collector runs. Left to chance, that can happen inside a later test's
event processing, half-way through pyqtgraph's handling of a resize, and crash
(seen here: "Internal C++ object (ChildGroup) already deleted", then a segfault, in
about one run of tests/gui in five). Collecting after every test keeps it at a safe point.
"""

from __future__ import annotations

import gc
import itertools
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _collect_garbage_between_tests():
    yield
    gc.collect()


@pytest.fixture
def numbered_run_dirs(tmp_path, monkeypatch):
    """The main window's new runs go to tmp_path/runs/000-name, 001-name, ... (not the user's folder)."""
    from gui import main_window as mw

    counter = itertools.count()

    def new_run_dir(name: str) -> Path:
        path = tmp_path / "runs" / f"{next(counter):03d}-{name}"
        path.mkdir(parents=True)
        return path

    monkeypatch.setattr(mw, "new_run_dir", new_run_dir)
