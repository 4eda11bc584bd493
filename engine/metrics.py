"""Evaluation metrics: exact 2D likelihoods on a grid, KL, MMD, memorisation, OOD AUROC, accuracy, curves.

Everything here takes NumPy or CuPy arrays and returns host floats / NumPy
arrays; the heavy sums run in float64 on the host, in batches, so that memory
stays bounded (a 2000 x 2000 MMD or a nearest-neighbour search against 60000
training images never materialises a full distance matrix).

2D likelihoods
    In 2D the partition function Z = integral of exp(-E(x)) dx can be
    integrated numerically. :func:`grid_log_partition` evaluates E at the
    centres of a ``resolution x resolution`` grid of cells covering ``box`` and
    returns log Z ~= logsumexp(-E) + log(cell area) (the midpoint rule).
    **Mass outside the box is ignored**: Z is underestimated by the mass of
    exp(-E) outside the box, so the NLL is optimistic when the model puts
    density there; choose a box that holds the data with a margin. For smooth,
    rapidly decaying densities the midpoint rule converges very fast (for a
    Gaussian of standard deviation s the relative error is about
    exp(-2 pi^2 s^2 / h^2) for cell width h); the default of 512 x 512 cells
    keeps the error well under 1e-3 nats for smooth energies whose features
    are wider than a few cells (on an 8 x 8 box, h = 1/64), including Swish
    MLPs. Kinked (ReLU) energies converge as h^2.

Conventions: log densities and NLLs are in nats; a ``box`` is
``(x_min, x_max, y_min, y_max)`` (or ``((x_min, x_max), (y_min, y_max))``);
grids are returned as (ny, nx) arrays, row = y, like an image with y upwards
from row 0.
"""

from __future__ import annotations

import csv
import io
import math
import os
from array import array
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from . import backend
from .errors import ConfigError, EBMError
from .fileio import write_file

DEFAULT_GRID_RESOLUTION = 512
Box = Sequence[float] | Sequence[Sequence[float]]
LogProbFn = Callable[[Any], Any]

__all__ = [
    "DEFAULT_GRID_RESOLUTION", "grid_points", "grid_energy", "grid_log_partition", "grid_log_density",
    "heldout_nll", "true_nll", "grid_kl", "median_bandwidth", "mmd2", "nearest_neighbors",
    "ood_auroc", "accuracy", "CurveLog",
]


# --------------------------------------------------------------------------- helpers


def _write_atomic(path: str | os.PathLike[str], data: bytes, what: str) -> Path:
    """Atomic write that turns an OSError into an EBMError saying what to do."""
    return write_file(path, data, what, EBMError)


def _host(a: Any, dtype: Any = np.float64) -> np.ndarray:
    """A host array in ``dtype`` (NumPy or CuPy input)."""
    return np.asarray(backend.to_numpy(a), dtype=dtype)


def _flat(a: Any, name: str) -> np.ndarray:
    """(N, ...) -> (N, D) float64 on the host."""
    arr = _host(a)
    if arr.ndim < 1 or arr.shape[0] == 0:
        raise ConfigError(f"{name} must be a non-empty batch of shape (N, ...), got shape {arr.shape}")
    return arr.reshape(arr.shape[0], -1)


def _logsumexp(a: np.ndarray) -> float:
    m = float(np.max(a))
    if not math.isfinite(m):
        return m  # all -inf (no mass) or +inf/nan (diverged): pass through
    return m + math.log(float(np.sum(np.exp(a - m))))


def _parse_box(box: Box) -> tuple[float, float, float, float]:
    try:
        if len(box) == 2:
            (x0, x1), (y0, y1) = box  # type: ignore[misc]
        else:
            x0, x1, y0, y1 = box  # type: ignore[misc]
        x0, x1, y0, y1 = (float(v) for v in (x0, x1, y0, y1))
    except (TypeError, ValueError):
        raise ConfigError(f"a box is (x_min, x_max, y_min, y_max), got {box!r}") from None
    if not all(math.isfinite(v) for v in (x0, x1, y0, y1)) or not (x1 > x0 and y1 > y0):
        raise ConfigError(f"a box needs finite x_min < x_max and y_min < y_max, got {box!r}")
    return x0, x1, y0, y1


