"""2D toy densities with exact log-densities.

Every dataset is a generative model defined so that its density has a closed
form, which lets the evaluation integrate the model's partition function on a
grid and compare it with the truth. Samples lie roughly in [-4, 4]^2 (a
fraction of a percent of the mass may reach a little beyond); ``box`` is the
recommended plotting/integration window, (-4.5, 4.5) on both axes, which
holds all but a negligible mass (< 1e-4) of every density.

The curved datasets (rings, two_moons, two_spirals, swiss_roll) are "polar
curves": an angle theta is drawn from a density on an interval (tapered to
zero at open ends, so arcs fade out rather than stop in a cut), and a radius
r ~ N(m(theta), s^2) around the curve's radius m(theta); the point is
c + r (cos theta, sin theta). That noise is radial rather than isotropic, and
in exchange the density in the plane is exact (change of variables, Jacobian
|r|, summing over every (r, theta) that lands on the same point, including
negative r). The pinwheel draws a log-normal radius and a von Mises angle
around a curved arm.

``sample(n, rng)`` gives (n, 2) float32; ``log_prob(x)`` takes (n, 2) and
gives (n,) float64 (float64 because it feeds integrals and likelihoods;
checkerboard gives -inf off its support).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["TOY_DATASETS", "ToyDataset", "get_toy", "toy_names"]

Box = tuple[float, float, float, float]  # (xmin, xmax, ymin, ymax)
DEFAULT_BOX: Box = (-4.5, 4.5, -4.5, 4.5)
_LOG_2PI = math.log(2.0 * math.pi)
_TWO_PI = 2.0 * math.pi


def _as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def _as_points(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"log_prob expects points of shape (n, 2), got {x.shape}")
    return x


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(a, axis=axis, keepdims=True)
    m_safe = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - m_safe), axis=axis, keepdims=True)) + m_safe
    return np.squeeze(out, axis=axis)


def _log_normal(x: np.ndarray, mu: np.ndarray | float, s: float) -> np.ndarray:
    z = (x - mu) / s
    return -0.5 * z * z - math.log(s) - 0.5 * _LOG_2PI


@dataclass(frozen=True)
class ToyDataset:
    """A named 2D density: ``sample(n, rng)`` -> (n, 2) float32, ``log_prob`` or None."""

    name: str
    description: str
    box: Box
    sampler: Callable[[int, np.random.Generator], np.ndarray]
    log_prob: Callable[[np.ndarray], np.ndarray] | None

    def sample(self, n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """n points, (n, 2) float32; deterministic for a given seed or Generator state."""
        n = int(n)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        out = self.sampler(n, _as_rng(rng))
        return np.ascontiguousarray(out, dtype=np.float32)

    @property
    def has_log_prob(self) -> bool:
        return self.log_prob is not None


# --- Gaussian mixtures -------------------------------------------------------------------------


def _gaussian_mixture(centers: np.ndarray, std: float) -> tuple[Callable, Callable]:
    centers = np.asarray(centers, dtype=np.float64)
    k = len(centers)

    def sample(n: int, rng: np.random.Generator) -> np.ndarray:
        idx = rng.integers(0, k, size=n)
        return centers[idx] + std * rng.standard_normal((n, 2))

    def log_prob(x: np.ndarray) -> np.ndarray:
        x = _as_points(x)
        d2 = (x * x).sum(1)[:, None] - 2.0 * (x @ centers.T) + (centers * centers).sum(1)[None, :]
        comp = -0.5 * d2 / std**2 - 2.0 * math.log(std) - _LOG_2PI
        return _logsumexp(comp, axis=1) - math.log(k)

    return sample, log_prob


_angles8 = np.arange(8) * (_TWO_PI / 8)
_EIGHT_CENTERS = 2.0 * math.sqrt(2.0) * np.stack([np.cos(_angles8), np.sin(_angles8)], axis=1)
_EIGHT_STD = 0.5 / math.sqrt(2.0)
_g = np.array([-3.0, -1.5, 0.0, 1.5, 3.0])
_TWENTYFIVE_CENTERS = np.stack(np.meshgrid(_g, _g, indexing="ij"), axis=-1).reshape(-1, 2)
_TWENTYFIVE_STD = 0.2


# --- checkerboard ------------------------------------------------------------------------------

_CB_SIDE = 2.0  # 4 x 4 squares of side 2 tiling [-4, 4]^2; 8 of them are "black"


def _checker_black(ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    return (ix + iy) % 2 == 0


def _checkerboard_sample(n: int, rng: np.random.Generator) -> np.ndarray:
    black = [(i, j) for i in range(4) for j in range(4) if (i + j) % 2 == 0]
    squares = np.array(black, dtype=np.float64)
    idx = rng.integers(0, len(squares), size=n)
    corner = -4.0 + _CB_SIDE * squares[idx]
    return corner + _CB_SIDE * rng.random((n, 2))


def _checkerboard_log_prob(x: np.ndarray) -> np.ndarray:
    x = _as_points(x)
    inside = np.all((x >= -4.0) & (x < 4.0), axis=1)
    ij = np.floor((x + 4.0) / _CB_SIDE).astype(np.int64)
    on = inside & _checker_black(ij[:, 0], ij[:, 1])
    return np.where(on, -math.log(8 * _CB_SIDE**2), -np.inf)


# --- polar curves: rings, moons, spirals, swiss roll --------------------------------------------


@dataclass(frozen=True)
class _PolarCurve:
    """theta ~ p on [lo, hi); r ~ N(a + b * theta, s^2); x = c + sign * r (cos theta, sin theta).

    p(theta) is proportional to base(theta) * taper(theta): base is "uniform" or "linear"
    (proportional to theta, lo >= 0); the taper rises as (1 - cos) / 2 over ``taper`` radians at
    both ends so the curve fades out instead of ending in a cut (0 = no taper). Its normaliser is
    integrated once to ~1e-12. ``sign`` = -1 rotates the curve by pi (the second spiral).
    """

    lo: float
    hi: float
    a: float
    b: float
    s: float
    center: tuple[float, float] = (0.0, 0.0)
    theta_law: str = "uniform"
    sign: float = 1.0
    taper: float = 0.0

    def _base_sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        u = rng.random(n)
        if self.theta_law == "uniform":
            return self.lo + (self.hi - self.lo) * u
        return np.sqrt(self.lo**2 + u * (self.hi**2 - self.lo**2))  # inverse CDF of 2 t / (hi^2 - lo^2)

    def _taper(self, theta: np.ndarray) -> np.ndarray:
        if self.taper <= 0.0:
            return np.ones_like(theta)
        t = np.clip(np.minimum(theta - self.lo, self.hi - theta) / self.taper, 0.0, 1.0)
        return 0.5 - 0.5 * np.cos(math.pi * t)

    @functools.cached_property
    def _log_z(self) -> float:
        """log of the integral of base * taper over [lo, hi] (base normalised on its own)."""
        if self.taper <= 0.0:
            return 0.0
        m = 200_000  # midpoint rule; the integrand is smooth, error ~1e-12
        h = (self.hi - self.lo) / m
        theta = self.lo + h * (np.arange(m) + 0.5)
        return math.log(float(np.sum(np.exp(self._log_base(theta)) * self._taper(theta)) * h))

    def _log_base(self, theta: np.ndarray) -> np.ndarray:
        if self.theta_law == "uniform":
            return np.full(theta.shape, -math.log(self.hi - self.lo))
        with np.errstate(divide="ignore"):
            return np.log(2.0 * np.maximum(theta, 0.0)) - math.log(self.hi**2 - self.lo**2)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        theta = np.empty(0)
        while theta.size < n:  # rejection against the taper (accepts everything without one)
            cand = self._base_sample(max(n - theta.size, 16), rng)
            keep = rng.random(cand.size) < self._taper(cand) if self.taper > 0.0 else slice(None)
            theta = np.concatenate([theta, cand[keep]])
        theta = theta[:n]
        r = self.a + self.b * theta + self.s * rng.standard_normal(n)
        xy = np.stack([np.cos(theta), np.sin(theta)], axis=1) * (self.sign * r)[:, None]
        return xy + np.asarray(self.center)

    def _log_p_theta(self, theta: np.ndarray) -> np.ndarray:
        ok = (theta >= self.lo) & (theta < self.hi)
        with np.errstate(divide="ignore"):
            val = self._log_base(theta) + np.log(self._taper(theta)) - self._log_z
        return np.where(ok, val, -np.inf)

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        d = self.sign * (_as_points(x) - np.asarray(self.center))
        rho = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-300)
        phi = np.arctan2(d[:, 1], d[:, 0])  # (-pi, pi]
        k = np.arange(math.floor(self.lo / _TWO_PI) - 1, math.ceil(self.hi / _TWO_PI) + 2)
        terms = []
        # every (r, theta) with r (cos theta, sin theta) = d: r = rho at theta = phi + 2 pi k,
        # and r = -rho at theta = phi + pi + 2 pi k
        for r, shift in ((rho, 0.0), (-rho, math.pi)):
            theta = phi[:, None] + shift + _TWO_PI * k[None, :]
            lp = self._log_p_theta(theta) + _log_normal(r[:, None], self.a + self.b * theta, self.s)
            terms.append(lp)
        return _logsumexp(np.concatenate(terms, axis=1), axis=1) - np.log(rho)


def _mixture_of(parts: list[tuple[float, Callable, Callable]]) -> tuple[Callable, Callable]:
    """A mixture of (weight, sample, log_prob) parts; weights sum to 1."""
    weights = np.array([w for w, _, _ in parts], dtype=np.float64)
    weights = weights / weights.sum()

    def sample(n: int, rng: np.random.Generator) -> np.ndarray:
        idx = rng.choice(len(parts), size=n, p=weights)
        out = np.empty((n, 2))
        for j, (_, s, _) in enumerate(parts):
            m = idx == j
            out[m] = s(int(m.sum()), rng)
        return out

    def log_prob(x: np.ndarray) -> np.ndarray:
        x = _as_points(x)
        comp = np.stack([lp(x) for _, _, lp in parts], axis=1) + np.log(weights)[None, :]
        return _logsumexp(comp, axis=1)

    return sample, log_prob


def _curves(curves: list[tuple[float, _PolarCurve]]) -> tuple[Callable, Callable]:
    return _mixture_of([(w, c.sample, c.log_prob) for w, c in curves])


_RING_RADII = (0.9, 1.8, 2.7, 3.6)
_RINGS = [(r, _PolarCurve(0.0, _TWO_PI, r, 0.0, 0.08)) for r in _RING_RADII]  # weight ~ radius

_MOON_R, _MOON_S = 2.5, 0.2
_MOONS = [
    (0.5, _PolarCurve(0.0, math.pi, _MOON_R, 0.0, _MOON_S, center=(-1.25, -0.625), taper=0.5)),
    (0.5, _PolarCurve(math.pi, _TWO_PI, _MOON_R, 0.0, _MOON_S, center=(1.25, 0.625), taper=0.5)),
]

_SPIRAL_B = 3.6 / (3.0 * math.pi)  # radius 3.6 after 1.5 turns
_SPIRALS = [
    (0.5, _PolarCurve(math.pi / 2, 3 * math.pi, 0.0, _SPIRAL_B, 0.15, theta_law="linear", sign=s,
                      taper=1.0))
    for s in (1.0, -1.0)
]

_ROLL_B = 3.8 / (4.5 * math.pi)  # sklearn's t in [1.5 pi, 4.5 pi], radius t, scaled to 3.8
_ROLL = [(1.0, _PolarCurve(1.5 * math.pi, 4.5 * math.pi, 0.0, _ROLL_B, 0.2, taper=1.0))]


# --- pinwheel ----------------------------------------------------------------------------------

_PW_ARMS = 5
_PW_MU, _PW_SIGMA = math.log(1.6), 0.27  # log-normal radius: median 1.6, ~[0.9, 2.8] at 2 sigma
_PW_RATE = 0.5  # radians of twist per unit radius
_PW_KAPPA = 60.0  # von Mises concentration (angular std ~ 0.13 rad)
_PW_LOG_NORM_VM = _LOG_2PI + math.log(float(np.i0(_PW_KAPPA))) - _PW_KAPPA  # log(2 pi I0(k) e^-k)


def _pinwheel_sample(n: int, rng: np.random.Generator) -> np.ndarray:
    arm = rng.integers(0, _PW_ARMS, size=n)
    r = np.exp(_PW_MU + _PW_SIGMA * rng.standard_normal(n))
    theta = rng.vonmises(_TWO_PI * arm / _PW_ARMS + _PW_RATE * r, _PW_KAPPA)
    return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)


def _pinwheel_log_prob(x: np.ndarray) -> np.ndarray:
    x = _as_points(x)
    rho = np.maximum(np.hypot(x[:, 0], x[:, 1]), 1e-300)
    phi = np.arctan2(x[:, 1], x[:, 0])
    # radius density LN(rho) = N(log rho; mu, sigma) / rho, then the polar Jacobian 1 / rho
    log_r = _log_normal(np.log(rho), _PW_MU, _PW_SIGMA) - 2.0 * np.log(rho)
    mu = _TWO_PI * np.arange(_PW_ARMS)[None, :] / _PW_ARMS + _PW_RATE * rho[:, None]
    log_vm = _PW_KAPPA * (np.cos(phi[:, None] - mu) - 1.0) - _PW_LOG_NORM_VM
    return log_r + _logsumexp(log_vm, axis=1) - math.log(_PW_ARMS)


# --- the registry ------------------------------------------------------------------------------


def _make(name: str, description: str, pair: tuple[Callable, Callable]) -> ToyDataset:
    return ToyDataset(name, description, DEFAULT_BOX, pair[0], pair[1])


TOY_DATASETS: dict[str, ToyDataset] = {
    d.name: d
    for d in (
        _make("8gaussians", "8 Gaussians (std 0.35) on a circle of radius 2.83; exact mixture.",
              _gaussian_mixture(_EIGHT_CENTERS, _EIGHT_STD)),
        _make("25gaussians", "5 x 5 grid of Gaussians (std 0.2) at spacing 1.5 in [-3, 3]^2; exact.",
              _gaussian_mixture(_TWENTYFIVE_CENTERS, _TWENTYFIVE_STD)),
        _make("two_spirals", "Two interleaved Archimedean spirals (1.5 turns, radius to 3.6, radial "
              "noise 0.15); exact polar mixture.", _curves(_SPIRALS)),
        _make("checkerboard", "Uniform on the 8 black squares of a 4 x 4 board of side-2 squares "
              "tiling [-4, 4]^2; exact (-inf off the board).",
              (_checkerboard_sample, _checkerboard_log_prob)),
        _make("rings", "4 concentric rings (radii 0.9, 1.8, 2.7, 3.6; radial noise 0.08; weights "
              "proportional to radius); exact.", _curves(_RINGS)),
        _make("pinwheel", "5 curved arms: log-normal radius (median 1.6), von Mises angle twisting "
              "0.5 rad per unit radius; exact.", (_pinwheel_sample, _pinwheel_log_prob)),
        _make("swiss_roll", "2D Swiss roll: a spiral r = 0.27 theta, theta in [1.5 pi, 4.5 pi] "
              "uniform, radial noise 0.2; exact.", _curves(_ROLL)),
        _make("two_moons", "Two interleaving half circles (radius 2.5, radial noise 0.2), "
              "sklearn's moons scaled by 2.5 and centred; exact.", _curves(_MOONS)),
    )
}


def toy_names() -> list[str]:
    """The registered toy dataset names, in display order."""
    return list(TOY_DATASETS)


def get_toy(name: str) -> ToyDataset:
    """The toy dataset called ``name``; KeyError lists the allowed names."""
    try:
        return TOY_DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown toy dataset {name!r}; choose one of {', '.join(TOY_DATASETS)}") from None
