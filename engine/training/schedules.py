"""Learning-rate schedules: small stateless objects with ``lr_at(step)``.

``step`` counts the optimizer updates already done (0 for the first update),
so ``lr_at(step)`` is the rate the next update uses. This matches PyTorch's
``torch.optim.lr_scheduler`` when ``scheduler.step()`` is called after every
``optimizer.step()``. Because a schedule is a pure function of the step, a
resumed run only needs the step count to continue on the same curve.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

from ..errors import ConfigError
from ._checks import integer, real


class Schedule:
    """Base: a learning rate for every step."""

    kind = ""

    def lr_at(self, step: int) -> float:
        """The learning rate of update number ``step`` (0-based)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain data (``make_schedule(**d)`` rebuilds it)."""
        raise NotImplementedError

    def scaled(self, factor: float) -> "Schedule":
        """The same curve with every rate times ``factor`` (a rollback halves the rates, not the shape)."""
        settings = self.to_dict()
        for key in ("lr", "min_lr"):
            if key in settings:
                settings[key] *= factor
        return make_schedule(**settings)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "kind")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


class ConstantSchedule(Schedule):
    """lr at every step."""

    kind = "constant"

    def __init__(self, lr: float):
        self.lr = real("constant schedule", "lr", lr, low=0.0, low_open=True)

    def lr_at(self, step: int) -> float:
        return self.lr

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "lr": self.lr}


class StepSchedule(Schedule):
    """lr * gamma ** (step // step_size), like ``torch.optim.lr_scheduler.StepLR``."""

    kind = "step"

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1):
        self.lr = real("step schedule", "lr", lr, low=0.0, low_open=True)
        self.step_size = integer("step schedule", "step_size", step_size, low=1)
        self.gamma = real("step schedule", "gamma", gamma, low=0.0, high=1.0, low_open=True)

    def lr_at(self, step: int) -> float:
        return self.lr * self.gamma ** (step // self.step_size)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "lr": self.lr, "step_size": self.step_size, "gamma": self.gamma}


class CosineSchedule(Schedule):
    """min_lr + (lr - min_lr) (1 + cos(pi step / total_steps)) / 2, then min_lr after total_steps.

    Up to ``total_steps`` this is ``torch.optim.lr_scheduler.CosineAnnealingLR``
    with T_max = total_steps and eta_min = min_lr (which would rise again after).
    """

    kind = "cosine"

    def __init__(self, lr: float, total_steps: int, min_lr: float = 0.0):
        self.lr = real("cosine schedule", "lr", lr, low=0.0, low_open=True)
        self.total_steps = integer("cosine schedule", "total_steps", total_steps, low=1)
        self.min_lr = real("cosine schedule", "min_lr", min_lr, low=0.0, high=self.lr)

    def lr_at(self, step: int) -> float:
        if step >= self.total_steps:
            return self.min_lr
        return self.min_lr + (self.lr - self.min_lr) * (1.0 + math.cos(math.pi * step / self.total_steps)) / 2.0

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "lr": self.lr, "total_steps": self.total_steps, "min_lr": self.min_lr}


class WarmupSchedule(Schedule):
    """Linear warmup, then ``after``: lr_at(t) = after.lr_at(0) (t + 1) / warmup_steps for
    t < warmup_steps, else after.lr_at(t - warmup_steps).

    The warmup equals ``torch.optim.lr_scheduler.LinearLR(start_factor=1/w,
    total_iters=w-1)`` followed by ``after`` (SequentialLR, milestone w).
    """

    kind = "warmup"

    def __init__(self, after: Schedule, warmup_steps: int):
        if not isinstance(after, Schedule) or isinstance(after, WarmupSchedule):
            raise ConfigError(f"warmup: 'after' must be a constant, step or cosine schedule, got {after!r}")
        self.after = after
        self.warmup_steps = integer("warmup", "warmup_steps", warmup_steps, low=1)

    def lr_at(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.after.lr_at(0) * (step + 1) / self.warmup_steps
        return self.after.lr_at(step - self.warmup_steps)

    def to_dict(self) -> dict[str, Any]:
        return {**self.after.to_dict(), "warmup_steps": self.warmup_steps}


_KINDS: dict[str, type[Schedule]] = {c.kind: c for c in (ConstantSchedule, StepSchedule, CosineSchedule)}


def make_schedule(kind: str = "constant", *, lr: float, warmup_steps: int = 0, **settings: Any) -> Schedule:
    """A schedule from plain settings, e.g. ``make_schedule("cosine", lr=1e-4, total_steps=10000)``.

    kind: "constant" | "step" (step_size, gamma) | "cosine" (total_steps, min_lr);
    warmup_steps > 0 wraps it in a linear warmup.
    """
    name = str(kind).strip().lower()
    if name not in _KINDS:
        raise ConfigError(f"unknown learning-rate schedule {kind!r}; allowed: {sorted(_KINDS)}")
    params = inspect.signature(_KINDS[name]).parameters
    allowed = [p for p in params if p != "lr"]
    unknown = sorted(set(settings) - set(allowed))
    missing = [p for p in allowed if params[p].default is inspect.Parameter.empty and p not in settings]
    if unknown or missing:
        what = "; ".join(([f"unknown setting(s) {unknown}"] if unknown else [])
                         + ([f"missing setting(s) {missing}"] if missing else []))
        raise ConfigError(f"{name} schedule: {what}; it takes {allowed} (plus lr and warmup_steps)")
    schedule = _KINDS[name](lr=lr, **settings)
    warmup = integer(f"{name} schedule", "warmup_steps", warmup_steps, low=0)
    return WarmupSchedule(schedule, warmup) if warmup > 0 else schedule


def as_schedule(lr: float | Schedule) -> Schedule:
    """A schedule as is; a number becomes a ConstantSchedule."""
    return lr if isinstance(lr, Schedule) else ConstantSchedule(lr)
