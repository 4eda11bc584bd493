"""Qt test hygiene: garbage is collected between tests, not in the middle of one.

Widgets a test leaves behind (pyqtgraph items in reference cycles) are destroyed when
Python's cyclic collector runs. Left to chance, that can happen inside a later test's
event processing, half-way through pyqtgraph's handling of a resize, and crash
(seen here: "Internal C++ object (ChildGroup) already deleted", then a segfault, in
about one run of tests/gui in five). Collecting after every test keeps it at a safe point.
"""

from __future__ import annotations

import gc

import pytest


@pytest.fixture(autouse=True)
def _collect_garbage_between_tests():
    yield
    gc.collect()
