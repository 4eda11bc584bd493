"""Hamiltonian Monte Carlo: leapfrog trajectories and an MH test on the Hamiltonian.

Per step and chain: draw momentum p ~ N(0, m I), run ``n_leapfrog`` leapfrog
steps of size eps on H(x, p) = E(x) + |p|^2 / (2m),

    p <- p - (eps/2) g(x);  [x <- x + eps p / m;  p <- p - eps g(x)] x L, the last
    momentum kick halved,

and accept the end point with probability min(1, exp(H(x, p) - H(x', p'))).
Leapfrog is volume preserving and reversible, so the chain leaves exp(-E)
exactly invariant; the energy error H' - H is O(eps^2) and sets the
acceptance. One step costs n_leapfrog energy-and-gradient evaluations.

``bounds=(lo, hi)`` rejects end points outside the box (exp(-E) restricted to
it); fixed entries get zero momentum and zero gradient, so they never move.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..backend import get_array_module
from ..errors import ConfigError
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
    sq_norm,
    zero_where,
)


def leapfrog(energy: Any, x: Any, p: Any, g: Any, step_size: float, n_leapfrog: int,
             mask: Any | None = None, mass: float = 1.0) -> tuple[Any, Any, Any, Any]:
    """Integrate Hamilton's equations; the inputs are not modified.

    x, p, g: (N, *shape) position, momentum and dE/dx at x (g zero on masked
    entries). Returns (x', p', E(x'): (N,) float64, g(x'): (N, *shape)).
    """
    if int(n_leapfrog) < 1:
        raise ConfigError(f"HMC needs n_leapfrog >= 1, got {n_leapfrog}")
    xp = get_array_module(x)
    eps = float(step_size)
    x = x.copy()
    p = p - (0.5 * eps) * g
    for i in range(int(n_leapfrog)):
        x += (eps / float(mass)) * p
        e, g = energy.energy_and_grad(x)
        zero_where(g, mask)
        p -= (eps if i < n_leapfrog - 1 else 0.5 * eps) * g
    return x, p, e.astype(xp.float64), g.copy()


def hamiltonian(e: Any, p: Any, mass: float = 1.0) -> Any:
    """H = E + |p|^2 / (2m): (N,) float64 from e: (N,), p: (N, *shape)."""
    xp = get_array_module(p)
    return e.astype(xp.float64) + sq_norm(p) / (2.0 * float(mass))


@dataclass
class HMCSampler:
    """Hamiltonian Monte Carlo with Gaussian momentum and per-chain accept/reject.

    step_size: leapfrog step eps; n_leapfrog: leapfrog steps per proposal (L);
    n_steps: default number of proposals for :meth:`run`; mass: scalar mass m
    (momentum ~ N(0, m I)); bounds: None or (lo, hi), end points outside rejected.
    """

    step_size: float = 0.1
    n_leapfrog: int = 10
    n_steps: int = 100
    mass: float = 1.0
    bounds: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        check_positive("HMC step_size", self.step_size)
        check_positive("HMC mass", self.mass)
        if int(self.n_leapfrog) < 1 or int(self.n_leapfrog) != self.n_leapfrog:
            raise ConfigError(f"HMC n_leapfrog must be a whole number >= 1, got {self.n_leapfrog}")
        check_n_steps(self.n_steps)
        self.bounds = check_range("HMC bounds", self.bounds)

    def run(self, energy: Any, x0: Any, rng: Any, n_steps: int | None = None,
            record: Record | None = None, fixed_mask: Any | None = None,
            fixed_values: Any | None = None) -> SampleResult:
        """Run the chains from x0 (not modified); see LangevinSampler.run for the arguments.

        The result's acceptance is the mean over steps and chains, with
        acceptance_per_step (n_steps,) and acceptance_per_chain (N,).
        """
        n = check_n_steps(self.n_steps if n_steps is None else n_steps)
        run = MetropolisRun(energy, x0, n, record, fixed_mask, fixed_values)
        x, e, g, mask = run.x, run.e, run.g, run.mask
        sd = math.sqrt(float(self.mass))
        with fixed_weights(energy):
            for t in range(n):
                p = standard_normal(rng, x.shape, x.dtype)
                p *= sd
                zero_where(p, mask)
                x_new, p_new, e_new, g_new = leapfrog(energy, x, p, g, self.step_size,
                                                      int(self.n_leapfrog), mask, self.mass)
                log_alpha = hamiltonian(e, p, self.mass) - hamiltonian(e_new, p_new, self.mass)
                accepted, _ = accept_proposals(x, g, e, x_new, g_new, e_new, log_alpha, rng, self.bounds)
                run.count(t, accepted)
        return run.result()