def _parse_resolution(resolution: int | Sequence[int]) -> tuple[int, int]:
    nx, ny = (resolution, resolution) if isinstance(resolution, (int, np.integer)) else tuple(resolution)
    if isinstance(nx, bool) or isinstance(ny, bool) or int(nx) != nx or int(ny) != ny or nx < 2 or ny < 2:
        raise ConfigError(f"a grid resolution is an integer >= 2 (or (nx, ny)), got {resolution!r}")
    return int(nx), int(ny)


def _check_2d(energy: Any) -> None:
    shape = tuple(getattr(energy, "input_shape", ()))
    if shape != (2,):
        raise ConfigError(f"grid likelihoods need a 2D energy (input_shape (2,)), this one has {shape}; "
                          "use MMD or nearest-neighbour distances for images")


def _energy_xp(energy: Any) -> Any:
    """The array module the energy computes on (an EnergyNet's own, else the active backend)."""
    return getattr(energy, "xp", None) or backend.xp()


def _batched_eval(fn: Callable[[Any], Any], points: np.ndarray, xp: Any, batch_size: int) -> np.ndarray:
    """fn on (N, D) host points in batches -> (N,) float64 host values."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    out = np.empty(points.shape[0], dtype=np.float64)
    for start in range(0, points.shape[0], batch_size):
        chunk = xp.asarray(points[start:start + batch_size])
        values = _host(fn(chunk)).reshape(-1)
        if values.shape[0] != chunk.shape[0]:
            raise ConfigError(f"the function returned {values.shape[0]} values for {chunk.shape[0]} points; "
                              "it must map (N, 2) to (N,)")
        out[start:start + values.shape[0]] = values
    return out


# --------------------------------------------------------------------------- 2D grid likelihoods


def grid_points(box: Box, resolution: int | Sequence[int] = DEFAULT_GRID_RESOLUTION
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Cell centres of a grid over ``box``.

    Returns (points: (ny*nx, 2) float64 in row-major (y, x) order, xs: (nx,), ys: (ny,),
    cell area). ``resolution`` is n (n x n cells) or (nx, ny).
    """
    x0, x1, y0, y1 = _parse_box(box)
    nx, ny = _parse_resolution(resolution)
    hx, hy = (x1 - x0) / nx, (y1 - y0) / ny
    xs = x0 + hx * (np.arange(nx) + 0.5)
    ys = y0 + hy * (np.arange(ny) + 0.5)
    gx, gy = np.meshgrid(xs, ys)  # (ny, nx)
    return np.stack([gx.ravel(), gy.ravel()], axis=1), xs, ys, hx * hy


def grid_energy(energy: Any, box: Box, resolution: int | Sequence[int] = DEFAULT_GRID_RESOLUTION,
                batch_size: int = 65536) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """E at the cell centres: (E: (ny, nx) float64, xs: (nx,), ys: (ny,), cell area)."""
    _check_2d(energy)
    points, xs, ys, area = grid_points(box, resolution)
    e = _batched_eval(energy.energy, points, _energy_xp(energy), batch_size)
    return e.reshape(ys.size, xs.size), xs, ys, area


def grid_log_partition(energy: Any, box: Box, resolution: int | Sequence[int] = DEFAULT_GRID_RESOLUTION,
                       batch_size: int = 65536) -> float:
    """log Z = log integral over ``box`` of exp(-E(x)) dx (nats), by the midpoint rule.

    energy: any 2D :class:`~engine.energies.base.Energy` (evaluated in batches of
    ``batch_size`` points). Mass outside the box is ignored (see the module notes).
    Returns +inf or nan if E is -inf/nan somewhere on the grid (a diverged model).
    """
    e, _, _, area = grid_energy(energy, box, resolution, batch_size)
    return _logsumexp(-e.ravel()) + math.log(area)


