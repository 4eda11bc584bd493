"""EBM Studio engine: all numerics, no Qt.

Import what you need from the submodules (``engine.backend``,
``engine.models``, ``engine.training``); this package itself imports nothing
heavy so that ``import engine`` stays cheap and Qt-free.
"""

import os as _os

__version__ = "0.1.0"

# OpenBLAS's idle threads spin for about 0.1 s after each multi-threaded call, taking a core
# from the Langevin worker processes and the batch-splitting threads (measured on W0: 0.139 ->
# 0.088 s per iteration). OpenBLAS reads this once, when NumPy loads it: import engine first.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
