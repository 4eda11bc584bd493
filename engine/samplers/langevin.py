"""Langevin dynamics, the practical form used to train EBMs.

    x <- clamp(x - step * clip(dE/dx, -c, c) + noise * N(0, 1), lo, hi)

Two conventions, one code path:

* Literature (unadjusted Langevin algorithm, ULA) with step a:
  x_{i+1} = x_i - (a/2) dE/dx + eps, eps ~ N(0, a I).
  This is ``step = a/2, noise = sqrt(a)``, i.e. ``noise = sqrt(2 step)``;
  as a -> 0 the chain samples p(x) ~ exp(-E(x)) (with an O(a) bias for a > 0).
  :class:`LangevinSampler` uses it when ``noise`` is None, and
  :meth:`LangevinSampler.textbook` builds it from a.
* Practice (EBM training, the benchmark workloads): step and noise tuned
  separately, e.g. step 10, noise 0.005 on MNIST. Then the chain samples
  (approximately) exp(-E / T) at temperature T = noise^2 / (2 step), usually
  far below 1, and is rather a noisy gradient descent; plus gradient clipping
  and clamping to the data range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import kernels
from ..backend import get_array_module
from ..errors import ConfigError
from ..kernels import langevin as gpu
from ..ops.random import standard_normal
from . import chain_parts
from .base import (
    Record,
    Recorder,
    SampleResult,
    check_n_steps,
    check_positive,
    check_range,
    fixed_weights,
    prepare_fixed,
    prepare_x,
)

SCHEDULES = ("constant", "linear", "geometric")


def langevin_update_(x: Any, grad: Any, step: float, noise: float, rng: Any,
                     clip_grad: float | None = None, clamp: tuple[float, float] | None = None,
                     fixed_mask: Any | None = None, fixed_values: Any | None = None) -> Any:
    """One update of x in place (grad is consumed as scratch); returns x.

    x, grad: same shape; rng: the run's generator on x's backend; fixed_mask (bool,
    x's shape) and fixed_values: entries reset to the values after the step.
    On CuPy this is one fused kernel (engine.kernels.langevin), with the noise
    drawn in the kernel from the generator's Philox stream.
    """
    if kernels.usable(x, grad) and gpu.accepts(x, grad, fixed_mask, fixed_values):
        return gpu.langevin_update_(x, grad, step, noise, rng, clip_grad, clamp, fixed_mask, fixed_values)
    xp = get_array_module(x)
    if clip_grad is not None:
        xp.clip(grad, -float(clip_grad), float(clip_grad), out=grad)
    grad *= -float(step)
    x += grad
    if noise:
        eps = standard_normal(rng, x.shape, x.dtype)
        eps *= float(noise)
        x += eps
    if clamp is not None:
        xp.clip(x, float(clamp[0]), float(clamp[1]), out=x)
    if fixed_mask is not None:
        xp.copyto(x, fixed_values, where=fixed_mask)
    return x


@dataclass
class LangevinSampler:
    """Langevin dynamics with tunable step, noise, clipping, clamping and a step schedule.

    step_size: multiplies dE/dx (the "step"; a/2 in the textbook form).
    noise: standard deviation of the Gaussian added per step; None = sqrt(2 step)
        at every step (the textbook form, which follows the schedule); a number
        stays constant over the chain.
    clip_grad: None, or c > 0: dE/dx clipped to [-c, c] elementwise.
    clamp: None, or (lo, hi): states clipped to [lo, hi] after each step.
    n_steps: default chain length for :meth:`run`.
    schedule: "constant", or "linear" / "geometric" decay from step_size at the
        first step to final_step_size at the last.
    final_step_size: the last step's size for a decaying schedule.
    """

    step_size: float = 0.01
    noise: float | None = None
    clip_grad: float | None = None
    clamp: tuple[float, float] | None = None
    n_steps: int = 100
    schedule: str = "constant"
    final_step_size: float | None = None

    def __post_init__(self) -> None:
        check_positive("Langevin step_size", self.step_size)
        if self.noise is not None and not (float(self.noise) >= 0.0 and math.isfinite(float(self.noise))):
            raise ConfigError(f"Langevin noise must be >= 0 (or empty for sqrt(2 step)), got {self.noise}")
        if self.clip_grad is not None:
            check_positive("Langevin clip_grad", self.clip_grad)
        self.clamp = check_range("Langevin clamp", self.clamp)
        check_n_steps(self.n_steps)
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown step-size schedule {self.schedule!r}; use one of {SCHEDULES}")
        if self.schedule != "constant":
            if self.final_step_size is None:
                raise ConfigError(f"the {self.schedule} schedule needs final_step_size")
            check_positive("Langevin final_step_size", self.final_step_size)

    @classmethod
    def textbook(cls, a: float, **kwargs: Any) -> "LangevinSampler":
        """x' = x - (a/2) dE/dx + N(0, a I): step_size = a/2, noise = sqrt(a)."""
        check_positive("Langevin step a", a)
        return cls(step_size=a / 2.0, noise=math.sqrt(a), **kwargs)

    def step_sizes(self, n_steps: int) -> np.ndarray:
        """(n_steps,) float64: the step size used at each step."""
        n = check_n_steps(n_steps)
        s0 = float(self.step_size)
        if self.schedule == "constant" or n <= 1:
            return np.full(n, s0)
        s1 = float(self.final_step_size)  # type: ignore[arg-type]
        frac = np.arange(n) / (n - 1)
        if self.schedule == "linear":
            return s0 + (s1 - s0) * frac
        return s0 * (s1 / s0) ** frac

    def noise_at(self, step_size: float) -> float:
        """The noise standard deviation used with ``step_size``."""
        return math.sqrt(2.0 * step_size) if self.noise is None else float(self.noise)

    def run(self, energy: Any, x0: Any, rng: Any, n_steps: int | None = None,
            record: Record | None = None, fixed_mask: Any | None = None,
            fixed_values: Any | None = None) -> SampleResult:
        """Run the chains from x0; x0 is not modified.

        energy: an :class:`~engine.energies.base.Energy`; x0: (N, *energy.input_shape);
        rng: generator on x0's backend (``backend.make_rng``); n_steps: None = self.n_steps;
        fixed_mask / fixed_values: see :mod:`engine.samplers.base`.
        Returns a SampleResult with acceptance None.
        """
        n = check_n_steps(self.n_steps if n_steps is None else n_steps)
        x = prepare_x(energy, x0)
        if record is None and fixed_mask is None and fixed_values is None:
            parts = chain_parts.wanted(energy, x.shape[0])
            if parts > 1:  # each part's whole run side by side, on worker processes or threads
                return SampleResult(x=chain_parts.run(self.chains, energy, x, rng, n, parts))
        mask, values = prepare_fixed(x, fixed_mask, fixed_values)
        rec = Recorder(record, x, n)
        with fixed_weights(energy):
            for t, step in enumerate(self.step_sizes(n)):
                e, grad = energy.energy_and_grad(x)
                rec.take(t, x, e)
                langevin_update_(x, grad, float(step), self.noise_at(float(step)), rng,
                                 self.clip_grad, self.clamp, mask, values)
        if rec.wants(n):
            rec.take(n, x, energy.energy(x) if rec.needs_energy(n) else None)
        return rec.finish(SampleResult(x=x))

    def chains(self, energy: Any, x: Any, rng: Any, n_steps: int) -> None:
        """Run the chains x in place, nothing recorded or fixed: what a worker process runs."""
        with fixed_weights(energy):
            for step in self.step_sizes(n_steps):
                _, grad = energy.energy_and_grad(x)
                langevin_update_(x, grad, float(step), self.noise_at(float(step)), rng, self.clip_grad, self.clamp)
