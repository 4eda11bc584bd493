"""CuPy kernels: CUDA source for the hot spots of the GPU path, and when to use them.

Each submodule is named after its NumPy twin and holds the CUDA source
(``SOURCE``) of its kernels plus thin launch wrappers:

    conv         im2col, col2im (gather form)           twin: engine.ops.conv
    activations  swish / leaky ReLU, forward + backward twin: engine.ops.activations
    random       Philox4x32-10 normals (device code)    twin: engine.ops.random
    langevin     clip, step, noise, clamp, fixed mask   twin: engine.samplers.langevin
    mala         MALA's log acceptance per chain         twin: engine.samplers.mala
    buffer       replay-buffer gather / scatter         twin: engine.samplers.buffer

All sources are compiled as one CUDA module (one NVRTC call, cached on disk
by CuPy) when engine.backend picks CuPy; a failure there makes the backend
fall back to NumPy with the compiler's message. The ops call a kernel only
through :func:`usable`, which is False on NumPy, so the NumPy code stays the
one reference path. This package never imports cupy: it gets the module from
:func:`engine.backend.cupy_module`.

Kernels take float32 C-contiguous arrays. The module is compiled with
``--fmad=false`` so that a multiply followed by an add rounds as NumPy's two
passes do: the kernels agree with their twins bit for bit except where a
CUDA math function (tanh, log, cos) or a reduction's summation order is
involved, or a denormal number (CuPy compiles with -ftz=true).
``EBM_KERNELS=0`` turns them off (CuPy then runs the xp code of the ops).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

# NVRTC options of the engine's module (CuPy adds -arch for the device and -ftz=true).
OPTIONS = ("--fmad=false",)
BLOCK = 256  # threads per block of the elementwise kernels (REDUCE_BLOCK in the reductions)
MAX_BLOCKS = 65536  # elementwise kernels loop (grid stride) past this many blocks

# Shared by every kernel: 64-bit indices and the grid-stride loop.
HEADER = r"""
typedef long long i64;
#define GRID_STRIDE(i, n) \
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)blockDim.x * gridDim.x)
#define REDUCE_BLOCK 256
"""

_functions: dict[str, Any] | None = None  # kernel name -> compiled function, None = kernels off
_ndarray: type | None = None  # cupy.ndarray of the module the kernels were compiled with
_off_reason = "not compiled"
_compiled_with: Any = None  # the cupy module of _functions


def _submodules() -> list[Any]:
    from . import activations, buffer, conv, langevin, mala, random  # noqa: PLC0415 - they import this package

    return [conv, activations, random, langevin, mala, buffer]


def source() -> str:
    """The whole CUDA module: the header plus every submodule's SOURCE."""
    return HEADER + "".join(m.SOURCE for m in _submodules())


def kernel_names() -> list[str]:
    """Every kernel (extern "C" __global__ function) of the module."""
    return [name for m in _submodules() for name in m.KERNELS]


def compile_all(cupy: Any) -> None:
    """Compile the module with ``cupy`` and make the kernels usable; raises what the compiler raises.

    A second call with the same cupy module (a new Trainer, say) keeps the compiled kernels.
    """
    global _functions, _ndarray, _off_reason, _compiled_with
    if _functions is not None and _compiled_with is cupy:
        return
    reset("compiling")
    module = cupy.RawModule(code=source(), options=OPTIONS)
    functions = {name: module.get_function(name) for name in kernel_names()}  # compiles here
    _functions, _ndarray, _off_reason, _compiled_with = functions, cupy.ndarray, "", cupy


def reset(reason: str = "off") -> None:
    """Stop using the kernels (the backend changed); ``reason`` is what :func:`status` reports."""
    global _functions, _ndarray, _off_reason, _compiled_with
    _functions, _ndarray, _off_reason, _compiled_with = None, None, reason, None


def wanted() -> bool:
    """False when the user turned the kernels off with EBM_KERNELS=0 (CuPy then runs the xp code)."""
    return os.environ.get("EBM_KERNELS", "1").strip() != "0"


def status() -> str:
    """"on", or why the kernels are not used."""
    return "on" if _functions is not None else _off_reason


def usable(*arrays: Any) -> bool:
    """Whether the kernels run these arrays: all CuPy, float32, and the kernels compiled."""
    if _functions is None:
        return False
    return all(isinstance(a, _ndarray) and a.dtype == np.float32 for a in arrays)  # type: ignore[arg-type]


def on_device(*arrays: Any) -> bool:
    """Whether all arrays are CuPy arrays (any dtype) and the kernels compiled."""
    return _functions is not None and all(isinstance(a, _ndarray) for a in arrays)  # type: ignore[arg-type]


def function(name: str) -> Any:
    assert _functions is not None, "engine.kernels: used before compile_all"
    return _functions[name]


def launch(name: str, n: int, args: tuple) -> None:
    """Run elementwise kernel ``name`` over n items (grid-stride loop, BLOCK threads per block)."""
    if n <= 0:
        return
    blocks = min(MAX_BLOCKS, -(-n // BLOCK))
    function(name)((blocks,), (BLOCK,), args)


def launch_rows(name: str, rows: int, args: tuple) -> None:
    """Run row kernel ``name`` with one block of REDUCE_BLOCK (= BLOCK) threads per row."""
    if rows <= 0:
        return
    function(name)((rows,), (BLOCK,), args)


def i32(*values: int) -> tuple[np.int32, ...]:
    """Kernel ``int`` arguments (CuPy passes NumPy scalars with their exact C type)."""
    return tuple(np.int32(v) for v in values)
