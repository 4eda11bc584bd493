"""C = alpha * A @ B + beta * C on 2-D views, straight to BLAS when possible.

NumPy's matmul cannot accumulate into its output (beta = 1) and copies
operands whose rows are not packed. The implicit-GEMM convolution needs
both: it multiplies overlapping row windows of one flat buffer and sums the
taps in place. On NumPy's bundled OpenBLAS this calls cblas_?gemm through
ctypes (which releases the GIL) with explicit leading dimensions; anywhere
else it falls back to matmul plus an add, with the same result.
"""

from __future__ import annotations

import ctypes
import glob
import os
from typing import Any

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


def _numpy_openblas() -> Any:
    """The OpenBLAS library bundled with NumPy's wheel, or None."""
    libdir = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libdir, "lib*openblas*.so*"))):
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


_LIB = _numpy_openblas()


def _load_cblas() -> dict[np.dtype, Any]:
    """{dtype: cblas gemm function} from the OpenBLAS NumPy itself uses, or {}."""
    lib = _LIB
    if os.environ.get("EBM_DIRECT_BLAS", "1") == "0" or lib is None:
        return {}
    for prefix, suffix, int_t in (("scipy_cblas_", "64_", ctypes.c_int64), ("cblas_", "64_", ctypes.c_int64),
                                  ("scipy_cblas_", "", ctypes.c_int), ("cblas_", "", ctypes.c_int)):
        try:
            fns = {np.dtype(np.float32): getattr(lib, f"{prefix}sgemm{suffix}"),
                   np.dtype(np.float64): getattr(lib, f"{prefix}dgemm{suffix}")}
        except AttributeError:
            continue
        for dtype, fn in fns.items():
            real = ctypes.c_float if dtype == np.float32 else ctypes.c_double
            fn.restype = None
            fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, int_t, int_t, int_t, real,
                           ctypes.c_void_p, int_t, ctypes.c_void_p, int_t, real, ctypes.c_void_p, int_t]
        return fns
    return {}


def _load_thread_setter() -> Any:
    fn = getattr(_LIB, "openblas_set_num_threads_local", None) if _LIB is not None else None
    if fn is not None:
        fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
    return fn


_SET_LOCAL_THREADS = _load_thread_setter()


def has_thread_control() -> bool:
    return _SET_LOCAL_THREADS is not None


def set_threads(n: int) -> int | None:
    """BLAS threads for every caller; returns the previous count (None: unsupported).

    OpenBLAS calls this openblas_set_num_threads_local, but NumPy's bundled
    build applies it to the whole process (measured: a count set in one thread
    is what the next thread reads back), so it is treated as process-wide.
    """
    return None if _SET_LOCAL_THREADS is None else int(_SET_LOCAL_THREADS(int(n)))


_CBLAS = _load_cblas()


def _operand(a: Any) -> tuple[int, int] | None:
    """(transpose flag, leading dimension) of a 2-D view BLAS can read in place, or None."""
    item = a.itemsize
    s0, s1 = a.strides
    if s1 == item and s0 % item == 0 and s0 // item >= max(1, a.shape[1]):
        return _NO_TRANS, s0 // item
    if s0 == item and s1 % item == 0 and s1 // item >= max(1, a.shape[0]):
        return _TRANS, s1 // item
    return None


def gemm(a: Any, b: Any, out: Any, beta: float = 0.0, alpha: float = 1.0) -> Any:
    """out = alpha * a @ b + beta * out for a: (M, K), b: (K, N), out: (M, N); returns out."""
    m, k = a.shape
    n = b.shape[1]
    assert b.shape[0] == k and out.shape == (m, n), (a.shape, b.shape, out.shape)
    fn = _CBLAS.get(out.dtype) if isinstance(out, np.ndarray) else None
    if fn is not None and a.dtype == b.dtype == out.dtype and m and n and k:
        pa, pb = _operand(a), _operand(b)
        if pa is not None and pb is not None and out.strides[1] == out.itemsize:
            ldc = out.strides[0] // out.itemsize
            if ldc >= n:
                fn(_ROW_MAJOR, pa[0], pb[0], m, n, k, alpha, a.ctypes.data, pa[1],
                   b.ctypes.data, pb[1], beta, out.ctypes.data, ldc)
                return out
    prod = a @ b
    if alpha != 1.0:
        prod *= alpha
    if beta == 0.0:
        out[...] = prod
    else:
        if beta != 1.0:
            out *= beta
        out += prod
    return out


def has_direct_blas() -> bool:
    return bool(_CBLAS)
