"""What every sampler shares: the record option, the result, fixed coordinates.

A sampler's ``run(energy, x0, rng, ...)`` returns a :class:`SampleResult`.
``x`` stays on the array backend of ``x0`` (NumPy or CuPy); everything
recorded for plots (energies, chain trajectories, acceptance) comes back as
small host NumPy arrays. Recordings are written into preallocated device
buffers during the run and copied to the host once at the end, so recording
never synchronises the GPU per step.

Fixed coordinates (inpainting, denoising, conditioning): ``fixed_mask`` is a
bool array broadcastable to ``x0.shape``, True where the entry is held at
``fixed_values`` (broadcastable too; None = keep x0's values there). The
samplers zero the gradient, the noise and the proposal on those entries, so
they never move, and the chain targets the conditional density of the free
entries given the fixed ones.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import get_array_module, to_numpy
from ..errors import ConfigError


@dataclass(frozen=True)
class Record:
    """What a run records, every ``every`` steps (step 0 and the last step always).

    energies: record the mean energy over all chains and the energies of
        the chains in ``chain_ids``.
    chain_ids: chains whose states (and energies) are recorded, e.g. for
        trajectories in 2D or filmstrips of images; ids >= batch size are
        dropped; () records no states.
    every: record at steps 0, every, 2 every, ... and at n_steps.
    """

    energies: bool = True
    chain_ids: tuple[int, ...] = (0, 1, 2)
    every: int = 1

    def __post_init__(self) -> None:
        if int(self.every) < 1:
            raise ConfigError(f"record every must be a positive number of steps, got {self.every}")
        if any(int(c) < 0 for c in self.chain_ids):
            raise ConfigError(f"record chain ids must be >= 0, got {tuple(self.chain_ids)}")


@dataclass
class SampleResult:
    """The outcome of one sampler run.

    x: (N, *shape), the final states, on the backend of x0.
    acceptance: mean MH acceptance rate over steps and chains (None for Langevin).
    energies_per_step: (K,) mean energy over all chains at each recorded step, or None.
    chain_energies: (K, n_chains) energies of the recorded chains, or None.
    chain_states: (K, n_chains, *shape) states of the recorded chains, or None.
    recorded_steps: (K,) the step index of each record (0 = the initial state), or None.
    chain_ids: the chains in chain_energies / chain_states (in that order).
    acceptance_per_step: (n_steps,) fraction of chains accepted at each step (MALA/HMC).
    acceptance_per_chain: (N,) fraction of steps accepted by each chain (MALA/HMC).
    """

    x: Any
    acceptance: float | None = None
    energies_per_step: np.ndarray | None = None
    chain_energies: np.ndarray | None = None
    chain_states: np.ndarray | None = None
    recorded_steps: np.ndarray | None = None
    chain_ids: tuple[int, ...] = ()
    acceptance_per_step: np.ndarray | None = None
    acceptance_per_chain: np.ndarray | None = None


def recorded_steps(n_steps: int, every: int) -> list[int]:
    """Steps at which a record is taken: 0, every, 2 every, ... and n_steps."""
    steps = list(range(0, n_steps + 1, every))
    if steps[-1] != n_steps:
        steps.append(n_steps)
    return steps


class Recorder:
    """Collects records on the device; :meth:`finish` fills a SampleResult."""

    def __init__(self, record: Record | None, x: Any, n_steps: int):
        self.active = record is not None
        self.steps: list[int] = []
        self.chain_ids: tuple[int, ...] = ()
        self.energies = False
        if record is None:
            return
        xp = get_array_module(x)
        n = x.shape[0]
        self.steps = recorded_steps(n_steps, int(record.every))
        self._slot = {s: k for k, s in enumerate(self.steps)}
        self.chain_ids = tuple(int(c) for c in record.chain_ids if int(c) < n)
        self._ids = xp.asarray(self.chain_ids, dtype=xp.int64)
        self.energies = bool(record.energies)
        k = len(self.steps)
        self._mean = xp.zeros(k, dtype=xp.float64) if self.energies else None
        self._chain_e = (xp.zeros((k, len(self.chain_ids)), dtype=xp.float64)
                         if self.energies and self.chain_ids else None)
        self._states = (xp.zeros((k, len(self.chain_ids), *x.shape[1:]), dtype=x.dtype)
                        if self.chain_ids else None)

    def wants(self, step: int) -> bool:
        """Whether ``step`` is a record point."""
        return self.active and step in self._slot

    def needs_energy(self, step: int) -> bool:
        """Whether a record at ``step`` needs E(x)."""
        return self.energies and self.wants(step)

    def take(self, step: int, x: Any, e: Any | None) -> None:
        """Record state x: (N, *shape) and energies e: (N,) (None if energies are off)."""
        if not self.wants(step):
            return
        k = self._slot[step]
        if self._mean is not None:
            self._mean[k] = e.mean(dtype=self._mean.dtype)
        if self._chain_e is not None:
            self._chain_e[k] = e[self._ids]
        if self._states is not None:
            self._states[k] = x[self._ids]

    def finish(self, result: SampleResult) -> SampleResult:
        """Copy the records to the host, into ``result``."""
        if not self.active:
            return result
        result.recorded_steps = np.asarray(self.steps, dtype=np.int64)
        result.chain_ids = self.chain_ids
        if self._mean is not None:
            result.energies_per_step = to_numpy(self._mean)
        if self._chain_e is not None:
            result.chain_energies = to_numpy(self._chain_e)
        if self._states is not None:
            result.chain_states = to_numpy(self._states)
        return result


def prepare_x(energy: Any, x0: Any) -> Any:
    """A working copy of x0: (N, *energy.input_shape), floating point, on x0's backend."""
    xp = get_array_module(x0)
    x = xp.array(x0, copy=True)
    if x.dtype.kind != "f":
        x = x.astype(xp.float32)
    shape = tuple(getattr(energy, "input_shape", x.shape[1:]))
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        raise ConfigError(f"the start states have shape {tuple(x.shape)}, but this energy takes "
                          f"(N, {', '.join(map(str, shape))}); give one state per chain")
    return x


