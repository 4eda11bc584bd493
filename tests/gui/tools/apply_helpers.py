"""Helpers for the Apply windows' tests: tiny models on disk, running a window to its result."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.models import EnergyNet
from engine.models.io import save_model
from engine.models.presets import mlp_2d

WAIT = 120_000  # ms: generous on a loaded 2-core machine; never a fixed sleep


def tiny_2d_model(folder: Path, seed: int = 1) -> str:
    """A small untrained 2D energy network saved as a .safetensors file (its path)."""
    net = EnergyNet(mlp_2d(width=8, depth=2), seed=seed, xp=np)
    return str(save_model(Path(folder) / f"points2d_{seed}.safetensors", net))


def run_to_end(qtbot, window):
    """Press Run and wait until the job has ended (its result or error already handled); returns
    the window's result."""
    window.start()
    assert window.job is not None, window.status.text()
    qtbot.waitUntil(lambda: window.run_button.isEnabled() and not window.running, timeout=WAIT)
    return window.result


def tiny_texture_model(folder: Path) -> str:
    """A small untrained fully convolutional energy on 1x8x8 crops (conv, swish, conv, global_sum)."""

    def conv(c: int, o: int) -> dict:
        return {"type": "conv2d", "in_channels": c, "out_channels": o, "kernel_size": 3, "stride": 1, "padding": 0}

    arch = {"input_shape": [1, 8, 8], "layers": [conv(1, 4), {"type": "swish"}, conv(4, 1), {"type": "global_sum"}]}
    return str(save_model(Path(folder) / "texture_tiny.safetensors", EnergyNet(arch, seed=3, xp=np)))
