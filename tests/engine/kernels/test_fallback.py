"""Whatever goes wrong with the GPU ends on NumPy with a reason, never a crash.

No CUDA driver (cupy does not import), no device, engine kernels that do not
compile, out of memory in a step; plus EBM_KERNELS=0, which keeps CuPy
without the engine's kernels. Runs on a fake CuPy (fake_cupy.py).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import numpy as np
import pytest

from engine import backend, bench, kernels
from engine.ops import activations as act

from .fake_cupy import DeviceArray, FakeCupy, OutOfMemoryError


@pytest.fixture(autouse=True)
def restore_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    saved = (backend._active, backend._cupy)
    monkeypatch.delenv("EBM_BACKEND", raising=False)
    monkeypatch.delenv("EBM_KERNELS", raising=False)
    yield
    kernels.reset()
    backend._active, backend._cupy = saved


def _install(monkeypatch: pytest.MonkeyPatch, fake: object) -> None:
    monkeypatch.setitem(sys.modules, "cupy", fake)


def _assert_numpy(info: backend.BackendInfo, reason_start: str) -> None:
    assert info.name == "numpy" and backend.xp() is np
    assert info.reason.startswith(reason_start), info.reason
    assert kernels.status() != "on" and not kernels.usable(np.zeros(1, np.float32))


def test_a_working_fake_gpu_compiles_the_kernels(monkeypatch):
    fake = FakeCupy()
    _install(monkeypatch, fake)
    info = backend.set_backend("cupy")
    assert (info.name, info.device, info.reason) == ("cupy", "Fake GPU 9000", "CuPy: requested")
    assert kernels.status() == "on" and backend.cupy_module() is fake
    assert fake.compiled_options == kernels.OPTIONS
    assert kernels.usable(fake.zeros(3, dtype=np.float32))
    assert not kernels.usable(fake.zeros(3, dtype=np.float64), np.zeros(3, np.float32))
    backend.set_backend(None)  # chosen again (a new Trainer): the kernels are not rebuilt
    assert fake.modules_built == 1 and kernels.status() == "on"
    backend.set_backend("numpy")  # and back: the kernels are off again
    assert kernels.status() != "on" and backend.cupy_module() is None


def test_no_cuda_driver_means_numpy(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` raises ImportError
    _assert_numpy(backend.set_backend("cupy"), "NumPy: cupy is not installed")


def test_no_device_means_numpy(monkeypatch):
    fake = FakeCupy()
    fake.is_available = lambda: False  # type: ignore[method-assign]
    _install(monkeypatch, fake)
    _assert_numpy(backend.set_backend(None), "NumPy: no CUDA device")


def test_kernels_that_fail_to_compile_mean_numpy(monkeypatch):
    class CompileException(Exception):
        pass

    fake = FakeCupy()

    class BrokenModule:
        def __init__(self, code: str, options: tuple = ()) -> None:
            pass

        def get_function(self, name: str) -> None:
            raise CompileException("engine_kernels.cu(12): error: identifier \"tanh_f\" is undefined\n(more)")

    fake.RawModule = BrokenModule
    _install(monkeypatch, fake)
    info = backend.set_backend("cupy")
    _assert_numpy(info, "NumPy: the engine's CUDA kernels failed to compile (CompileException: ")
    assert 'identifier "tanh_f" is undefined' in info.reason and "(more)" not in info.reason


def test_kernels_turned_off_keep_cupy_on_the_xp_code(monkeypatch):
    fake = FakeCupy()
    _install(monkeypatch, fake)
    monkeypatch.setenv("EBM_KERNELS", "0")
    info = backend.set_backend("cupy")
    assert info.name == "cupy" and info.reason == "CuPy: requested; engine kernels off (EBM_KERNELS=0)"
    assert kernels.status() == "turned off (EBM_KERNELS=0)"
    x = np.linspace(-3, 3, 12, dtype=np.float32)
    y, _ = act.swish_forward(fake.asarray(x))  # the xp code, on "device" arrays
    assert isinstance(y, DeviceArray) and sum(fake.launches.values()) == 0
    np.testing.assert_array_equal(np.asarray(y), act.swish_forward(x)[0])


def test_out_of_memory_in_a_step_ends_on_numpy_with_the_reason(monkeypatch):
    fake = FakeCupy()
    _install(monkeypatch, fake)
    assert backend.set_backend("cupy").name == "cupy"

    def exhausted(*args: object, **kwargs: object) -> None:
        raise OutOfMemoryError("Out of memory allocating 8,589,934,592 bytes")

    monkeypatch.setitem(kernels._functions, "langevin_update", exhausted)  # the first Langevin step fails
    monkeypatch.setattr(bench, "_torch_cuda", lambda: "no reference in this test")
    row = bench.run_guarded("W0", repeats=1)
    assert row["workload"] == "W0" and row["error"].startswith("NumPy: the GPU ran out of memory in W0")
    assert "8,589,934,592 bytes" in row["error"]
    _assert_numpy(backend.info(), "NumPy: the GPU ran out of memory in W0")
    assert fake.pool.freed == 1  # CuPy's cached blocks were given back


def test_other_errors_in_a_step_are_not_swallowed(monkeypatch):
    fake = FakeCupy()
    _install(monkeypatch, fake)
    backend.set_backend("cupy")
    monkeypatch.setitem(kernels._functions, "langevin_update", lambda *a: 1 / 0)
    monkeypatch.setattr(bench, "_torch_cuda", lambda: "no reference in this test")
    with pytest.raises(ZeroDivisionError):
        bench.run_guarded("W0", repeats=1)


@pytest.mark.parametrize("exc, oom", [
    (OutOfMemoryError("x"), True),
    (RuntimeError("cudaErrorMemoryAllocation: out of memory"), True),
    (RuntimeError("CUBLAS_STATUS_ALLOC_FAILED"), True),
    (MemoryError("host"), False),
    (ValueError("shapes do not match"), False),
])
def test_is_out_of_memory(monkeypatch, exc, oom):
    _install(monkeypatch, FakeCupy())
    backend.set_backend("cupy")
    assert backend.is_out_of_memory(exc) is oom


def test_fall_back_on_numpy_is_harmless():
    backend.set_backend("numpy")
    info = backend.fall_back("a test asked")
    assert (info.name, info.reason) == ("numpy", "NumPy: a test asked") and backend.info() is info
