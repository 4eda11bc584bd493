"""Tiny experiments for the tool-window tests: 8 Gaussians, mlp_2d of width 16, a few iterations."""

from __future__ import annotations

from engine.training.config import ExperimentConfig


def tiny_config(iterations: int = 10, **sections) -> ExperimentConfig:
    """8 Gaussians (400 points), mlp_2d width 16, batch 32, 5 Langevin steps, numpy backend."""
    base = ExperimentConfig(name="tiny").replace(
        data={"name": "8gaussians", "n": 400}, model={"preset": "mlp_2d", "width": 16},
        sampler={"n_steps": 5}, buffer={"capacity": 128, "init": "data"},
        train={"iterations": iterations, "batch_size": 32, "lr": 1e-2, "seed": 0, "backend": "numpy",
               "eval_every": 10**6, "samples_every": 10**6, "checkpoint_every": 10**6})
    return base.replace(**sections) if sections else base
