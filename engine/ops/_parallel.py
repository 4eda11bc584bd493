"""Use every CPU core from NumPy: channel-block chunks, and batch splits.

NumPy releases the GIL inside strided copies, ufuncs and BLAS calls, so
Python threads scale for large array work. Two ways are offered:
- ``run_chunks``: one array operation split over blocks of its first axis
  (large im2col copies, activations); small work runs inline, a thread
  hand-off costs tens of microseconds;
- ``run_split``: whole computations side by side (a network on each part of
  the batch, see EnergyNet). Inside them nested chunking runs inline and BLAS
  uses one thread per caller, so the cores are not oversubscribed.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

from . import blas

_WORKERS = max(1, min(8, os.cpu_count() or 1))
_MIN_ELEMENTS = 1 << 19  # below this a thread hand-off costs more than it saves
_pool: ThreadPoolExecutor | None = None
_local = threading.local()


def workers() -> int:
    return _WORKERS


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(_WORKERS, thread_name_prefix="ebm-worker",
                                   initializer=blas.set_local_threads, initargs=(1,))
    return _pool


def run_chunks(fn: Callable[[int, int], None], n: int, elements: int, on_gpu: bool = False) -> None:
    """Call fn(start, stop) over [0, n), in one chunk per core when the work is large."""
    serial = on_gpu or elements < _MIN_ELEMENTS or getattr(_local, "serial", False)
    parts = 1 if serial else min(_WORKERS, n)
    if parts <= 1:
        fn(0, n)
        return
    bounds = [(n * i // parts, n * (i + 1) // parts) for i in range(parts)]
    futures = [_get_pool().submit(fn, a, b) for a, b in bounds[1:]]
    fn(*bounds[0])
    for f in futures:
        f.result()


def can_split() -> bool:
    """Whether run_split can run computations side by side (needs per-thread BLAS threads)."""
    return _WORKERS > 1 and blas.has_local_threads() and not getattr(_local, "serial", False)


def _serially(fn: Callable[[], Any]) -> Any:
    _local.serial = True
    try:
        return fn()
    finally:
        _local.serial = False


def run_split(fns: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run the callables concurrently (the first in this thread) and return their results in order."""
    futures = [_get_pool().submit(_serially, fn) for fn in fns[1:]]
    previous = blas.set_local_threads(1)
    try:
        first = _serially(fns[0])
    finally:
        if previous is not None:
            blas.set_local_threads(previous)
    return [first] + [f.result() for f in futures]
