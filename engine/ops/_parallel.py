"""Use every CPU core from NumPy: channel-block chunks, and batch splits.

NumPy releases the GIL inside strided copies, ufuncs and BLAS calls, so
Python threads scale for large array work. Two ways are offered:
- ``run_chunks``: one array operation split over blocks of its first axis
  (large im2col copies, activations); small work runs inline, a thread
  hand-off costs tens of microseconds;
- ``run_split``: whole computations side by side (a network on each part of
  the batch, see EnergyNet). Inside them nested chunking runs inline and BLAS
  runs one thread per call, so the cores are not oversubscribed.

NumPy's OpenBLAS has one thread count for the whole process (see
blas.set_threads), so it is lowered to 1 for as long as any split runs (or
Langevin worker processes hold it, engine.samplers.chain_parts) and given
back when the last hold ends; everything else keeps BLAS's own threads.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from . import blas

_WORKERS = max(1, min(8, os.cpu_count() or 1))
_MIN_ELEMENTS = 1 << 19  # below this a thread hand-off costs more than it saves
_pool: ThreadPoolExecutor | None = None
_local = threading.local()
_splits_lock = threading.Lock()
_splits = 0  # holds of one BLAS thread in progress (splits, Langevin workers), in any thread
_blas_threads: int | None = None  # BLAS's count before the first of them


def workers() -> int:
    return _WORKERS


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(_WORKERS, thread_name_prefix="ebm-worker")
    return _pool


def worth_chunks(elements: int) -> bool:
    """Whether run_chunks would split work of this size over the cores (NumPy)."""
    return elements >= _MIN_ELEMENTS and _WORKERS > 1 and not getattr(_local, "serial", False)


def run_chunks(fn: Callable[[int, int], None], n: int, elements: int, on_gpu: bool = False) -> None:
    """Call fn(start, stop) over [0, n), in one chunk per core when the work is large."""
    parts = min(_WORKERS, n) if not on_gpu and worth_chunks(elements) else 1
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
    return _WORKERS > 1 and blas.has_thread_control() and not getattr(_local, "serial", False)


def run_serially(fn: Callable[[], Any]) -> Any:
    """fn() with no nested splits or chunks: for work that already has its share of the cores."""
    before, _local.serial = getattr(_local, "serial", False), True
    try:
        return fn()
    finally:
        _local.serial = before


def hold_one_blas_thread() -> None:
    """Keep BLAS single-threaded until the matching :func:`release_blas_thread` (nested holds count)."""
    global _splits, _blas_threads
    with _splits_lock:
        _splits += 1
        if _splits == 1:
            _blas_threads = blas.set_threads(1)


def release_blas_thread() -> None:
    """End one hold; the last one gives BLAS back the thread count it had before the first."""
    global _splits
    with _splits_lock:
        _splits -= 1
        if _splits == 0 and _blas_threads is not None:
            blas.set_threads(_blas_threads)


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS single-threaded while any split runs (concurrent multi-threaded calls oversubscribe the cores)."""
    hold_one_blas_thread()
    try:
        yield
    finally:
        release_blas_thread()


def run_split(fns: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run the callables concurrently (the first in this thread) and return their results in order."""
    with one_blas_thread():  # before any part starts, so no part's GEMM runs multi-threaded
        futures = [_get_pool().submit(run_serially, fn) for fn in fns[1:]]
        try:
            first = run_serially(fns[0])
        finally:
            results = [f.result() for f in futures]
    return [first] + results
