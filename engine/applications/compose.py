"""Composition of trained energies: "A and B" (product of experts) and "A but not B".

    combo = compose([(open_model("ring_small"), 1.0), (open_model("gaussians_small"), 1.0)])
    out = sample_composed(combo, n=2000)        # out.x: (2000, 2), samples of p_A * p_B
    grid = density_on_grid(combo)               # 2D only: the normalised density on a grid

The composed energy is :class:`engine.energies.composite.WeightedSum`,
E(x) = sum_i w_i E_i(x), i.e. p(x) proportional to prod_i p_i(x)^{w_i}. Positive
weights ask for samples every expert likes; a negative weight pushes samples out
of that expert's low-energy region. A negative weight can make exp(-E) unbounded
(not normalisable) far away, which is why samples are clamped to the models'
common value range. Components may be OpenedModels, EnergyNets, JEMs or analytic
energies (anything with the Energy protocol).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .. import backend
from ..energies.composite import WeightedSum
from ..errors import ConfigError
from ..samplers.base import Record
from ..samplers.langevin import LangevinSampler
from ..samplers.mala import MALASampler
from .chains import TEXTBOOK, Progress, StepCounted
from .models import IMAGE_RANGE, POINTS_RANGE

__all__ = ["ComposeResult", "Composition", "DEFAULT_STEPS", "PRESET_FUNCTIONS", "compose", "compose_preset",
           "density_on_grid", "sample_composed"]

DEFAULT_STEPS = 500  # from uniform starts over the box: long enough to cross it at the 2D toys' step sizes


@dataclass
class Composition:
    """A weighted sum of energies and what is known about its parts.

    energy: the WeightedSum (Energy protocol: energy, energy_and_grad, input_shape).
    names: a label per component; weights: w_i per component.
    value_range: (lo, hi), the box all components were trained in (their intersection):
        samples are clamped to it.
    sampler: default Langevin settings, from the first component that has a training
        sampler (step_size, noise; None = sqrt(2 step)).
    """

    energy: WeightedSum
    names: list[str]
    weights: list[float]
    value_range: tuple[float, float]
    sampler: dict[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.energy.input_shape

    def describe(self) -> str:
        """E.g. "1 * ring_small - 0.5 * gaussians_small"."""
        parts = []
        for i, (w, name) in enumerate(zip(self.weights, self.names)):
            sign = "-" if w < 0 else ("+" if i else "")
            parts.append(f"{sign} {abs(w):g} * {name}".strip())
        return " ".join(parts)


@dataclass
class ComposeResult:
    """Samples of a composed energy (host NumPy arrays).

    x: (n, *input_shape) final states; energies: (K,) mean composed energy at ``steps``;
    chains: (K, c, *input_shape) a few recorded chains; steps: (K,) step of each record;
    acceptance: MALA's mean acceptance rate, None for Langevin; settings: what was used.
    """

    x: np.ndarray
    energies: np.ndarray
    chains: np.ndarray
    steps: np.ndarray
    acceptance: float | None
    settings: dict[str, Any]


def _unpack(item: Any, index: int) -> tuple[Any, float]:
    if isinstance(item, (tuple, list)) and len(item) == 2:
        model, weight = item
    else:
        model, weight = item, 1.0
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
        raise ConfigError(f"compose: the weight of component {index} must be a finite number, got {weight!r}")
    return model, float(weight)


def _label(model: Any, index: int) -> str:
    return str(getattr(model, "name", "") or f"{type(model).__name__} {index}")


def compose(models_with_weights: Sequence[Any]) -> Composition:
    """Combine energies with weights: E = sum_i w_i E_i.

    models_with_weights: items (model, weight) or bare models (weight 1); a model is an
    OpenedModel (engine.applications.models), an EnergyNet, a JEM or any Energy.
    ConfigError when there are none, a weight is not finite, or input shapes differ.
    """
    items = [_unpack(item, i) for i, item in enumerate(models_with_weights)]
    if not items:
        raise ConfigError("compose: give at least one model (two or more to compose)")
    energies, names, ranges, sampler = [], [], [], {}
    for i, (model, _) in enumerate(items):
        opened = hasattr(model, "sampler_settings") and hasattr(model, "model")
        energy = model.model if opened else model
        if not all(hasattr(energy, a) for a in ("input_shape", "energy", "energy_and_grad")):
            raise ConfigError(f"compose: component {i} ({type(model).__name__}) is not an energy model")
        energies.append(energy)
        names.append(_label(model, i))
        if opened:
            ranges.append(tuple(float(v) for v in model.value_range))
            if not sampler and model.config is not None:
                found = model.sampler_settings()
                sampler = {"step_size": found["step_size"], "noise": found["noise"]}
    shapes = [tuple(e.input_shape) for e in energies]
    if len(set(shapes)) != 1:
        listing = ", ".join(f"{name} takes {shape}" for name, shape in zip(names, shapes))
        raise ConfigError(f"compose: the models must take inputs of the same shape, but {listing}; "
                          "compose models trained on the same kind of data")
    if not ranges:
        ranges = [POINTS_RANGE if len(shapes[0]) == 1 else IMAGE_RANGE]
    lo, hi = max(r[0] for r in ranges), min(r[1] for r in ranges)
    if not hi > lo:
        raise ConfigError(f"compose: the models' value ranges {ranges} do not overlap")
    weights = [w for _, w in items]
    return Composition(WeightedSum(energies, weights), names, weights, (lo, hi), sampler)


def sample_composed(composition: Composition | Sequence[Any], n: int = 2000, n_steps: int = DEFAULT_STEPS,
                    step_size: float | None = None, noise: float | str | None = None, sampler: str = "langevin",
                    seed: int = 0, n_chains: int = 4, record_every: int = 10,
                    progress: Progress | None = None) -> ComposeResult:
    """Draw n samples of p(x) ~ exp(-sum_i w_i E_i(x)), chains started uniformly over the value range.

    composition: from :func:`compose`, or what compose takes. sampler: "langevin"
    (step_size multiplies dE/dx; noise a std, or "textbook" for sqrt(2 step_size)) or "mala"
    (exact Metropolis test; the same step_size). None, as in every application: the first
    component's training sampler (else step 0.01, textbook noise). States stay clamped to the
    value range.
    n_chains chains are recorded every ``record_every`` steps (trajectories).
    progress: called as progress(steps done, n_steps) along the run; an exception it raises
    (a user's stop) ends the run.
    """
    combo = composition if isinstance(composition, Composition) else compose(composition)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"n (the number of samples) must be a positive integer, got {n!r}")
    step = float(step_size if step_size is not None else combo.sampler.get("step_size", 0.01))
    if noise is None:
        noise = combo.sampler.get("noise")  # as trained (None there: textbook)
    elif isinstance(noise, str):
        if noise != TEXTBOOK:
            raise ConfigError(f"noise must be a number >= 0 or {TEXTBOOK!r} (sqrt(2 step)), got {noise!r}")
        noise = None
    lo, hi = combo.value_range
    if sampler == "langevin":
        run = LangevinSampler(step_size=step, noise=noise, clamp=(lo, hi), n_steps=int(n_steps))
    elif sampler == "mala":
        run = MALASampler(step_size=step, n_steps=int(n_steps), bounds=(lo, hi))
    else:
        raise ConfigError(f"sampler must be 'langevin' or 'mala', got {sampler!r}")
    xp = _array_module(combo)
    x0 = np.random.default_rng([int(seed), 0xC0]).uniform(lo, hi, (int(n), *combo.input_shape))
    x0 = xp.asarray(x0.astype(np.float32))
    rng = np.random.default_rng([int(seed), 1]) if xp is np else backend.make_rng(int(seed))
    record = Record(chain_ids=tuple(range(min(int(n_chains), int(n)))), every=int(record_every))
    energy = combo.energy if progress is None else StepCounted(combo.energy, int(n_steps), progress)
    result = run.run(energy, x0, rng, record=record)
    settings = {"sampler": sampler, "n_steps": int(n_steps), "step_size": step, "noise": noise,
                "clamp": (lo, hi), "seed": int(seed)}
    chains = result.chain_states if result.chain_states is not None else np.zeros((0, 0, *combo.input_shape))
    return ComposeResult(np.asarray(backend.to_numpy(result.x)), np.asarray(result.energies_per_step),
                         np.asarray(chains), np.asarray(result.recorded_steps), result.acceptance, settings)


def _array_module(combo: Composition) -> Any:
    """The array module of the first neural component (its parameters live there), else NumPy."""
    for e in combo.energy.energies:
        net = getattr(e, "net", e)
        if getattr(net, "xp", None) is not None:
            return net.xp
    return np


def density_on_grid(composition: Composition | Sequence[Any], box: Sequence[float] | None = None,
                    resolution: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The normalised composed density of a 2D composition on a grid (float64).

    box: (xmin, xmax, ymin, ymax), default the value range squared. Returns (xs (R,),
    ys (R,), p (R, R)) with p[i, j] the density at (xs[j], ys[i]), normalised so that
    its Riemann sum over the box is 1 (mass outside the box is ignored).
    """
    combo = composition if isinstance(composition, Composition) else compose(composition)
    if combo.input_shape != (2,):
        raise ConfigError(f"density_on_grid is for 2D points; this composition takes {combo.input_shape}")
    lo, hi = combo.value_range
    x0, x1, y0, y1 = (lo, hi, lo, hi) if box is None else (float(v) for v in box)
    r = int(resolution)
    if r < 2 or not (x1 > x0 and y1 > y0):
        raise ConfigError(f"density_on_grid needs resolution >= 2 and a box with xmin < xmax, ymin < ymax, "
                          f"got {resolution!r}, {box!r}")
    xs, ys = np.linspace(x0, x1, r), np.linspace(y0, y1, r)
    gx, gy = np.meshgrid(xs, ys)
    points = np.stack([gx.ravel(), gy.ravel()], axis=1)
    xp = _array_module(combo)
    e = np.asarray(backend.to_numpy(combo.energy.energy(xp.asarray(points))), np.float64)  # float64 points
    log_p = -e.reshape(r, r)
    log_p -= log_p.max()  # exp of the shifted values cannot overflow
    p = np.exp(log_p)
    cell = (xs[1] - xs[0]) * (ys[1] - ys[0])
    return xs, ys, p / (p.sum() * cell)


def compose_preset(models: Sequence[Any], n: int = 2000, n_steps: int = DEFAULT_STEPS,
                   step_size: float | None = None, noise: float | None = None, sampler: str = "langevin",
                   seed: int = 0) -> ComposeResult:
    """The application preset's entry (kind "compose"): models is a list of (OpenedModel, weight)."""
    return sample_composed(compose(models), n=n, n_steps=n_steps, step_size=step_size, noise=noise,
                           sampler=sampler, seed=seed)


# The application presets' entry point (engine.applications.preset): kind "compose".
PRESET_FUNCTIONS = {"compose": compose_preset}
