"""Helpers for the Apply windows' tests: tiny models on disk, running a window to its result."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.models import EnergyNet
from engine.models.io import save_model
from engine.models.presets import mlp_2d

WAIT = 120_000  # ms: generous on a loaded 2-core machine; never a fixed sleep


def tiny_2d_model(folder: Path) -> str:
    """A small untrained 2D energy network saved as a .safetensors file (its path)."""
    return str(save_model(Path(folder) / "points2d.safetensors", EnergyNet(mlp_2d(width=8, depth=2), seed=1,
                                                                           xp=np)))


def run_to_end(qtbot, window):
    """Press Run and wait until the job has ended (its result or error already handled); returns
    the window's result."""
    window.start()
    assert window.job is not None, window.status.text()
    qtbot.waitUntil(lambda: window.run_button.isEnabled() and not window.running, timeout=WAIT)
    return window.result
