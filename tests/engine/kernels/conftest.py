"""Fixtures of the kernel tests: the fake CuPy of fake_cupy.py as the active backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine import backend, kernels

from .fake_cupy import FakeCupy


@pytest.fixture()
def fake_gpu(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCupy]:
    """The engine on a fake CuPy whose kernels run as NumPy emulations; the old backend comes back after."""
    saved = (backend._active, backend._cupy)
    fake = FakeCupy()
    monkeypatch.delenv("EBM_KERNELS", raising=False)
    backend._cupy = fake
    backend._active = backend.BackendInfo("cupy", "Fake GPU", "CuPy: fake for the tests")
    kernels.compile_all(fake)
    yield fake
    kernels.reset()
    backend._active, backend._cupy = saved