def fixed_weights(energy: Any) -> AbstractContextManager[Any]:
    """The energy's fixed-weights scope (EnergyNet: layers may keep derived weights), else a no-op."""
    scope = getattr(energy, "fixed_weights", None)
    return scope() if scope is not None else nullcontext()


def prepare_fixed(x: Any, fixed_mask: Any | None, fixed_values: Any | None) -> tuple[Any | None, Any | None]:
    """(mask, values), both of x's full shape, or (None, None) when nothing is fixed.

    Writes the fixed values into x. mask is bool, True = held fixed.
    """
    if fixed_mask is None:
        if fixed_values is not None:
            raise ConfigError("fixed_values were given without a fixed_mask; give a mask "
                              "(True where the value is held) or drop the values")
        return None, None
    xp = get_array_module(x)
    mask = xp.asarray(fixed_mask)
    if mask.dtype != xp.bool_:
        raise ConfigError(f"fixed_mask must be a bool array (True = held fixed), got dtype {mask.dtype}")
    try:
        mask = xp.ascontiguousarray(xp.broadcast_to(mask, x.shape))
    except ValueError:
        raise ConfigError(f"fixed_mask has shape {tuple(mask.shape)}, which does not fit the "
                          f"states' shape {tuple(x.shape)}") from None
    if fixed_values is None:
        values = x.copy()
    else:
        try:
            values = xp.ascontiguousarray(
                xp.broadcast_to(xp.asarray(fixed_values, dtype=x.dtype), x.shape))
        except ValueError:
            raise ConfigError(f"fixed_values has shape {tuple(xp.shape(fixed_values))}, which does "
                              f"not fit the states' shape {tuple(x.shape)}") from None
        xp.copyto(x, values, where=mask)
    return mask, values


def zero_where(a: Any, mask: Any | None) -> Any:
    """a with entries under mask set to 0, in place; returns a."""
    if mask is not None:
        xp = get_array_module(a)
        xp.copyto(a, 0, where=mask)
    return a


def check_positive(name: str, value: float) -> None:
    if not (float(value) > 0.0 and np.isfinite(float(value))):
        raise ConfigError(f"{name} must be a positive number, got {value}")


def check_n_steps(n_steps: int) -> int:
    n = int(n_steps)
    if n < 0 or n != n_steps:
        raise ConfigError(f"n_steps must be a whole number >= 0, got {n_steps}")
    return n


