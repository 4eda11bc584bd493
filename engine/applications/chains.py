"""Langevin chains for the applications, recorded as a filmstrip of frames.

Every application runs the same practical Langevin sampler the models were
trained with (:class:`~engine.samplers.LangevinSampler`), with defaults taken
from the model's training config (:meth:`OpenedModel.sampler_settings`), and
records ``frames`` snapshots (the start, evenly spaced steps, the end) with
the energy of every chain at each one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backend
from ..errors import ConfigError
from ..samplers import LangevinSampler
from .models import OpenedModel

TEXTBOOK = "textbook"  # noise = sqrt(2 step): the chain samples exp(-E) (up to the step-size bias)
GENERIC_SETTINGS = {"n_steps": 100, "step_size": 0.01, "noise": None, "clip_grad": None, "clamp": None}
PROGRESS_CALLS = 50  # a progress callback hears about this many pieces of a chain (at most)

Progress = Callable[[int, int], None]  # (steps done, steps in all); may raise to abandon the run


@dataclass
class Frames:
    """A recorded chain run.

    x: (N, *shape) final states (host NumPy). filmstrip: (F, N, *shape) states at
    ``steps``; energies: (F, N) float64 energy of every chain at each frame;
    steps: (F,) sampler step of each frame (0 = the start).
    """

    x: np.ndarray
    filmstrip: np.ndarray
    energies: np.ndarray
    steps: np.ndarray


def energy_of(model: Any) -> Any:
    """The Energy inside an OpenedModel (or the object itself)."""
    return model.model if isinstance(model, OpenedModel) else model


def array_module(model: Any) -> Any:
    """The array module of a model's parameters (NumPy for analytic energies)."""
    energy = energy_of(model)
    params = getattr(getattr(energy, "jem", energy), "parameters", None)  # a JEM's class-conditional: its JEM
    arrays = params() if callable(params) else []
    return backend.get_array_module(*arrays[:1])


def make_sampler(model: Any, n_steps: int | None = None, step_size: float | None = None,
                 noise: float | str | None = None, clip_grad: float | None = None,
                 clamp: Any = None) -> tuple[LangevinSampler, int]:
    """(sampler, n_steps): the model's training sampler settings, each replaced where given.

    None always means "as the model was trained" (an OpenedModel's sampler_settings(),
    GENERIC_SETTINGS for a bare energy). noise: a std >= 0, or "textbook" for sqrt(2 step);
    clip_grad: a bound > 0, or 0 for no clipping; clamp: (lo, hi), or False / () for none.
    """
    s = model.sampler_settings() if isinstance(model, OpenedModel) else dict(GENERIC_SETTINGS)
    n = s["n_steps"] if n_steps is None else int(n_steps)
    if n < 0:
        raise ConfigError(f"n_steps must be >= 0, got {n_steps}")
    step = s["step_size"] if step_size is None else float(step_size)
    if noise is None:
        nz = s["noise"]
    elif isinstance(noise, str):
        if noise != TEXTBOOK:
            raise ConfigError(f"noise must be a number >= 0 or {TEXTBOOK!r} (sqrt(2 step)), got {noise!r}")
        nz = None
    else:
        nz = float(noise)
    clip = s["clip_grad"] if clip_grad is None else (float(clip_grad) or None)
    lim = s["clamp"] if clamp is None else (tuple(clamp) if clamp is not False and len(clamp) else None)
    if lim is not None and len(lim) != 2:
        raise ConfigError(f"clamp must be (low, high), got {clamp!r}")
    sampler = LangevinSampler(step_size=step, noise=nz, clip_grad=clip,
                              clamp=None if lim is None else (float(lim[0]), float(lim[1])), n_steps=n)
    return sampler, n


def frame_steps(n_steps: int, frames: int) -> np.ndarray:
    """(F,) the steps at which frames are taken: 0 ... n_steps, about evenly spaced, no repeats."""
    if int(frames) < 2:
        raise ConfigError(f"frames must be at least 2 (the start and the end), got {frames}")
    return np.unique(np.linspace(0, n_steps, int(frames)).round().astype(np.int64))


def run_frames(energy: Any, x0: Any, sampler: LangevinSampler, n_steps: int, frames: int, seed: int,
               fixed_mask: Any = None, fixed_values: Any = None, progress: Progress | None = None) -> Frames:
    """Run ``sampler`` on ``energy`` from x0: (N, *shape) for n_steps, keeping ``frames`` snapshots.

    The run is cut into segments between frames, all drawing from one generator, so it is
    the same chain as one uninterrupted run. fixed_mask/fixed_values: as for the samplers
    (True = held at the value). progress: called as progress(done, n_steps) at the start and
    after every piece of about n_steps / PROGRESS_CALLS steps (the same chain again); an
    exception it raises (e.g. a user's stop) ends the run there.
    """
    xp = array_module(energy)
    rng = np.random.default_rng(seed) if xp is np else backend.make_rng(seed)
    x = xp.asarray(x0)
    if fixed_mask is not None:
        fixed_mask = xp.asarray(fixed_mask)
        fixed_values = None if fixed_values is None else xp.asarray(fixed_values, dtype=x.dtype)
        if fixed_values is not None:  # the first frame shows the held entries already
            x = xp.where(fixed_mask, fixed_values, x).astype(x.dtype)
    steps = frame_steps(n_steps, frames)
    piece = n_steps if progress is None else max(1, -(-n_steps // PROGRESS_CALLS))
    if progress is not None:
        progress(0, n_steps)
    strip, energies = [], []
    done = 0
    for target in steps:
        while target > done:
            k = min(int(target) - done, piece)
            x = sampler.run(energy, x, rng, n_steps=k, fixed_mask=fixed_mask, fixed_values=fixed_values).x
            done += k
            if progress is not None:
                progress(done, n_steps)
        strip.append(backend.to_numpy(x).copy())
        energies.append(backend.to_numpy(energy.energy(x)).astype(np.float64))
    return Frames(strip[-1], np.stack(strip), np.stack(energies), steps)


class StepCounted:
    """``energy`` that tells ``progress(done, n_steps)`` how far a sampler run has got, for runs that
    cannot be cut into pieces (one recorded chain): each gradient evaluation is one step
    (Langevin, MALA; HMC makes a few per step, so its count runs ahead and is capped).
    About PROGRESS_CALLS calls; an exception progress raises ends the run. Everything else
    is the wrapped energy's."""

    def __init__(self, energy: Any, n_steps: int, progress: Progress):
        self._energy = energy
        self._total = max(1, int(n_steps))
        self._every = max(1, -(-self._total // PROGRESS_CALLS))
        self._progress = progress
        self._done = 0
        progress(0, self._total)

    def energy_and_grad(self, x: Any) -> Any:
        out = self._energy.energy_and_grad(x)
        self._done += 1
        if self._done % self._every == 0 or self._done == self._total:
            self._progress(min(self._done, self._total), self._total)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._energy, name)
