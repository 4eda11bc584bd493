"""Analytic 2D energies with exact gradients: toy landscapes for sampling and composition.

Each class satisfies :class:`engine.energies.base.Energy` with ``input_shape = (2,)``:
``energy(x)`` maps x: (N, 2) to E: (N,), ``energy_and_grad(x)`` also gives
dE/dx: (N, 2). Arithmetic runs on x's array module (NumPy or CuPy) in x's
floating dtype (integer inputs are computed in float64). Parameters are
constructor arguments with defaults; ``spec()`` returns plain data
``{"type": name, ...}`` that :func:`energy_from_spec` (or ``cls.from_spec``)
turns back into an equal energy.

Every energy here is normalisable, and ``log_partition()`` gives
log Z = log of the integral of exp(-E) over the plane, so that
log p(x) = -E(x) - log Z exactly (closed form, or a 1D quadrature for the
double well). :class:`GaussianMixture` is normalised: E = -log p, log Z = 0.
"""

from __future__ import annotations

import copy
import math
from typing import Any, ClassVar

import numpy as np

from ..backend import get_array_module
from ..errors import ConfigError


def _float_input(x: Any, dim: int, name: str) -> Any:
    """Check x: (N, dim) and return it as a floating array on its own module."""
    if getattr(x, "ndim", None) != 2 or x.shape[1] != dim:
        raise ConfigError(f"{name} expects points of shape (N, {dim}), got {tuple(getattr(x, 'shape', ()))}")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    return x


def _positive(name: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name}: {key} must be a finite number > 0, got {value!r}")
    return float(value)


def _finite(name: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name}: {key} must be a finite number, got {value!r}")
    return float(value)


