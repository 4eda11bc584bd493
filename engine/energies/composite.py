"""Composition of energies: E(x) = sum_i w_i E_i(x).

With all weights > 0 this is a product of experts, p(x) proportional to
prod_i p_i(x)^{w_i}: a sample must satisfy every expert ("A and B"). A
negative weight subtracts an expert ("A but not B"): E = E_A - lam E_B pushes
samples away from B's low-energy region. Beware that a negative weight can
make the sum unbounded below (for instance E_A quadratic minus a steeper
E_B), so that exp(-E) is no longer normalisable and samplers drift away;
keep lam small or clamp the samples.

Any energies that share ``input_shape`` compose, analytic or neural
(EnergyNet, JEM, another WeightedSum): only the Energy protocol is used.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from .analytic import energy_from_spec
from .base import Energy


class WeightedSum:
    """E(x) = sum_i w_i E_i(x) and dE/dx = sum_i w_i dE_i/dx, exactly.

    energies: one or more objects with ``input_shape``, ``energy`` and
        ``energy_and_grad`` (the Energy protocol), all with the same input_shape.
    weights: one finite number per energy (default all 1); 0 drops an expert's
        contribution but still evaluates it.
    Outputs take x's floating dtype when x is floating (so a float64 network
    does not upcast a float32 Langevin chain, and vice versa).
    """

    kind = "weighted_sum"

    def __init__(self, energies: Sequence[Energy], weights: Sequence[float] | None = None):
        energies = list(energies)
        if not energies:
            raise ConfigError("weighted_sum: give at least one energy to combine")
        for i, e in enumerate(energies):
            if not all(hasattr(e, name) for name in ("input_shape", "energy", "energy_and_grad")):
                raise ConfigError(f"weighted_sum: item {i} ({type(e).__name__}) is not an energy "
                                  "(needs input_shape, energy and energy_and_grad)")
        shapes = {tuple(e.input_shape) for e in energies}
        if len(shapes) != 1:
            listing = ", ".join(f"{type(e).__name__} {tuple(e.input_shape)}" for e in energies)
            raise ConfigError(f"weighted_sum: the energies must share one input shape, got {listing}")
        if weights is None:
            weights = [1.0] * len(energies)
        weights = list(weights)
        if len(weights) != len(energies):
            raise ConfigError(f"weighted_sum: {len(energies)} energies need {len(energies)} weights, got {len(weights)}")
        for w in weights:
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
                raise ConfigError(f"weighted_sum: weights must be finite numbers, got {w!r}")
        self.energies: list[Energy] = energies
        self.weights: list[float] = [float(w) for w in weights]
        self.input_shape: tuple[int, ...] = shapes.pop()

    def _out_dtype(self, x: Any) -> Any:
        return x.dtype if np.issubdtype(x.dtype, np.floating) else None

    def energy(self, x: Any) -> Any:
        """E(x): (N,) for x: (N, *input_shape)."""
        dtype = self._out_dtype(x)
        total = None
        for w, e in zip(self.weights, self.energies):
            term = e.energy(x)
            if dtype is not None:
                term = term.astype(dtype, copy=False)
            term = term * w
            total = term if total is None else total + term
        return total

    def energy_and_grad(self, x: Any) -> tuple[Any, Any]:
        """(E(x): (N,), dE/dx: x.shape); no parameter gradients."""
        dtype = self._out_dtype(x)
        total_e = total_g = None
        for w, e in zip(self.weights, self.energies):
            ei, gi = e.energy_and_grad(x)
            if dtype is not None:
                ei, gi = ei.astype(dtype, copy=False), gi.astype(dtype, copy=False)
            if total_e is None:
                total_e, total_g = ei * w, gi * w  # fresh arrays: never alias a component's output
            else:
                total_e += ei * w
                total_g += gi * w
        assert total_g is not None and tuple(total_g.shape) == tuple(x.shape)
        return total_e, total_g

    def spec(self) -> dict[str, Any]:
        """{"type": "weighted_sum", "energies": [spec, ...], "weights": [...]}.

        Only for components that have a ``spec()`` (analytic energies, nested
        sums); a neural energy is saved as a model file instead.
        """
        specs = []
        for i, e in enumerate(self.energies):
            if not callable(getattr(e, "spec", None)):
                raise ConfigError(f"weighted_sum: component {i} ({type(e).__name__}) has no spec; "
                                  "save neural energies as model files and compose them after loading")
            specs.append(e.spec())  # type: ignore[attr-defined]
        return {"type": self.kind, "energies": specs, "weights": list(self.weights)}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "WeightedSum":
        """A sum of analytic energies (or nested sums) from :meth:`spec`'s data."""
        if not isinstance(spec, dict) or spec.get("type", cls.kind) != cls.kind or "energies" not in spec:
            raise ConfigError(f"weighted_sum: a spec needs type 'weighted_sum' and a list of 'energies', got {spec!r}")
        unknown = set(spec) - {"type", "energies", "weights"}
        if unknown:
            raise ConfigError(f"weighted_sum: unknown setting(s) {sorted(unknown)}; allowed: ['energies', 'weights']")
        parts = [_part_from_spec(s) for s in spec["energies"]]
        return cls(parts, spec.get("weights"))

    def __repr__(self) -> str:
        terms = " + ".join(f"{w:g} * {e!r}" for w, e in zip(self.weights, self.energies))
        return f"WeightedSum({terms})"


def _part_from_spec(spec: Any) -> Any:
    """An analytic energy or a nested weighted sum from its spec."""
    if isinstance(spec, dict) and spec.get("type") == WeightedSum.kind:
        return WeightedSum.from_spec(spec)
    return energy_from_spec(spec)
