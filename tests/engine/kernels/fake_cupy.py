"""A stand-in for CuPy on the CPU that runs engine.kernels through their NumPy emulations.

Device arrays are a NumPy subclass (:class:`DeviceArray`), so NumPy does the
arithmetic of the xp code around the kernels. ``RawModule`` parses the real
CUDA source: a launch whose arguments do not match the kernel's C signature
(count, order, scalar types, array dtypes, host arrays, non-contiguous
arrays) fails the test, as it would misbehave on a GPU; a launch that
matches runs the kernel's emulation (emulate.py). Launches are counted per
kernel in ``module.launches``.
"""

from __future__ import annotations

import re
import types
from collections import Counter
from typing import Any

import numpy as np

from .emulate import EMULATORS


class DeviceArray(np.ndarray):
    """An array "on the device" of the fake CuPy."""


SCALAR_TYPES = {"int": np.int32, "i64": np.int64, "long long": np.int64, "unsigned int": np.uint32,
                "float": np.float32, "double": np.float64}
POINTER_TYPES = {"float": np.float32, "double": np.float64, "i64": np.int64, "bool": np.bool_,
                 "unsigned char": np.uint8, "unsigned int": np.uint32}


def signatures(source: str) -> dict[str, list[tuple[str, bool]]]:
    """{kernel: [(C base type, is pointer), ...]} of every extern "C" __global__ function."""
    out = {}
    for name, params in re.findall(r'extern "C" __global__ void (\w+)\(([^)]*)\)', source):
        parsed = []
        for param in params.split(","):
            words = param.replace("*", " * ").split()
            pointer = "*" in words
            base = " ".join(w for w in words[:-1] if w not in ("const", "*"))
            parsed.append((base, pointer))
        out[name] = parsed
    return out


def check_args(name: str, signature: list[tuple[str, bool]], args: tuple) -> None:
    assert len(args) == len(signature), f"{name}: {len(args)} arguments for {len(signature)} parameters"
    for k, ((base, pointer), arg) in enumerate(zip(signature, args)):
        where = f"{name} argument {k} ({base}{'*' if pointer else ''})"
        if pointer:
            assert isinstance(arg, DeviceArray), f"{where}: got {type(arg).__name__}, not a device array"
            assert arg.dtype == POINTER_TYPES[base], f"{where}: array of {arg.dtype}"
            assert arg.flags.c_contiguous, f"{where}: array is not C-contiguous"
        else:
            assert type(arg) is SCALAR_TYPES[base], f"{where}: got {type(arg).__name__} {arg!r}"


class OutOfMemoryError(MemoryError):
    """As cupy.cuda.memory.OutOfMemoryError."""


class MemoryPool:
    def __init__(self) -> None:
        self.freed = 0

    def total_bytes(self) -> int:
        return 0

    def free_all_blocks(self) -> None:
        self.freed += 1


class Function:
    def __init__(self, module: "FakeCupy", name: str, signature: list[tuple[str, bool]]):
        self.module, self.name, self.signature = module, name, signature

    def __call__(self, grid: tuple, block: tuple, args: tuple, shared_mem: int = 0) -> None:
        check_args(self.name, self.signature, args)
        self.module.launches[self.name] += 1
        EMULATORS[self.name](tuple(grid), tuple(block), args)


def _device(a: Any) -> DeviceArray:
    return np.asarray(a).view(DeviceArray)


class FakeCupy(types.ModuleType):
    """``import cupy`` as far as the engine uses it; anything else falls through to NumPy."""

    def __init__(self) -> None:
        super().__init__("cupy")
        self.ndarray = DeviceArray
        self.launches: Counter = Counter()
        self.compiled_options: tuple = ()
        self.modules_built = 0
        module = self

        class RawModule:
            def __init__(self, code: str, options: tuple = ()) -> None:
                self.signatures = signatures(code)
                module.compiled_options = tuple(options)
                module.modules_built += 1

            def get_function(self, name: str) -> Function:
                assert name in self.signatures, f"no kernel {name} in the source"
                assert name in EMULATORS, f"kernel {name} has no emulation in emulate.py"
                return Function(module, name, self.signatures[name])

        class RawKernel:  # engine.backend's probe kernel: x[i] += 1 for the block's threads
            def __init__(self, code: str, name: str, options: tuple = ()) -> None:
                pass

            def __call__(self, grid: tuple, block: tuple, args: tuple) -> None:
                args[0][: block[0]] += 1.0

        self.RawModule, self.RawKernel = RawModule, RawKernel
        self.pool = MemoryPool()
        self.cuda = types.SimpleNamespace(
            Device=lambda *a: types.SimpleNamespace(id=0, synchronize=lambda: None),
            runtime=types.SimpleNamespace(getDeviceProperties=lambda i: {"name": b"Fake GPU 9000"}),
            memory=types.SimpleNamespace(OutOfMemoryError=OutOfMemoryError),
            get_current_stream=lambda: types.SimpleNamespace(synchronize=lambda: None),
        )
        self.random = types.SimpleNamespace(XORWOW=lambda seed: seed, Generator=FakeRng)

    def is_available(self) -> bool:
        return True

    def get_default_memory_pool(self) -> "MemoryPool":
        return self.pool

    # array creation keeps arrays on the "device"
    def asarray(self, a: Any, dtype: Any = None) -> DeviceArray:
        return _device(np.asarray(a, dtype=dtype))

    def array(self, a: Any, dtype: Any = None, copy: bool = True) -> DeviceArray:
        return _device(np.array(a, dtype=dtype, copy=copy))

    def ascontiguousarray(self, a: Any, dtype: Any = None) -> DeviceArray:
        return _device(np.ascontiguousarray(a, dtype=dtype))

    def empty(self, shape: Any, dtype: Any = np.float64) -> DeviceArray:
        return _device(np.empty(shape, dtype=dtype))

    def zeros(self, shape: Any, dtype: Any = np.float64) -> DeviceArray:
        return _device(np.zeros(shape, dtype=dtype))

    def ones(self, shape: Any, dtype: Any = np.float64) -> DeviceArray:
        return _device(np.ones(shape, dtype=dtype))

    def empty_like(self, a: Any, dtype: Any = None) -> DeviceArray:
        return _device(np.empty_like(a, dtype=dtype))

    def zeros_like(self, a: Any, dtype: Any = None) -> DeviceArray:
        return _device(np.zeros_like(a, dtype=dtype))

    def ones_like(self, a: Any, dtype: Any = None) -> DeviceArray:
        return _device(np.ones_like(a, dtype=dtype))

    def concatenate(self, arrays: Any, axis: int = 0) -> DeviceArray:
        return _device(np.concatenate([np.asarray(a) for a in arrays], axis=axis))

    def asnumpy(self, a: Any) -> np.ndarray:
        return np.asarray(a).view(np.ndarray).copy()

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


class FakeRng:
    """A run's generator on the fake device: NumPy's PCG64 stream, device arrays out."""

    def __init__(self, seed: Any):
        self.gen = np.random.Generator(np.random.PCG64(seed))

    def random(self, size: Any = None, dtype: Any = np.float64) -> DeviceArray:
        return _device(self.gen.random(size, dtype=dtype))

    def standard_normal(self, size: Any = None, dtype: Any = np.float64) -> DeviceArray:
        return _device(self.gen.standard_normal(size, dtype=dtype))

    def uniform(self, low: float = 0.0, high: float = 1.0, size: Any = None) -> DeviceArray:
        return _device(self.gen.uniform(low, high, size))
