"""Metropolis-adjusted Langevin (MALA): a Langevin proposal, then an exact MH test.

With a = 2 step_size (the same ``step_size`` as :class:`LangevinSampler`, which
multiplies the gradient), one step per chain is

    x' = x - (a/2) g(x) + sqrt(a) xi,    xi ~ N(0, I),  g = dE/dx
    q(x' | x) = N(x'; x - (a/2) g(x), a I)        (not symmetric)
    log alpha = -E(x') + E(x) - |x - x' + (a/2) g(x')|^2 / (2a)
                              + |x' - x + (a/2) g(x)|^2 / (2a)

and x' is accepted with probability min(1, alpha), independently per chain.
The chain leaves p(x) ~ exp(-E(x)) exactly invariant, whatever the step.

Computed without cancellation: x' - x + (a/2) g = sqrt(a) xi, so the forward
term is |xi|^2 / 2, and with G = g(x) + g(x') the reverse residual is
(a/2) G - sqrt(a) xi, whence (a = 2s)

    log alpha = -(E(x') - E(x)) - (s/4) |G|^2 + sqrt(s/2) <G, xi>

(the two |xi|^2/2 terms, each about D/2, cancel exactly). Energies and the
per-chain sums are taken in float64.

Gradient clipping (``clip_grad``) is allowed and stays exact: the clipped
gradient is the proposal's drift in both q(x'|x) and q(x|x'). Hard clamping is
not (the proposal would stop being Gaussian); ``bounds=(lo, hi)`` instead
rejects every proposal with an entry outside [lo, hi], which samples exp(-E)
restricted to the box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .. import kernels
from ..backend import get_array_module
from ..kernels import mala as gpu
from ..ops.random import standard_normal
from .base import (
    MetropolisRun,
    Record,
    SampleResult,
    accept_proposals,
    check_n_steps,
    check_positive,
    check_range,
    fixed_weights,
    zero_where,
)


def mala_log_accept(e_old: Any, e_new: Any, g_old: Any, g_new: Any, xi: Any,
                    step_size: float) -> Any:
    """log alpha: (N,) float64 for proposals x' = x - s g_old + sqrt(2 s) xi.

    e_old, e_new: (N,) energies at x and x'; g_old, g_new: (N, *shape) the
    drift gradients at x and x'; xi: (N, *shape) the proposal's standard
    normal draw; step_size: s = a/2. On CuPy one kernel (engine.kernels.mala).
    """
    if kernels.usable(g_old, g_new, xi) and kernels.on_device(e_old, e_new):
        return gpu.mala_log_accept(e_old, e_new, g_old, g_new, xi, step_size)
    xp = get_array_module(g_old)
    s = float(step_size)
    n = g_old.shape[0]
    big_g = (g_old + g_new).reshape(n, -1)
    xi_flat = xi.reshape(n, -1)
    g_sq = (big_g * big_g).sum(axis=1, dtype=xp.float64)
    g_xi = (big_g * xi_flat).sum(axis=1, dtype=xp.float64)
    d_e = e_new.astype(xp.float64) - e_old.astype(xp.float64)
    return -d_e - (s / 4.0) * g_sq + math.sqrt(s / 2.0) * g_xi


@dataclass
class MALAStep:
    """The outcome of one MALA step (all on the chains' backend).

    x: (N, *shape) states after the step; e: (N,) float64 energies; g: (N, *shape)
    dE/dx (zero on fixed entries); accepted: (N,) bool; log_alpha: (N,) float64.
    """

    x: Any
    e: Any
    g: Any
    accepted: Any
    log_alpha: Any


def mala_step(energy: Any, x: Any, e: Any, g: Any, step_size: float, rng: Any,
              mask: Any | None = None, clip_grad: float | None = None,
              bounds: tuple[float, float] | None = None) -> MALAStep:
    """One MALA step for all chains; x, e, g are updated in place and returned.

    x: (N, *shape); e: (N,) float64 = E(x); g: (N, *shape) = dE/dx at x, zero
    where mask is True; mask: bool of x's shape or None (True = fixed entry).
    The randomness is drawn as standard_normal(rng, x.shape, x.dtype) (engine.ops.random)
    then rng.random(N, dtype=float64).
    """
    xp = get_array_module(x)
    s = float(step_size)
    drift = g if clip_grad is None else xp.clip(g, -float(clip_grad), float(clip_grad))
    xi = standard_normal(rng, x.shape, x.dtype)
    zero_where(xi, mask)
    x_new = x - s * drift
    x_new += math.sqrt(2.0 * s) * xi
    e_new, g_new = energy.energy_and_grad(x_new)
    zero_where(g_new, mask)
    drift_new = g_new if clip_grad is None else xp.clip(g_new, -float(clip_grad), float(clip_grad))
    log_alpha = mala_log_accept(e, e_new, drift, drift_new, xi, s)
    accepted, log_alpha = accept_proposals(x, g, e, x_new, g_new, e_new, log_alpha, rng, bounds)
    return MALAStep(x, e, g, accepted, log_alpha)


@dataclass
class MALASampler:
    """Metropolis-adjusted Langevin with per-chain accept/reject.

    step_size: s, the gradient multiplier; the proposal variance is a = 2 s.
    n_steps: default chain length for :meth:`run`.
    clip_grad: None or c > 0: the proposal drift uses dE/dx clipped to [-c, c].
    bounds: None or (lo, hi): proposals leaving [lo, hi] are rejected.
    """

    step_size: float = 0.01
    n_steps: int = 100
    clip_grad: float | None = None
    bounds: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        check_positive("MALA step_size", self.step_size)
        check_n_steps(self.n_steps)
        if self.clip_grad is not None:
            check_positive("MALA clip_grad", self.clip_grad)
        self.bounds = check_range("MALA bounds", self.bounds)

    def run(self, energy: Any, x0: Any, rng: Any, n_steps: int | None = None,
            record: Record | None = None, fixed_mask: Any | None = None,
            fixed_values: Any | None = None) -> SampleResult:
        """Run the chains from x0 (not modified); see LangevinSampler.run for the arguments.

        The result's acceptance is the mean over steps and chains, with
        acceptance_per_step (n_steps,) and acceptance_per_chain (N,).
        """
        n = check_n_steps(self.n_steps if n_steps is None else n_steps)
        run = MetropolisRun(energy, x0, n, record, fixed_mask, fixed_values)
        with fixed_weights(energy):
            for t in range(n):
                out = mala_step(energy, run.x, run.e, run.g, self.step_size, rng, run.mask, self.clip_grad,
                                self.bounds)
                run.count(t, out.accepted)
        return run.result()
