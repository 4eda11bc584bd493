"""The array backend: the one module that imports cupy.

``xp()`` is the active array module (NumPy or CuPy). CuPy is chosen when it
imports, a CUDA device is usable, a tiny kernel compiles and runs and the
engine's own kernels (engine.kernels) compile; anything else falls back to
NumPy with the reason recorded. ``EBM_BACKEND=numpy|cupy`` or
:func:`set_backend` override the automatic choice; ``EBM_KERNELS=0`` keeps
CuPy but without the engine's kernels. A GPU failure during a run (out of
memory) is the caller's to catch: :func:`is_out_of_memory`, :func:`fall_back`.
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from .errors import BackendError

DEFAULT_DTYPE = np.float32


@dataclass(frozen=True)
class BackendInfo:
    """Which backend is active, on what device, and why it was chosen."""

    name: str  # "numpy" or "cupy"
    device: str  # e.g. "CPU (2 cores)" or "NVIDIA H100 80GB HBM3"
    reason: str  # e.g. "NumPy: cupy is not installed"

    def __str__(self) -> str:
        return f"{self.name} on {self.device} ({self.reason})"


_cupy: ModuleType | None = None
_active: BackendInfo | None = None


def _cpu_device() -> str:
    return f"CPU ({os.cpu_count() or 1} cores)"


def _probe_cupy() -> tuple[ModuleType | None, str]:
    """Import CuPy and prove it works: (module, device name) or (None, reason)."""
    try:
        import cupy  # noqa: PLC0415 - the one guarded import of cupy
    except Exception as exc:  # broad: a broken install raises anything
        missing = isinstance(exc, ModuleNotFoundError) and exc.name == "cupy"
        kind = "is not installed" if missing else f"failed to import ({type(exc).__name__}: {exc})"
        return None, f"NumPy: cupy {kind}"
    try:
        if not cupy.is_available():
            return None, "NumPy: no CUDA device"
        kernel = cupy.RawKernel(
            r'extern "C" __global__ void probe(float* x) { x[threadIdx.x] += 1.0f; }', "probe"
        )
        x = cupy.zeros(4, dtype=cupy.float32)
        kernel((1,), (4,), (x,))
        a = cupy.ones((4, 4), dtype=cupy.float32)
        if float((a @ a).sum()) != 64.0 or float(x.sum()) != 4.0:
            return None, "NumPy: the CUDA self-test gave wrong results"
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"]
        return cupy, name.decode() if isinstance(name, bytes) else str(name)
    except Exception as exc:
        return None, f"NumPy: CUDA is not usable ({type(exc).__name__}: {exc})"


def _keep_freed_memory() -> bool:
    """Ask glibc to keep freed blocks instead of returning them to the OS.

    The NumPy engine allocates and frees the same large temporaries every
    Langevin step; by default glibc serves blocks over 128 KiB with mmap and
    gives them back on free, so each step pays page faults on fresh memory
    (measured: W0 3.4 -> 1.9 ms, W1 14 -> 10 ms per step). Freed memory stays
    in the process, bounded by the peak use. One arena for every thread: a
    worker thread's arena serves blocks over 64 MiB with mmap whatever the
    threshold, so a split training pass re-faulted (and the kernel zeroed)
    its im2col buffers every update (measured on W2: about 560 faults of
    2 MiB pages and 500 ms per update, against none and 360 ms with one
    arena). EBM_MALLOC_TUNING=0 turns it all off.
    """
    if os.environ.get("EBM_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8  # from glibc's malloc.h
        ok = libc.mallopt(m_mmap_threshold, 1 << 30) == 1
        ok = ok and libc.mallopt(m_arena_max, 1) == 1
        return ok and libc.mallopt(m_trim_threshold, (1 << 31) - 1) == 1
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return False


HOST_ALLOCATOR_TUNED = _keep_freed_memory()


def _reset_kernels() -> None:
    from . import kernels  # noqa: PLC0415

    kernels.reset("the NumPy backend is active")


def set_backend(name: str | None = None) -> BackendInfo:
    """Choose the backend: "numpy", "cupy" or None (automatic, or ``EBM_BACKEND``).

    Asking for "cupy" where it cannot run falls back to NumPy and says why in
    the returned info; it never raises for a missing GPU.
    """
    global _cupy, _active
    requested = (name or os.environ.get("EBM_BACKEND", "") or "auto").strip().lower()
    if requested not in ("auto", "numpy", "cupy"):
        raise BackendError(
            f"Unknown backend {requested!r}: use 'numpy', 'cupy' or leave it empty for automatic."
        )
    if requested == "numpy":
        _cupy = None
        _reset_kernels()
        _active = BackendInfo("numpy", _cpu_device(), "NumPy: requested")
        return _active
    module, detail = _probe_cupy()
    why = "requested" if requested == "cupy" else "a CUDA device is available"
    if module is not None:
        failure, why = _compile_kernels(module, why)
        if failure:
            module, detail = None, failure
    if module is None:
        _cupy = None
        _reset_kernels()
        _active = BackendInfo("numpy", _cpu_device(), detail)
    else:
        _cupy = module
        _active = BackendInfo("cupy", detail, f"CuPy: {why}")
    return _active


def _compile_kernels(cupy: ModuleType, why: str) -> tuple[str, str]:
    """Compile engine.kernels for CuPy: ("", why) when done or turned off, else (NumPy reason, why)."""
    from . import kernels  # noqa: PLC0415 - kernels imports this module

    if not kernels.wanted():
        kernels.reset("turned off (EBM_KERNELS=0)")
        return "", f"{why}; engine kernels off (EBM_KERNELS=0)"
    try:
        kernels.compile_all(cupy)
    except Exception as exc:  # broad: NVRTC, a missing header, a driver that cannot load the module
        kernels.reset("failed to compile")
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        return f"NumPy: the engine's CUDA kernels failed to compile ({type(exc).__name__}: {first})", why
    return "", why


def cupy_module() -> ModuleType | None:
    """The cupy module while the CuPy backend is active, else None (engine.kernels gets it here)."""
    return _cupy


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says the GPU ran out of memory (CuPy's pool, the CUDA runtime or cuBLAS)."""
    oom = getattr(getattr(getattr(_cupy, "cuda", None), "memory", None), "OutOfMemoryError", None)
    if isinstance(oom, type) and isinstance(exc, oom):
        return True
    text = f"{type(exc).__name__}: {exc}"
    return any(s in text for s in ("OutOfMemoryError", "out of memory", "cudaErrorMemoryAllocation",
                                   "CUBLAS_STATUS_ALLOC_FAILED", "CUDA_ERROR_OUT_OF_MEMORY"))