class AnalyticEnergy:
    """Shared plumbing: the spec round trip and ``energy`` via :meth:`energy_and_grad`."""

    kind: ClassVar[str] = ""
    input_shape: tuple[int, ...] = (2,)

    def spec(self) -> dict[str, Any]:
        """Plain data (JSON/TOML-safe) that :meth:`from_spec` turns back into this energy."""
        return {"type": self.kind, **self._params()}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "AnalyticEnergy":
        """The energy described by ``spec`` (its "type", if present, must be this class's)."""
        if not isinstance(spec, dict):
            raise ConfigError(f"{cls.kind}: a spec must be a table, got {type(spec).__name__}")
        args = dict(spec)
        kind = args.pop("type", cls.kind)
        if kind != cls.kind:
            raise ConfigError(f"a spec of type {kind!r} cannot build a {cls.kind!r} energy")
        try:
            return cls(**args)
        except TypeError as exc:  # unknown keyword
            raise ConfigError(f"{cls.kind}: {exc}; allowed settings: {sorted(cls().spec())}") from None

    def _params(self) -> dict[str, Any]:
        raise NotImplementedError

    def energy(self, x: Any) -> Any:
        """E(x): (N,) for x: (N, 2)."""
        raise NotImplementedError

    def energy_and_grad(self, x: Any) -> tuple[Any, Any]:
        """(E(x): (N,), dE/dx: (N, 2)) for x: (N, 2)."""
        raise NotImplementedError

    def log_partition(self) -> float:
        """log Z, Z = integral of exp(-E(x)) dx over the plane."""
        raise NotImplementedError

    def log_prob(self, x: Any) -> Any:
        """log p(x) = -E(x) - log Z: (N,)."""
        return -self.energy(x) - self.log_partition()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.spec() == self.spec()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(repr(self.spec()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"


# --- Gaussian mixture ----------------------------------------------------------------------------


def _default_means() -> list[list[float]]:
    """Eight modes on a circle of radius 2 (the classic "8 gaussians" toy)."""
    return [[round(2.0 * math.cos(2 * math.pi * k / 8), 12), round(2.0 * math.sin(2 * math.pi * k / 8), 12)]
            for k in range(8)]


class GaussianMixture(AnalyticEnergy):
    """E(x) = -log sum_k w_k N(x; mu_k, Sigma_k), exactly (normalised: log Z = 0).

    means: (K, D) component centres (D = 2 for the GUI; any D >= 1 works).
    stds: the components' standard deviations, one of: a number (all components,
        isotropic), (K,) (isotropic per component), (K, D) (diagonal per component).
    covariances: instead of stds, full covariances (D, D) shared or (K, D, D),
        symmetric positive definite.
    weights: (K,) positive mixture weights, normalised to sum 1 here (default equal).

    Evaluated with a log-sum-exp over components, so energies far from every
    mode stay finite and gradients never divide by a vanishing density:
    dE/dx = sum_k r_k(x) Sigma_k^{-1} (x - mu_k) with responsibilities r_k.
    """

    kind = "gaussian_mixture"

    def __init__(self, means: Any = None, stds: Any = None, covariances: Any = None, weights: Any = None):
        name = self.kind
        if means is None:
            means = _default_means()
            if stds is None and covariances is None:
                stds = 0.25
        mu = np.array(means, dtype=np.float64)
        if mu.ndim == 1:
            mu = mu[None, :]
        if mu.ndim != 2 or mu.shape[0] < 1 or mu.shape[1] < 1 or not np.isfinite(mu).all():
            raise ConfigError(f"{name}: means must be a finite (K, D) table of component centres, got shape {mu.shape}")
        k, d = mu.shape
        if stds is not None and covariances is not None:
            raise ConfigError(f"{name}: give either stds or covariances, not both")
        if covariances is not None:
            cov = np.array(covariances, dtype=np.float64)
            if cov.shape == (d, d):
                cov = np.broadcast_to(cov, (k, d, d)).copy()
            if cov.shape != (k, d, d):
                raise ConfigError(f"{name}: covariances must have shape ({d}, {d}) or ({k}, {d}, {d}), got {cov.shape}")
        else:
            s = np.array(1.0 if stds is None else stds, dtype=np.float64)
            if s.ndim == 0:
                s = np.full((k, d), float(s))
            elif s.shape == (k,):
                s = np.repeat(s[:, None], d, axis=1)
            if s.shape != (k, d):
                raise ConfigError(f"{name}: stds must be a number, ({k},) or ({k}, {d}), got shape {s.shape}")
            if not (np.isfinite(s).all() and (s > 0).all()):
                raise ConfigError(f"{name}: stds must be finite and > 0")
            cov = np.zeros((k, d, d))
            idx = np.arange(d)
            cov[:, idx, idx] = s * s
        if not np.isfinite(cov).all() or not np.allclose(cov, cov.transpose(0, 2, 1), rtol=1e-12, atol=0.0):
            raise ConfigError(f"{name}: covariances must be finite and symmetric")
        try:
            chol = np.linalg.cholesky(cov)  # Sigma_k = C_k C_k^T
        except np.linalg.LinAlgError:
            raise ConfigError(f"{name}: every covariance must be positive definite") from None
        w = np.array(np.ones(k) if weights is None else weights, dtype=np.float64)
        if w.shape != (k,) or not (np.isfinite(w).all() and (w > 0).all()):
            raise ConfigError(f"{name}: weights must be {k} finite numbers > 0, got {weights!r}")

        self.input_shape = (d,)
        self.means = mu
        self.covariances = cov
        self.weights = w / w.sum()
        self._given = {"means": mu.tolist(),
                       **({"covariances": np.array(covariances, dtype=np.float64).tolist()} if covariances is not None
                          else {"stds": np.array(1.0 if stds is None else stds, dtype=np.float64).tolist()}),
                       "weights": w.tolist()}
        # whitening A_k = C_k^{-1}: z = A_k (x - mu_k), quad = |z|^2, Sigma^{-1}(x - mu) = A^T z
        self._whiten = np.linalg.inv(chol)
        logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        self._log_const = np.log(self.weights) - 0.5 * d * math.log(2 * math.pi) - 0.5 * logdet  # (K,)
        self._cache: dict[tuple[Any, Any], tuple[Any, Any, Any]] = {}

    def _params(self) -> dict[str, Any]:
        return copy.deepcopy(self._given)

    def _arrays(self, xp: Any, dtype: Any) -> tuple[Any, Any, Any, Any]:
        """(A stacked (K*D, D), A mu (K, D, 1), log constants (K, 1), A^T side by side (D, K*D)) on xp."""
        key = (xp.__name__, np.dtype(dtype).str)
        if key not in self._cache:
            a = self._whiten
            k, d, _ = a.shape
            host = (a.reshape(k * d, d), np.matmul(a, self.means[:, :, None]), self._log_const[:, None],
                    np.ascontiguousarray(a.transpose(2, 0, 1).reshape(d, k * d)))
            self._cache[key] = tuple(xp.asarray(h, dtype=dtype) for h in host)
        return self._cache[key]

    def _components(self, x: Any) -> tuple[Any, Any]:
        """log of w_k N(x; mu_k, Sigma_k): (K, N) and the whitened offsets z = A_k (x - mu_k): (K, D, N).

        One GEMM, A x - A mu, with the batch as the long contiguous axis (fast for
        grids of a million points); reductions run over short leading axes.
        """
        x = _float_input(x, self.input_shape[0], self.kind)
        xp = get_array_module(x)
        a_stack, a_mu, c, _ = self._arrays(xp, x.dtype)
        k, d = self.means.shape
        z = xp.matmul(a_stack, x.T).reshape(k, d, x.shape[0])
        z -= a_mu
        logc = (z * z).sum(axis=1)
        logc *= -0.5
        logc += c
        return logc, z

    def energy(self, x: Any) -> Any:
        """E(x) = -log p(x): (N,) for x: (N, D)."""
        logc, _ = self._components(x)
        return -_logsumexp0(logc)

    def energy_and_grad(self, x: Any) -> tuple[Any, Any]:
        """(E(x): (N,), dE/dx: (N, D)).

        dE/dx = sum_k r_k Sigma_k^{-1} (x - mu_k) = sum_k A_k^T (r_k z_k), r = softmax_k log-components.
        """
        logc, z = self._components(x)
        xp = get_array_module(logc)
        k, d, n = z.shape
        lse = _logsumexp0(logc)
        logc -= lse
        resp = xp.exp(logc, out=logc)  # (K, N), sums to 1 over K
        z *= resp[:, None, :]
        grad_t = xp.matmul(self._arrays(xp, z.dtype)[3], z.reshape(k * d, n))  # (D, N)
        return -lse, xp.ascontiguousarray(grad_t.T)

    def log_partition(self) -> float:
        return 0.0

    def density(self, x: Any) -> Any:
        """p(x) = exp(-E(x)): (N,)."""
        xp = get_array_module(x)
        return xp.exp(-self.energy(x))


def _logsumexp0(a: Any) -> Any:
    """log sum exp over axis 0, stable: a: (K, N) -> (N,)."""
    xp = get_array_module(a)
    m = a.max(axis=0)
    return m + xp.log(xp.exp(a - m[None, :]).sum(axis=0))


# --- double well ----------------------------------------------------------------------------------


class DoubleWell(AnalyticEnergy):
    """E(x, y) = a ((x / s)^2 - 1)^2 + b y^2.

    a: barrier height (the energy at x = 0 above the two minima), > 0;
    b: stiffness across the wells (y | x ~ N(0, 1 / (2 b))), > 0;
    s: position of the two minima (x = -s, +s, y = 0), > 0.
    The two wells are equally deep; exp(-a) is the density at the saddle
    relative to the minima, so large a makes mixing between wells slow.
    """

    kind = "double_well"

    def __init__(self, a: float = 4.0, b: float = 1.0, s: float = 1.5):
        self.a = _positive(self.kind, "a", a)
        self.b = _positive(self.kind, "b", b)
        self.s = _positive(self.kind, "s", s)

    def _params(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "s": self.s}

    def energy(self, x: Any) -> Any:
        x = _float_input(x, 2, self.kind)
        u = x[:, 0] * x[:, 0] * (1.0 / (self.s * self.s)) - 1.0
        return self.a * u * u + self.b * x[:, 1] * x[:, 1]

    def energy_and_grad(self, x: Any) -> tuple[Any, Any]:
        x = _float_input(x, 2, self.kind)
        xp = get_array_module(x)
        inv_s2 = 1.0 / (self.s * self.s)
        u = x[:, 0] * x[:, 0] * inv_s2 - 1.0
        e = self.a * u * u + self.b * x[:, 1] * x[:, 1]
        grad = xp.empty_like(x)
        grad[:, 0] = (4.0 * self.a * inv_s2) * u * x[:, 0]
        grad[:, 1] = (2.0 * self.b) * x[:, 1]
        return e, grad

    def log_partition(self) -> float:
        """log Z = log sqrt(pi / b) + log of the x-integral (trapezoid quadrature, ~1e-12 accurate)."""
        # exp(-a u^2) < e^-60 once u > sqrt(60 / a): integrate |x| < s sqrt(1 + sqrt(60 / a))
        half = self.s * math.sqrt(1.0 + math.sqrt(60.0 / self.a))
        t = np.linspace(-half, half, 200_001)
        u = (t / self.s) ** 2 - 1.0
        zx = float(np.sum(np.exp(-self.a * u * u)) * (t[1] - t[0]))  # the ends are ~0: trapezoid = sum
        return math.log(zx) + 0.5 * math.log(math.pi / self.b)


# --- ring -----------------------------------------------------------------------------------------


class Ring(AnalyticEnergy):
    """E(x) = ((|x| - radius) / width)^2 / 2: a Gaussian ridge around a circle.

    radius: the circle's radius (>= 0); width: the radial standard deviation (> 0).
    dE/dx = (|x| - radius) / width^2 * x / |x|; at the origin (a cone tip when
    radius > 0) the gradient is taken as 0.
    """

    kind = "ring"

    def __init__(self, radius: float = 2.0, width: float = 0.2):
        if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not math.isfinite(radius) or radius < 0:
            raise ConfigError(f"{self.kind}: radius must be a finite number >= 0, got {radius!r}")
        self.radius = float(radius)
        self.width = _positive(self.kind, "width", width)

    def _params(self) -> dict[str, Any]:
        return {"radius": self.radius, "width": self.width}

    def energy(self, x: Any) -> Any:
        x = _float_input(x, 2, self.kind)
        xp = get_array_module(x)
        t = (xp.sqrt((x * x).sum(axis=1)) - self.radius) * (1.0 / self.width)
        return 0.5 * t * t

    def energy_and_grad(self, x: Any) -> tuple[Any, Any]:
        x = _float_input(x, 2, self.kind)
        xp = get_array_module(x)
        r = xp.sqrt((x * x).sum(axis=1))
        t = (r - self.radius) * (1.0 / self.width)
        # (r - R) / w^2 / r, with 0 at r = 0 (where x = 0 as well)
        safe_r = xp.where(r > 0, r, 1.0)
        scale = xp.where(r > 0, t * (1.0 / self.width) / safe_r, 0.0).astype(x.dtype, copy=False)
        return 0.5 * t * t, scale[:, None] * x

    def log_partition(self) -> float:
        """Z = 2 pi (w^2 exp(-R^2 / 2w^2) + R w sqrt(pi/2) (1 + erf(R / (sqrt2 w))))."""
        r, w = self.radius, self.width
        z = w * w * math.exp(-r * r / (2 * w * w)) + r * w * math.sqrt(math.pi / 2) * (1 + math.erf(r / (math.sqrt(2) * w)))
        return math.log(2 * math.pi * z)


# --- banana ---------------------------------------------------------------------------------------


class Banana(AnalyticEnergy):
    """E(x, y) = (x / a)^2 / 2 + ((y - c x^2 - d) / b)^2 / 2: a bent Gaussian (Rosenbrock-like).

    Equivalently x ~ N(0, a^2) and y | x ~ N(c x^2 + d, b^2):
    a: spread along the banana (> 0); b: its thickness (> 0);
    c: curvature (0 gives an axis-aligned Gaussian); d: vertical offset
    (the default d = -c a^2 puts the mean of y at 0).
    The map (x, y) -> (x, y - c x^2 - d) has Jacobian 1, so Z = 2 pi a b exactly.
    """

    kind = "banana"

    def __init__(self, a: float = 1.0, b: float = 0.35, c: float = 1.0, d: float | None = None):
        self.a = _positive(self.kind, "a", a)
        self.b = _positive(self.kind, "b", b)
        self.c = _finite(self.kind, "c", c)
        self.d = -self.c * self.a * self.a if d is None else _finite(self.kind, "d", d)

    def _params(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "c": self.c, "d": self.d}

    def energy(self, x: Any) -> Any:
        x = _float_input(x, 2, self.kind)
        u = x[:, 0] * (1.0 / self.a)
        v = (x[:, 1] - self.c * x[:, 0] * x[:, 0] - self.d) * (1.0 / self.b)
        return 0.5 * (u * u + v * v)

    def energy_and_grad(self, x: Any) -> tuple[Any, Any]:
        x = _float_input(x, 2, self.kind)
        xp = get_array_module(x)
        u = x[:, 0] * (1.0 / self.a)
        v = (x[:, 1] - self.c * x[:, 0] * x[:, 0] - self.d) * (1.0 / self.b)
        grad = xp.empty_like(x)
        gv = v * (1.0 / self.b)  # dE/dy
        grad[:, 0] = u * (1.0 / self.a) - (2.0 * self.c) * x[:, 0] * gv
        grad[:, 1] = gv
        return 0.5 * (u * u + v * v), grad

    def log_partition(self) -> float:
        return math.log(2 * math.pi * self.a * self.b)


ANALYTIC_ENERGIES: dict[str, type[AnalyticEnergy]] = {
    cls.kind: cls for cls in (GaussianMixture, DoubleWell, Ring, Banana)
}


def energy_from_spec(spec: dict[str, Any]) -> AnalyticEnergy:
    """An analytic energy from ``{"type": name, ...settings}`` (see ANALYTIC_ENERGIES)."""
    if not isinstance(spec, dict) or "type" not in spec:
        raise ConfigError(f"an energy spec must be a table with a 'type' key, got {spec!r}")
    kind = str(spec["type"]).lower()
    if kind not in ANALYTIC_ENERGIES:
        raise ConfigError(f"unknown energy type {spec['type']!r}; allowed: {sorted(ANALYTIC_ENERGIES)}")
    return ANALYTIC_ENERGIES[kind].from_spec({**spec, "type": kind})
