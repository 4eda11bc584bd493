"""C = alpha * A @ B + beta * C on 2-D views, straight to BLAS when possible.

NumPy's matmul cannot accumulate into its output (beta = 1) and copies
operands whose rows are not packed. The implicit-GEMM convolution needs
both: it multiplies overlapping row windows of one flat buffer and sums the
taps in place. On NumPy's bundled OpenBLAS this calls cblas_?gemm through
ctypes (which releases the GIL) with explicit leading dimensions; anywhere
else it falls back to matmul plus an add, with the same result.

Where the ``mkl`` package is installed and the CPU is Intel's, the direct
calls go to Intel MKL's sequential layer instead: measured here it is 6-25%
faster than OpenBLAS on the workloads' shapes (W2 step 112.5 -> 101.8 ms, W0
half-batch step 0.86 -> 0.80 ms). It runs on the caller's thread; the engine's
batch splits and Langevin worker processes use the cores. Every direct call
goes to it, whatever the thread: a first version sent only single-threaded
calls to MKL, and a search's process-pool trials then rounded differently from
the same trials run inline. Products under _SMALL multiply-adds go to NumPy's
matmul, whose call costs less. ``EBM_BLAS=openblas`` turns MKL off,
``EBM_BLAS=mkl`` uses it on any CPU.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import site
import sys
import threading
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

# --- Intel MKL -------------------------------------------------------------------

_MKL_SEQUENTIAL = 1  # MKL_Set_Threading_Layer: every MKL call runs on the caller's thread
_INT32_MAX = 2**31 - 1  # MKL's LP64 interface takes 32-bit sizes
_mkl_lock = threading.Lock()
_mkl: dict[np.dtype, Any] | None = None  # loaded on first use: {dtype: gemm}, {} when not used
_mkl_note = ""  # why MKL is or is not used


def _intel_cpu() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return "GenuineIntel" in f.read(4096)
    except OSError:
        import platform  # only where /proc is missing
        return "intel" in platform.processor().lower()


def _mkl_paths() -> list[str]:
    """Where pip's ``mkl`` wheel puts its runtime library (Linux, Windows; also --user), then the loader's search."""
    paths = []
    for base in (sys.prefix, site.getuserbase()):
        paths += sorted(glob.glob(os.path.join(base, "lib", "libmkl_rt.so*")))
        paths += sorted(glob.glob(os.path.join(base, "Library", "bin", "mkl_rt*.dll")))
    found = ctypes.util.find_library("mkl_rt")
    return paths + ([found] if found else [])


def _load_mkl() -> tuple[dict[np.dtype, Any], str]:
    """({dtype: cblas gemm} of MKL's sequential layer, note), or ({}, why not)."""
    choice = os.environ.get("EBM_BLAS", "auto").strip().lower()
    if choice == "openblas":
        return {}, "EBM_BLAS=openblas"
    if choice not in ("auto", "mkl"):
        return {}, f"EBM_BLAS={choice!r} is not one of auto, mkl, openblas: using OpenBLAS"
    if choice == "auto" and not _intel_cpu():
        return {}, "not an Intel CPU (EBM_BLAS=mkl uses MKL anyway)"
    for path in _mkl_paths():
        try:
            lib = ctypes.CDLL(path)
            if lib.MKL_Set_Threading_Layer(_MKL_SEQUENTIAL) != _MKL_SEQUENTIAL:
                continue
        except (OSError, AttributeError):
            continue
        fns = {np.dtype(np.float32): lib.cblas_sgemm, np.dtype(np.float64): lib.cblas_dgemm}
        for dtype, fn in fns.items():
            real = ctypes.c_float if dtype == np.float32 else ctypes.c_double
            size = ctypes.c_int
            fn.restype = None
            fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, size, size, size, real,
                           ctypes.c_void_p, size, ctypes.c_void_p, size, real, ctypes.c_void_p, size]
        return fns, f"MKL ({os.path.basename(path)}, one thread per call)"
    return {}, "the mkl package is not installed"


def _mkl_gemms() -> dict[np.dtype, Any]:
    global _mkl, _mkl_note
    if _mkl is None:
        with _mkl_lock:
            if _mkl is None:
                _mkl, _mkl_note = _load_mkl()
    return _mkl


def gemm_library() -> str:
    """Which library multiplies matrices, for reports: "MKL (...)" or "OpenBLAS (NumPy's; why not MKL)"."""
    _mkl_gemms()
    if _mkl:
        return _mkl_note
    return f"{'OpenBLAS (NumPy' if _CBLAS else 'NumPy matmul ('}'s; {_mkl_note})"


def _operand(a: Any) -> tuple[int, int] | None:
    """(transpose flag, leading dimension) of a 2-D view BLAS can read in place, or None."""
    item = a.itemsize
    s0, s1 = a.strides
    if s1 == item and s0 % item == 0 and s0 // item >= max(1, a.shape[1]):
        return _NO_TRANS, s0 // item
    if s0 == item and s1 % item == 0 and s1 // item >= max(1, a.shape[0]):
        return _TRANS, s1 // item
    return None


def _direct(a: Any, b: Any, out: Any, beta: float, alpha: float) -> bool:
    """out = alpha a @ b + beta out straight through BLAS, when the operands allow; whether it did."""
    m, k = a.shape
    n = b.shape[1]
    if not (isinstance(out, np.ndarray) and a.dtype == b.dtype == out.dtype and m and n and k):
        return False
    fn = _CBLAS.get(out.dtype)
    pa, pb = _operand(a), _operand(b)
    if fn is None or pa is None or pb is None or out.strides[1] != out.itemsize:
        return False
    ldc = out.strides[0] // out.itemsize
    if ldc < n:
        return False
    mkl = _mkl_gemms().get(out.dtype)
    if mkl is not None and max(m, n, k, pa[1], pb[1], ldc) <= _INT32_MAX:
        fn = mkl
    fn(_ROW_MAJOR, pa[0], pb[0], m, n, k, alpha, a.ctypes.data, pa[1], b.ctypes.data, pb[1], beta,
       out.ctypes.data, ldc)
    return True


def gemm(a: Any, b: Any, out: Any, beta: float = 0.0, alpha: float = 1.0) -> Any:
    """out = alpha * a @ b + beta * out for a: (M, K), b: (K, N), out: (M, N); returns out."""
    assert b.shape[0] == a.shape[1] and out.shape == (a.shape[0], b.shape[1]), (a.shape, b.shape, out.shape)
    if _direct(a, b, out, beta, alpha):
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


_SMALL = 1 << 20  # multiply-adds below which NumPy's own call wins: its overhead is 0.6 us, gemm's about 6 us


def matmul(a: Any, b: Any) -> Any:
    """a @ b for 2-D a: (M, K), b: (K, N), through the same libraries as gemm (small products: NumPy's)."""
    if isinstance(a, np.ndarray) and a.dtype == b.dtype and a.shape[0] * a.shape[1] * b.shape[1] >= _SMALL:
        out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
        if _direct(a, b, out, 0.0, 1.0):
            return out
    return a @ b


def has_direct_blas() -> bool:
    return bool(_CBLAS)