def grid_log_density(energy: Any, box: Box, resolution: int | Sequence[int] = DEFAULT_GRID_RESOLUTION,
                     batch_size: int = 65536) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The model's normalised log density on the grid, for plots and KL.

    Returns (log p: (ny, nx) = -E - log Z, xs: (nx,), ys: (ny,), log Z), normalised over the box.
    """
    e, xs, ys, area = grid_energy(energy, box, resolution, batch_size)
    log_z = _logsumexp(-e.ravel()) + math.log(area)
    return -e - log_z, xs, ys, log_z


def heldout_nll(energy: Any, x_val: Any, box: Box, resolution: int | Sequence[int] = DEFAULT_GRID_RESOLUTION,
                batch_size: int = 65536) -> float:
    """Exact held-out negative log-likelihood of a 2D energy model (nats per point).

    x_val: (N, 2). NLL = mean E(x_val) + log Z with log Z from :func:`grid_log_partition`
    over ``box``; mass outside the box is ignored, so keep x_val well inside it.
    """
    _check_2d(energy)
    x = _host(x_val)
    if x.ndim != 2 or x.shape[1] != 2 or x.shape[0] == 0:
        raise ConfigError(f"held-out points must have shape (N, 2) with N >= 1, got {x.shape}")
    e_val = _batched_eval(energy.energy, x, _energy_xp(energy), batch_size)
    return float(np.mean(e_val)) + grid_log_partition(energy, box, resolution, batch_size)


def true_nll(log_prob_fn: LogProbFn, x_val: Any, batch_size: int = 65536) -> float:
    """-mean log p(x_val) (nats) for a density whose exact ``log_prob_fn``: (N, D) -> (N,) is known.

    The reference an EBM's :func:`heldout_nll` is compared with (the data's own entropy estimate).
    """
    x = _host(x_val)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ConfigError(f"points must have shape (N, D) with N >= 1, got {x.shape}")
    return -float(np.mean(_batched_eval(log_prob_fn, x, np, batch_size)))


def grid_kl(true_log_prob: LogProbFn, energy: Any, box: Box,
            resolution: int | Sequence[int] = DEFAULT_GRID_RESOLUTION, batch_size: int = 65536) -> float:
    """KL(p_true || p_model) in nats, by quadrature on the grid.

    true_log_prob: (N, 2) -> (N,) log density (normalised or not). Both densities are
    restricted to ``box`` and renormalised there on the same grid, so the result is the KL
    of the two box-restricted densities: >= 0, and 0 exactly when they agree on the box.
    """
    log_q, _, _, _ = grid_log_density(energy, box, resolution, batch_size)
    points, _, _, area = grid_points(box, resolution)
    log_p = _batched_eval(true_log_prob, points, np, batch_size)
    log_p = log_p - (_logsumexp(log_p) + math.log(area))  # normalised over the box
    p = np.exp(log_p)
    support = p > 0  # 0 log 0 = 0: only points where the true density has mass count
    return float(np.sum(p[support] * (log_p[support] - log_q.ravel()[support])) * area)


# --------------------------------------------------------------------------- MMD


def _sq_dists(a: np.ndarray, b: np.ndarray, a_sq: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (len(a), len(b)), float64, clipped at 0."""
    d = a_sq[:, None] + b_sq[None, :]
    d -= 2.0 * (a @ b.T)
    np.maximum(d, 0.0, out=d)
    return d


def median_bandwidth(x: Any, y: Any, max_points: int = 1000, seed: int = 0) -> float:
    """The median heuristic: median pairwise distance in the pooled sample (x: (N, ...), y: (M, ...)).

    At most ``max_points`` pooled points (a seeded subset) are used, so it is cheap and
    deterministic. Falls back to 1.0 if all points coincide.
    """
    pooled = np.concatenate([_flat(x, "x"), _flat(y, "y")], axis=0)
    if pooled.shape[0] > max_points:
        pick = np.random.default_rng(seed).choice(pooled.shape[0], size=max_points, replace=False)
        pooled = pooled[np.sort(pick)]
    sq = np.einsum("ij,ij->i", pooled, pooled)
    d = _sq_dists(pooled, pooled, sq, sq)
    iu = np.triu_indices(pooled.shape[0], k=1)
    med = float(np.sqrt(np.median(d[iu]))) if iu[0].size else 0.0
    return med if med > 0 else 1.0


def _kernel_sum(d: np.ndarray, gammas: np.ndarray) -> float:
    """Sum over the block of sum_k exp(-gamma_k d)."""
    total = 0.0
    for g in gammas:
        total += float(np.exp(-g * d).sum())
    return total


