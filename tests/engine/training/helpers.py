"""Tiny experiment configs shared by the training tests (seconds, not minutes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engine.training.config import ExperimentConfig

TINY_MLP = [{"type": "linear", "in_features": 2, "out_features": 16}, {"type": "swish"},
            {"type": "linear", "in_features": 16, "out_features": 16}, {"type": "swish"},
            {"type": "linear", "in_features": 16, "out_features": 1}]

NEVER = 10**6  # an "every" that never comes round (the last iteration still evaluates and samples)


def toy_config(**sections: dict[str, Any]) -> ExperimentConfig:
    """8 Gaussians, a 2-16-16-1 MLP, 5 Langevin steps, batch 32; then ``sections`` on top."""
    base = ExperimentConfig(name="tiny-toy").replace(
        data={"name": "8gaussians", "n": 512},
        model={"preset": "", "layers": TINY_MLP},
        sampler={"n_steps": 5},
        buffer={"capacity": 256},
        train={"iterations": 6, "batch_size": 32, "seed": 0, "backend": "numpy",
               "eval_every": NEVER, "samples_every": NEVER, "checkpoint_every": NEVER})
    return base.replace(**sections) if sections else base


def digits_config(**sections: dict[str, Any]) -> ExperimentConfig:
    """200 built-in digits, convnet_small, 3 Langevin steps on [0, 1], batch 8; then ``sections``."""
    base = ExperimentConfig(name="tiny-digits").replace(
        data={"name": "builtin_digits", "n": 200},
        model={"preset": "convnet_small"},
        sampler={"n_steps": 3, "step_size": 1.0, "noise": 0.005, "clip_grad": 0.03, "clamp": [0.0, 1.0]},
        buffer={"capacity": 64},
        train={"iterations": 3, "batch_size": 8, "seed": 0, "backend": "numpy", "lr": 1e-4,
               "eval_every": NEVER, "samples_every": NEVER, "checkpoint_every": NEVER})
    return base.replace(**sections) if sections else base


def checkpoint_iterations(run_dir: Path) -> list[int]:
    return sorted(int(p.name[5:13]) for p in (run_dir / "checkpoints").glob("ckpt-*.safetensors"))


def without_seconds(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Report rows minus the wall time, the one field that may differ between identical runs."""
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def assert_states_identical(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert sorted(a) == sorted(b)
    for name, value in a.items():
        x, y = np.asarray(value), np.asarray(b[name])
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert np.array_equal(x, y), f"{name} differs (max |diff| {np.max(np.abs(x - y)):.3g})"
