"""Shared test set-up: headless Qt, and skipping ``gpu`` tests without a CUDA device."""

from __future__ import annotations

import os

# Qt tests run without a display; must be set before any QApplication exists.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

_gpu_reason: str | None = None  # None until probed; "" means a usable GPU


def _probe_gpu() -> str:
    """"" when CuPy runs on a CUDA device here, else why not (probed once, lazily)."""
    global _gpu_reason
    if _gpu_reason is None:
        try:
            from engine import backend  # noqa: PLC0415 - only when a gpu test is collected

            module, detail = backend._probe_cupy()
            _gpu_reason = "" if module is not None else detail
        except Exception as exc:  # noqa: BLE001 - any failure means "no GPU"
            _gpu_reason = f"GPU probe failed ({type(exc).__name__}: {exc})"
    return _gpu_reason


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items:
        return
    reason = _probe_gpu()
    if reason:
        skip = pytest.mark.skip(reason=f"needs a CUDA device: {reason}")
        for item in gpu_items:
            item.add_marker(skip)