def _blocks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _self_sum(a: np.ndarray, sq: np.ndarray, gammas: np.ndarray, batch_size: int) -> float:
    """sum_{i != j} k(a_i, a_j), visiting only the upper-triangular blocks."""
    total = 0.0
    blocks = list(_blocks(a.shape[0], batch_size))
    for bi, si in enumerate(blocks):
        for sj in blocks[bi:]:
            d = _sq_dists(a[si], a[sj], sq[si], sq[sj])
            if si == sj:
                np.fill_diagonal(d, 0.0)
                total += _kernel_sum(d, gammas) - d.shape[0] * gammas.size  # drop k(a_i, a_i) = 1
            else:
                total += 2.0 * _kernel_sum(d, gammas)
    return total


def mmd2(x: Any, y: Any, bandwidth: float | Sequence[float] | None = None, batch_size: int = 1024) -> float:
    """Unbiased MMD^2 between samples x: (N, ...) and y: (M, ...) with a Gaussian kernel.

    k(a, b) = sum over bandwidths h of exp(-||a - b||^2 / (2 h^2)) on flattened samples
    (2D points or images in pixel space). ``bandwidth``: None (median heuristic,
    :func:`median_bandwidth`), one h, or several h (a sum of kernels). Computed in float64
    blocks of ``batch_size`` x ``batch_size``; N, M >= 2. The unbiased estimate can be
    slightly negative when the two distributions agree.
    """
    a, b = _flat(x, "x"), _flat(y, "y")
    if a.shape[1] != b.shape[1]:
        raise ConfigError(f"MMD needs samples of the same size: x has {a.shape[1]} values each, y {b.shape[1]}")
    m, n = a.shape[0], b.shape[0]
    if m < 2 or n < 2:
        raise ConfigError(f"the unbiased MMD needs at least 2 samples in each set, got {m} and {n}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if bandwidth is None:
        widths = [median_bandwidth(a, b)]
    elif isinstance(bandwidth, (int, float, np.floating, np.integer)):
        widths = [float(bandwidth)]
    else:
        widths = [float(h) for h in bandwidth]
    if not widths or not all(math.isfinite(h) and h > 0 for h in widths):
        raise ConfigError(f"MMD bandwidths must be finite numbers > 0, got {bandwidth!r}")
    gammas = np.array([1.0 / (2.0 * h * h) for h in widths])
    sa, sb = np.einsum("ij,ij->i", a, a), np.einsum("ij,ij->i", b, b)
    kxx = _self_sum(a, sa, gammas, batch_size) / (m * (m - 1))
    kyy = _self_sum(b, sb, gammas, batch_size) / (n * (n - 1))
    kxy = 0.0
    for si in _blocks(m, batch_size):
        for sj in _blocks(n, batch_size):
            kxy += _kernel_sum(_sq_dists(a[si], b[sj], sa[si], sb[sj]), gammas)
    return kxx + kyy - 2.0 * kxy / (m * n)


# --------------------------------------------------------------------------- images


def nearest_neighbors(samples: Any, train: Any, batch_size: int = 256, train_batch_size: int = 4096
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Memorisation check: each sample's nearest training image in pixel space.

    samples: (N, ...), train: (M, ...) with the same per-item shape (flattened).
    Returns (distances: (N,) float64 L2 distances, indices: (N,) int64 into train);
    ties go to the lowest index. Runs in float64 blocks of batch_size x train_batch_size;
    the returned distance is recomputed directly from the difference (exact even near 0).
    """
    s, t = _flat(samples, "samples"), np.asarray(backend.to_numpy(train))
    if t.ndim < 1 or t.shape[0] == 0:
        raise ConfigError(f"the training set must be a non-empty batch (M, ...), got shape {t.shape}")
    t2 = t.reshape(t.shape[0], -1)  # a view: blocks are converted to float64 one at a time
    if t2.shape[1] != s.shape[1]:
        raise ConfigError(f"samples have {s.shape[1]} values each but training items have {t2.shape[1]}; "
                          "they must have the same shape")
    n = s.shape[0]
    best = np.full(n, np.inf)
    best_idx = np.zeros(n, dtype=np.int64)
    s_sq = np.einsum("ij,ij->i", s, s)
    for tj in _blocks(t2.shape[0], train_batch_size):
        tb = np.asarray(t2[tj], dtype=np.float64)
        tb_sq = np.einsum("ij,ij->i", tb, tb)
        for si in _blocks(n, batch_size):
            d = _sq_dists(s[si], tb, s_sq[si], tb_sq)
            j = np.argmin(d, axis=1)
            dmin = d[np.arange(d.shape[0]), j]
            better = dmin < best[si]  # strict: earlier blocks win ties
            best[si] = np.where(better, dmin, best[si])
            best_idx[si] = np.where(better, j + tj.start, best_idx[si])
    exact = np.asarray(t2[best_idx], dtype=np.float64) - s
    return np.sqrt(np.einsum("ij,ij->i", exact, exact)), best_idx


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties get the mean of their ranks (like scipy.stats.rankdata)."""
    order = np.argsort(values, kind="mergesort")
    sorted_vals = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_vals[1:] != sorted_vals[:-1]])
    ends = np.r_[starts[1:], sorted_vals.size]  # exclusive
    avg = (starts + ends + 1) / 2.0  # mean of ranks start+1 .. end
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def ood_auroc(energy_in: Any, energy_out: Any) -> float:
    """AUROC of telling out-of-distribution from in-distribution samples by energy.

    energy_in: (N,) energies of in-distribution samples (should be LOWER),
    energy_out: (M,) energies of OOD samples. Returns P(E_out > E_in) + P(E_out == E_in) / 2,
    computed exactly from average ranks (Mann-Whitney U) in O((N+M) log(N+M)):
    1.0 = perfect separation, 0.5 = chance, < 0.5 = the model prefers the OOD data.
    """
    e_in, e_out = _host(energy_in).reshape(-1), _host(energy_out).reshape(-1)
    if e_in.size == 0 or e_out.size == 0:
        raise ConfigError(f"AUROC needs energies of both sets, got {e_in.size} in-distribution and "
                          f"{e_out.size} out-of-distribution")
    if not (np.isfinite(e_in).all() and np.isfinite(e_out).all()):
        raise EBMError("AUROC: some energies are NaN or infinite (the model diverged); "
                       "evaluate an earlier checkpoint")
    ranks = _average_ranks(np.concatenate([e_in, e_out]))
    m = e_out.size
    u = float(ranks[e_in.size:].sum()) - m * (m + 1) / 2.0
    return u / (e_in.size * m)


