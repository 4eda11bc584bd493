"""Training: optimizers, gradient clipping and learning-rate schedules (loop and checkpoints to come)."""

from .optimizers import SGD, Adam, Optimizer, clip_grad_norm, make_optimizer
from .schedules import (ConstantSchedule, CosineSchedule, Schedule, StepSchedule, WarmupSchedule,
                        as_schedule, make_schedule)

__all__ = ["Adam", "SGD", "Optimizer", "clip_grad_norm", "make_optimizer", "Schedule", "ConstantSchedule",
           "StepSchedule", "CosineSchedule", "WarmupSchedule", "make_schedule", "as_schedule"]
