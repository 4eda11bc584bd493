"""Split large NumPy data movement over the CPU cores.

NumPy releases the GIL inside strided copies and ufuncs, so copying channel
blocks from a few threads scales with the cores; BLAS already threads itself.
Small arrays run inline: a thread hand-off costs tens of microseconds.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

_WORKERS = max(1, min(8, os.cpu_count() or 1))
_MIN_ELEMENTS = 1 << 19  # below this a thread hand-off costs more than it saves
_pool: ThreadPoolExecutor | None = None


def run_chunks(fn: Callable[[int, int], None], n: int, elements: int, on_gpu: bool = False) -> None:
    """Call fn(start, stop) over [0, n), in one chunk per core when the work is large."""
    global _pool
    parts = 1 if on_gpu or elements < _MIN_ELEMENTS else min(_WORKERS, n)
    if parts <= 1:
        fn(0, n)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(_WORKERS, thread_name_prefix="ebm-copy")
    bounds = [(n * i // parts, n * (i + 1) // parts) for i in range(parts)]
    futures = [_pool.submit(fn, a, b) for a, b in bounds[1:]]
    fn(*bounds[0])
    for f in futures:
        f.result()