def accuracy(logits: Any, labels: Any) -> float:
    """Classification accuracy: logits (N, K), integer labels (N,) -> fraction of argmax == label.

    Ties in the logits go to the lowest class index.
    """
    z = backend.to_numpy(logits)
    y = np.asarray(backend.to_numpy(labels)).reshape(-1)
    if z.ndim != 2 or z.shape[0] != y.shape[0] or z.shape[0] == 0:
        raise ConfigError(f"accuracy needs logits (N, K) and labels (N,), got {z.shape} and {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ConfigError("labels must be integer class indices")
        y = y.astype(np.int64)
    return float(np.mean(np.argmax(z, axis=1) == y))


# --------------------------------------------------------------------------- learning curves


class CurveLog:
    """Learning curves: rows of {"iteration": int, name: value, ...}, saved as CSV.

    Rows may carry different names (e.g. "loss" every iteration, "nll" every 500); the
    CSV header is "iteration" followed by the union of names in order of first
    appearance, and a missing value is an empty cell (absent again after reading).
    Floats are written with ``repr`` so a round trip is exact (nan and inf included).

    Stored by column (float64 arrays and a kind per cell, about 9 bytes a value) rather
    than as a dict per row (about 450 bytes a row): a long run keeps every iteration.
    """

    def __init__(self) -> None:
        self._iterations = array("q")
        self._columns: dict[str, _Column] = {}  # in order of first appearance

    def append(self, iteration: int, values: dict[str, Any] | None = None, /, **more: Any) -> None:
        """Add one row: ``log.append(100, loss=0.3)`` or ``log.append(100, {"loss": 0.3})``."""
        if isinstance(iteration, bool) or int(iteration) != iteration:
            raise ConfigError(f"an iteration is an integer, got {iteration!r}")
        row = {**(values or {}), **more}
        for name in row:
            if name == "iteration" or not name or not isinstance(name, str):
                raise ConfigError(f"a curve name must be a non-empty string other than 'iteration', got {name!r}")
        cells = {name: _plain(value) for name, value in row.items()}
        for name in cells:
            if name not in self._columns:
                self._columns[name] = _Column(len(self._iterations))
        self._iterations.append(int(iteration))
        for name, column in self._columns.items():
            column.append(cells.get(name, _MISSING))

    def extend(self, rows: Iterable[dict[str, Any]]) -> None:
        """Append rows that each hold an "iteration" key."""
        for row in rows:
            rest = dict(row)
            self.append(rest.pop("iteration"), rest)

    @property
    def columns(self) -> list[str]:
        """["iteration", *names in order of first appearance]."""
        return ["iteration", *self._columns]

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One dict per row (built on demand), holding the names that row has."""
        return [self._row(i) for i in range(len(self._iterations))]

    def _row(self, i: int) -> dict[str, Any]:
        row: dict[str, Any] = {"iteration": self._iterations[i]}
        for name, column in self._columns.items():
            value = column.get(i)
            if value is not _MISSING:
                row[name] = value
        return row

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(iterations: (K,) int64, values: (K,) float64) of the rows that hold ``name``."""
        column = self._columns.get(name)
        if column is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        held = [i for i, kind in enumerate(column.kinds) if kind] if column.strings else None
        if held is None:  # numbers only: straight from the arrays
            mask = np.frombuffer(column.kinds, dtype=np.uint8) != 0
            iterations = np.frombuffer(self._iterations, dtype=np.int64)[mask]
            return iterations.copy(), np.frombuffer(column.values, dtype=np.float64)[mask].copy()
        return (np.array([self._iterations[i] for i in held], dtype=np.int64),
                np.array([column.get(i) for i in held], dtype=np.float64))

    def __len__(self) -> int:
        return len(self._iterations)

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(zip(map(str, self._iterations), *(c.cells() for c in self._columns.values())))
        return buf.getvalue()

    def write_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write all rows to ``path`` atomically (readers never see half a file); returns the path."""
        return _write_atomic(path, self.to_csv().encode("utf-8"), "metrics file")

    @classmethod
    def read_csv(cls, path: str | os.PathLike[str]) -> "CurveLog":
        """Read a file written by :meth:`write_csv` (or any CSV with an "iteration" column)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise EBMError(f"could not read the metrics file {path}: {exc}; check the path") from exc
        return cls.from_csv(text, source=str(path))

    @classmethod
    def from_csv(cls, text: str, source: str = "<text>") -> "CurveLog":
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if not header or header[0] != "iteration" or len(set(header)) != len(header):
            raise EBMError(f"{source} is not a metrics CSV: the first column must be 'iteration' and "
                           f"column names must be unique (header {header!r})")
        log = cls()
        for name in header[1:]:
            log._columns[name] = _Column(0)
        for line_no, cells in enumerate(reader, start=2):
            if not cells:
                continue
            if len(cells) != len(header):
                raise EBMError(f"{source}, line {line_no}: {len(cells)} cells for {len(header)} columns; "
                               "the file is damaged")
            try:
                iteration = int(cells[0])
            except ValueError:
                raise EBMError(f"{source}, line {line_no}: iteration {cells[0]!r} is not an integer") from None
            log._iterations.append(iteration)
            for column, cell in zip(log._columns.values(), cells[1:]):
                column.append(_parse(cell) if cell else _MISSING)
        return log

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(tensors, meta) for a checkpoint: the columns as arrays, so its header stays small.

        tensors: "iteration" (N,) int64, and per column i "i/values" (N,) float64 and
        "i/kinds" (N,) uint8; meta: {"names": [...], "text": {"i": {"row": text}}}.
        """
        tensors = {"iteration": np.array(self._iterations, dtype=np.int64)}
        text: dict[str, dict[str, str]] = {}
        for i, column in enumerate(self._columns.values()):
            tensors[f"{i}/values"] = np.array(column.values, dtype=np.float64)
            tensors[f"{i}/kinds"] = np.frombuffer(bytes(column.kinds), dtype=np.uint8).copy()
            if column.strings:
                text[str(i)] = {str(row): value for row, value in column.strings.items()}
        return tensors, {"names": list(self._columns), "text": text}

    @classmethod
    def from_arrays(cls, tensors: dict[str, Any], meta: dict[str, Any], source: str = "<arrays>") -> "CurveLog":
        """The log :meth:`to_arrays` saved; a damaged part raises EBMError naming ``source``."""
        def damaged(what: str) -> EBMError:
            return EBMError(f"{source}: the learning curves are damaged ({what})")

        names, text = meta.get("names"), meta.get("text", {})
        if (not isinstance(names, list) or not all(isinstance(n, str) and n and n != "iteration" for n in names)
                or len(set(names)) != len(names) or not isinstance(text, dict)):
            raise damaged("bad column names")
        iterations = tensors.get("iteration")
        if not isinstance(iterations, np.ndarray) or iterations.dtype != np.int64 or iterations.ndim != 1:
            raise damaged("no iteration column")
        n = iterations.shape[0]
        log = cls()
        log._iterations = array("q", iterations.tolist())
        for i, name in enumerate(names):
            values, kinds = tensors.get(f"{i}/values"), tensors.get(f"{i}/kinds")
            if (not isinstance(values, np.ndarray) or values.dtype != np.float64 or values.shape != (n,)
                    or not isinstance(kinds, np.ndarray) or kinds.dtype != np.uint8 or kinds.shape != (n,)
                    or int(kinds.max(initial=0)) > _STR):
                raise damaged(f"column {name!r}")
            column = _Column(0)
            column.values = array("d", values.tolist())
            column.kinds = bytearray(kinds.tobytes())
            cells = text.get(str(i), {})
            if not isinstance(cells, dict):
                raise damaged(f"text of column {name!r}")
            try:
                column.strings = {int(row): str(value) for row, value in cells.items()}
            except (TypeError, ValueError):
                raise damaged(f"text of column {name!r}") from None
            if set(column.strings) != {r for r, kind in enumerate(column.kinds) if kind == _STR}:
                raise damaged(f"text of column {name!r}")
            log._columns[name] = column
        return log


_MISSING = object()  # a row without this curve
_FLOAT, _INT, _STR = 1, 2, 3  # kinds of a cell; 0 = missing


class _Column:
    """One curve, a cell per row: the value as float64 and its kind (exact for ints below 2**53)."""

    __slots__ = ("values", "kinds", "strings")

    def __init__(self, missing_rows: int):
        self.values = array("d", bytes(8 * missing_rows))
        self.kinds = bytearray(missing_rows)
        self.strings: dict[int, str] = {}  # row -> text, for the rare text cell

    def append(self, value: Any) -> None:
        if type(value) is float:  # the common case first
            self.values.append(value)
            self.kinds.append(_FLOAT)
        elif value is _MISSING:
            self.values.append(0.0)
            self.kinds.append(0)
        elif isinstance(value, str):
            self.strings[len(self.kinds)] = value
            self.values.append(0.0)
            self.kinds.append(_STR)
        elif isinstance(value, int) and abs(value) < 2**53:
            self.values.append(float(value))
            self.kinds.append(_INT)
        else:
            self.values.append(float(value))
            self.kinds.append(_FLOAT)

    def cells(self) -> list[str]:
        """The CSV cells: repr of floats (exact round trip), ints as ints, "" where missing."""
        kinds, values = self.kinds, self.values.tolist()
        if kinds.count(_FLOAT) == len(kinds):
            return list(map(repr, values))
        return ["" if k == 0 else _format(self.get(i)) for i, k in enumerate(kinds)]

    def get(self, i: int) -> Any:
        kind = self.kinds[i]
        if kind == _FLOAT:
            return self.values[i]
        if kind == _INT:
            return int(self.values[i])
        if kind == _STR:
            return self.strings[i]
        return _MISSING


def _plain(value: Any) -> Any:
    """A Python int/float/str for a CSV cell (NumPy/CuPy scalars and 0-d arrays included)."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, str):
        return value
    try:
        return float(backend.to_numpy(value))
    except (TypeError, ValueError):
        raise ConfigError(f"a curve value must be a number or a string, got {value!r}") from None


def _format(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


_FLOAT_MARKS = frozenset(".eEnN")  # a point, an exponent, nan or inf: int() would refuse the cell


def _parse(cell: str) -> Any:
    if not _FLOAT_MARKS.isdisjoint(cell):  # most cells are floats: skip int()'s ValueError
        try:
            return float(cell)
        except ValueError:
            pass
    try:
        return int(cell)
    except ValueError:
        pass
    try:
        return float(cell)
    except ValueError:
        return cell
