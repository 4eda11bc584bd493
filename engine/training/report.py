"""The small, frozen record one training iteration yields to its consumer (CLI or GUI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Report:
    iteration: int  # 1-based count of finished iterations
    loss: float
    e_pos: float  # mean E(x+)
    e_neg: float  # mean E(x-)
    grad_norm: float  # global L2 norm of dL/dtheta before clipping
    lr: float
    seconds: float  # wall time of this iteration
    acceptance: float | None = None  # MALA / HMC
    accuracy: float | None = None  # JEM, on the training batch
    metrics: dict[str, float] = field(default_factory=dict)  # validation metrics, at eval iterations
    samples: np.ndarray | None = None  # host copy of a few negatives, at sample iterations
    message: str = ""  # a warning or what just happened (checkpoint, rollback)

    def scalars(self) -> dict[str, Any]:
        """Everything but the samples, as plain JSON-able values (None for absent)."""
        row: dict[str, Any] = {"iteration": self.iteration, "loss": self.loss, "e_pos": self.e_pos,
                               "e_neg": self.e_neg, "grad_norm": self.grad_norm, "lr": self.lr,
                               "seconds": self.seconds}
        if self.acceptance is not None:
            row["acceptance"] = self.acceptance
        if self.accuracy is not None:
            row["accuracy"] = self.accuracy
        row.update({f"val_{k}": v for k, v in self.metrics.items()})
        if self.message:
            row["message"] = self.message
        return row