def fall_back(reason: str) -> BackendInfo:
    """Switch to NumPy after a GPU failure in a run (out of memory, say); returns the new info.

    reason: what happened, e.g. "the GPU ran out of memory (W2, batch 64)"; the info's
    reason reads "NumPy: " + reason. CuPy's cached blocks are freed. Arrays already on
    the device stay there: the caller rebuilds its state (``to_numpy``) for the CPU.
    """
    global _cupy, _active
    from . import kernels  # noqa: PLC0415

    if _cupy is not None:
        try:
            _cupy.get_default_memory_pool().free_all_blocks()
        except Exception:  # noqa: BLE001 - freeing is a courtesy; the switch must happen
            pass
    _cupy = None
    kernels.reset("the backend fell back to NumPy")
    _active = BackendInfo("numpy", _cpu_device(), f"NumPy: {reason}")
    return _active


def info() -> BackendInfo:
    """The active backend (chosen on first use)."""
    if _active is None:
        set_backend(None)
    assert _active is not None
    return _active


def xp() -> ModuleType:
    """The active array module."""
    info()
    return _cupy if _cupy is not None else np


def get_array_module(*arrays: Any) -> ModuleType:
    """NumPy or CuPy, whichever owns the given arrays (NumPy for none)."""
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return np


def is_numpy(a: Any) -> bool:
    return isinstance(a, np.ndarray)


def asarray(a: Any, dtype: Any = None) -> Any:
    """Move/convert to the active backend's array type."""
    return xp().asarray(a, dtype=dtype)


def to_numpy(a: Any) -> np.ndarray:
    """A host NumPy array, whatever the backend (no copy for NumPy input)."""
    if isinstance(a, np.ndarray):
        return a
    if _cupy is not None and isinstance(a, _cupy.ndarray):
        return _cupy.asnumpy(a)
    return np.asarray(a)


def make_rng(seed: int | None) -> Any:
    """A seeded random generator on the active backend: one per run."""
    if xp() is not np:
        return _cupy.random.Generator(_cupy.random.XORWOW(seed))
    return np.random.Generator(np.random.PCG64(seed))
