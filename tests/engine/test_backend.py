"""engine.backend: choosing NumPy or CuPy, falling back with a reason, seeded RNGs."""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Iterator

import numpy as np
import pytest

from engine import backend
from engine.errors import BackendError, EBMError

CUPY_INSTALLED = importlib.util.find_spec("cupy") is not None


@pytest.fixture(autouse=True)
def restore_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no backend chosen and no EBM_BACKEND; the old state comes back after."""
    saved = (backend._active, backend._cupy)
    monkeypatch.delenv("EBM_BACKEND", raising=False)
    backend._active, backend._cupy = None, None
    yield
    backend._active, backend._cupy = saved


def _gpu_usable() -> bool:
    return backend._probe_cupy()[0] is not None


# ---------------------------------------------------------------- fake cupy


def _fake_cupy(**overrides: object) -> types.ModuleType:
    """A stand-in for cupy built on NumPy: everything works unless overridden."""

    class RawKernel:
        def __init__(self, code: str, name: str) -> None:
            assert name == "probe"

        def __call__(self, grid: tuple, block: tuple, args: tuple) -> None:
            args[0][: block[0]] += 1.0

    class RawModule:  # the engine's own kernels (engine.kernels) "compile"
        def __init__(self, code: str, options: tuple = ()) -> None:
            assert 'extern "C" __global__' in code

        def get_function(self, name: str) -> str:
            return name

    class Device:
        id = 0

    fake = types.ModuleType("cupy")
    fake.is_available = lambda: True  # type: ignore[attr-defined]
    fake.RawKernel = RawKernel  # type: ignore[attr-defined]
    fake.RawModule = RawModule  # type: ignore[attr-defined]
    fake.zeros = np.zeros  # type: ignore[attr-defined]
    fake.ones = np.ones  # type: ignore[attr-defined]
    fake.float32 = np.float32  # type: ignore[attr-defined]
    fake.ndarray = type("FakeCupyArray", (), {})  # type: ignore[attr-defined]
    fake.cuda = types.SimpleNamespace(  # type: ignore[attr-defined]
        Device=Device,
        runtime=types.SimpleNamespace(getDeviceProperties=lambda i: {"name": b"Fake GPU 9000"}),
    )
    for key, value in overrides.items():
        setattr(fake, key, value)
    return fake


def _raise(exc: BaseException):  # noqa: ANN202
    def f(*args: object, **kwargs: object) -> None:
        raise exc

    return f


# ---------------------------------------------------------------- default choice


@pytest.mark.skipif(CUPY_INSTALLED, reason="cupy is installed here")
def test_default_is_numpy_when_cupy_is_not_installed() -> None:
    info = backend.info()
    assert info.name == "numpy"
    assert info.reason == "NumPy: cupy is not installed"
    assert info.device.startswith("CPU")
    assert backend.xp() is np
    assert "numpy" in str(info) and info.reason in str(info)


def test_default_without_gpu_is_numpy_with_a_reason() -> None:
    if _gpu_usable():
        pytest.skip("a CUDA device is usable here")
    info = backend.set_backend(None)
    assert info.name == "numpy"
    assert info.reason.startswith("NumPy: ") and len(info.reason) > len("NumPy: ")
    assert backend.xp() is np


def test_info_chooses_on_first_use_and_then_sticks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EBM_BACKEND", "numpy")
    first = backend.info()
    assert first.name == "numpy"
    assert backend.info() is first


# ---------------------------------------------------------------- explicit choice


@pytest.mark.parametrize("value", ["numpy", "NumPy", " numpy "])
def test_env_var_numpy(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("EBM_BACKEND", value)
    info = backend.set_backend()
    assert info.name == "numpy"
    assert info.reason == "NumPy: requested"
    assert backend.xp() is np
    assert backend.info() is info


def test_set_backend_numpy_overrides_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EBM_BACKEND", "cupy")
    info = backend.set_backend("numpy")
    assert (info.name, info.reason) == ("numpy", "NumPy: requested")
    assert backend.xp() is np


def test_empty_env_var_means_automatic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EBM_BACKEND", "")
    info = backend.set_backend()
    assert info.name in ("numpy", "cupy")


@pytest.mark.parametrize("name", ["torch", "cuda", "np"])
def test_unknown_name_raises_backend_error(name: str) -> None:
    before = backend.set_backend("numpy")
    with pytest.raises(BackendError, match="Unknown backend") as excinfo:
        backend.set_backend(name)
    assert isinstance(excinfo.value, EBMError)
    assert "'numpy'" in str(excinfo.value) and "'cupy'" in str(excinfo.value)
    assert backend.info() is before  # a bad request changes nothing


def test_unknown_env_var_raises_backend_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EBM_BACKEND", "metal")
    with pytest.raises(BackendError, match="metal"):
        backend.set_backend()


def test_cupy_without_gpu_falls_back_to_numpy() -> None:
    if _gpu_usable():
        pytest.skip("a CUDA device is usable here")
    info = backend.set_backend("cupy")
    assert info.name == "numpy"
    assert info.reason.startswith("NumPy: ")
    assert backend.xp() is np
    if not CUPY_INSTALLED:
        assert info.reason == "NumPy: cupy is not installed"


def test_env_var_cupy_without_gpu_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    if _gpu_usable():
        pytest.skip("a CUDA device is usable here")
    monkeypatch.setenv("EBM_BACKEND", "cupy")
    info = backend.info()
    assert info.name == "numpy"
    assert info.reason.startswith("NumPy: ")


# ---------------------------------------------------------------- broken cupy installs


def test_cupy_missing_from_sys_modules_means_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    info = backend.set_backend("cupy")
    assert (info.name, info.reason) == ("numpy", "NumPy: cupy is not installed")


def test_cupy_import_raising_runtime_error_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    class Exploding:
        def find_spec(self, name: str, path: object = None, target: object = None) -> None:
            if name == "cupy":
                raise RuntimeError("CUDA driver version is insufficient")
            return None

    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Exploding(), *sys.meta_path])
    info = backend.set_backend("cupy")
    assert info.name == "numpy"
    assert info.reason == "NumPy: cupy failed to import (RuntimeError: CUDA driver version is insufficient)"
    assert backend.xp() is np


def test_cupy_is_available_raising_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_cupy(is_available=_raise(RuntimeError("cudaErrorNoDevice")))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    info = backend.set_backend("cupy")
    assert info.name == "numpy"
    assert info.reason == "NumPy: CUDA is not usable (RuntimeError: cudaErrorNoDevice)"
    assert backend.xp() is np


def test_cupy_without_device_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(is_available=lambda: False))
    info = backend.set_backend(None)
    assert (info.name, info.reason) == ("numpy", "NumPy: no CUDA device")


def test_cupy_kernel_compile_failure_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_cupy(RawKernel=_raise(OSError("libnvrtc.so.12: cannot open shared object file")))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    info = backend.set_backend("cupy")
    assert info.name == "numpy"
    assert info.reason.startswith("NumPy: CUDA is not usable (OSError: libnvrtc")
    assert backend.xp() is np


def test_cupy_wrong_self_test_results_fall_back(monkeypatch: pytest.MonkeyPatch) -> None:
    class LazyKernel:  # compiles, runs, does nothing
        def __init__(self, *args: object) -> None:
            pass

        def __call__(self, *args: object) -> None:
            pass

    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(RawKernel=LazyKernel))
    info = backend.set_backend("cupy")
    assert (info.name, info.reason) == ("numpy", "NumPy: the CUDA self-test gave wrong results")


def test_working_fake_cupy_is_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    """The selection logic itself, on a CPU machine: a cupy that passes the self-test wins."""
    fake = _fake_cupy()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    auto = backend.set_backend(None)
    assert (auto.name, auto.device, auto.reason) == ("cupy", "Fake GPU 9000", "CuPy: a CUDA device is available")
    assert backend.xp() is fake
    asked = backend.set_backend("cupy")
    assert asked.reason == "CuPy: requested"
    # NumPy arrays still belong to NumPy, whatever the backend.
    assert backend.get_array_module(np.zeros(2)) is np
    assert backend.set_backend("numpy").name == "numpy"
    assert backend.xp() is np


# ---------------------------------------------------------------- arrays and RNG


def test_array_helpers_on_numpy() -> None:
    backend.set_backend("numpy")
    a = backend.asarray([1, 2, 3], dtype=backend.DEFAULT_DTYPE)
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    assert backend.is_numpy(a)
    assert backend.to_numpy(a) is a
    assert backend.get_array_module(a) is np
    assert backend.get_array_module() is np
    assert isinstance(backend.to_numpy([1.0, 2.0]), np.ndarray)


def test_make_rng_repeats_exactly() -> None:
    backend.set_backend("numpy")
    a = backend.make_rng(1234)
    b = backend.make_rng(1234)
    assert isinstance(a, np.random.Generator)
    x1, y1 = a.standard_normal((5, 3), dtype=np.float32), a.random(7)
    x2, y2 = b.standard_normal((5, 3), dtype=np.float32), b.random(7)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    c = backend.make_rng(1235).standard_normal((5, 3), dtype=np.float32)
    assert not np.array_equal(x1, c)


def test_make_rng_none_is_unseeded() -> None:
    backend.set_backend("numpy")
    a = backend.make_rng(None).random(8)
    b = backend.make_rng(None).random(8)
    assert not np.array_equal(a, b)


# ---------------------------------------------------------------- real GPU


@pytest.mark.gpu
def test_cupy_on_a_real_gpu() -> None:
    info = backend.set_backend("cupy")
    assert info.name == "cupy", info.reason
    cp = backend.xp()
    x = backend.asarray(np.arange(6, dtype=np.float32))
    assert backend.get_array_module(x) is cp
    np.testing.assert_array_equal(backend.to_numpy(x), np.arange(6, dtype=np.float32))
    a = backend.to_numpy(backend.make_rng(7).standard_normal((4, 4), dtype=cp.float32))
    b = backend.to_numpy(backend.make_rng(7).standard_normal((4, 4), dtype=cp.float32))
    np.testing.assert_array_equal(a, b)


def test_worker_threads_reuse_freed_memory() -> None:
    """A large block freed in a worker thread is reused, not re-faulted (one malloc arena).

    Split training passes allocate im2col buffers of over 64 MiB in worker threads;
    with a per-thread arena glibc mmapped and zeroed them afresh every update.
    """
    import resource
    import threading

    from engine import backend

    if not backend.HOST_ALLOCATOR_TUNED:
        pytest.skip("glibc malloc tuning is not active here")
    faults: list[int] = []

    def allocate_twice() -> None:
        for _ in range(2):
            before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
            block = np.ones(96 << 18, dtype=np.float32)  # 96 MiB, touched
            faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
            del block

    worker = threading.Thread(target=allocate_twice)
    worker.start()
    worker.join()
    assert faults[1] <= max(2, faults[0] // 10), faults