def check_range(name: str, bounds: tuple[float, float] | None) -> tuple[float, float] | None:
    if bounds is None:
        return None
    lo, hi = (float(b) for b in bounds)
    if not lo < hi:
        raise ConfigError(f"{name} must be (low, high) with low < high, got {tuple(bounds)}")
    return lo, hi


def sq_norm(a: Any) -> Any:
    """Per-sample squared norm of a: (N, *shape) -> (N,) float64."""
    xp = get_array_module(a)
    flat = a.reshape(a.shape[0], -1)
    return (flat * flat).sum(axis=1, dtype=xp.float64)


def mh_accept(log_alpha: Any, rng: Any) -> Any:
    """Per-chain Metropolis-Hastings decision: (N,) bool; NaN or -inf is rejected."""
    xp = get_array_module(log_alpha)
    u = rng.random(log_alpha.shape[0], dtype=xp.float64)
    with np.errstate(divide="ignore"):
        log_u = xp.log(u)
    return log_u < log_alpha  # NaN compares False: rejected


def in_bounds(x: Any, bounds: tuple[float, float] | None) -> Any | None:
    """(N,) bool: every entry of each sample inside [lo, hi]; None without bounds."""
    if bounds is None:
        return None
    flat = x.reshape(x.shape[0], -1)
    return ((flat >= bounds[0]) & (flat <= bounds[1])).all(axis=1)


def accept_proposals(x: Any, g: Any, e: Any, x_new: Any, g_new: Any, e_new: Any, log_alpha: Any,
                     rng: Any, bounds: tuple[float, float] | None) -> tuple[Any, Any]:
    """Metropolis-Hastings for every chain: copy the accepted proposals into x, g, e in place.

    A proposal outside bounds is rejected. Returns (accepted: (N,) bool, the log_alpha used).
    """
    xp = get_array_module(x)
    inside = in_bounds(x_new, bounds)
    if inside is not None:
        log_alpha = xp.where(inside, log_alpha, -xp.inf)
    accepted = mh_accept(log_alpha, rng)
    per_chain = accepted.reshape((-1,) + (1,) * (x.ndim - 1))
    xp.copyto(x, x_new, where=per_chain)
    xp.copyto(g, g_new, where=per_chain)
    xp.copyto(e, e_new.astype(e.dtype, copy=False), where=accepted)
    return accepted, log_alpha


class MetropolisRun:
    """The state of an MH sampler's run (MALA, HMC): chains, energies, gradients, acceptance, records.

    x: (N, *shape) float states, updated in place by the sampler; e: (N,) float64;
    g: dE/dx with fixed entries zeroed.
    """

    def __init__(self, energy: Any, x0: Any, n_steps: int, record: Record | None,
                 fixed_mask: Any | None, fixed_values: Any | None):
        xp = get_array_module(x0)
        self.xp = xp
        self.x = prepare_x(energy, x0)
        self.mask, _ = prepare_fixed(self.x, fixed_mask, fixed_values)
        self.recorder = Recorder(record, self.x, n_steps)
        e0, g0 = energy.energy_and_grad(self.x)
        self.e = e0.astype(xp.float64)  # a copy: the energy may reuse its buffers
        self.g = zero_where(g0.copy(), self.mask)
        self.n_steps = n_steps
        self.per_step = xp.zeros(n_steps, dtype=xp.float64)
        self.per_chain = xp.zeros(self.x.shape[0], dtype=xp.int64)
        self.recorder.take(0, self.x, self.e)

    def count(self, step: int, accepted: Any) -> None:
        """Book step ``step``'s per-chain acceptance (N,) bool and record the new states."""
        self.per_step[step] = accepted.mean(dtype=self.xp.float64)
        self.per_chain += accepted
        self.recorder.take(step + 1, self.x, self.e)

    def result(self) -> SampleResult:
        result = SampleResult(x=self.x)
        if self.n_steps > 0:
            result.acceptance_per_step = to_numpy(self.per_step)
            result.acceptance_per_chain = to_numpy(self.per_chain) / float(self.n_steps)
            result.acceptance = float(result.acceptance_per_step.mean())
        return self.recorder.finish(result)
