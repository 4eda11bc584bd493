"""Learning curves over training-set size: is the model data-limited or capacity-limited?

    curve = run_learning_curve(config, sizes=[64, 256, 1024], seeds=(0, 1))
    for s in curve.summary():           # per size: mean/std over seeds of train_<metric>, val_<metric>
        print(s.size, s.train_mean, s.val_mean)
    print(curve.diagnosis())            # high bias / high variance / more data would help
    curve.save("out/")                  # out/learning_curve.json and .csv

Each (size, seed) is one trial (:func:`engine.experiments.trial.train_and_evaluate`):
the config with ``train.seed = seed`` is trained on the first ``size`` points of a
seeded permutation of that seed's training set and evaluated on the training subset
(``train_<metric>``) and on the validation set (``val_<metric>``). For one seed the
validation set is the same at every size and the subsets are nested (a smaller one
is a prefix of a larger one), so the sizes differ only in how much data the model saw.

Default metric: ``nll`` (exact held-out negative log-likelihood, nats) when the data
is 2D with a plotting box (the toy densities), else ``mmd`` (unbiased MMD^2 between the
replay buffer's samples and the data; 0 for a perfect sampler). MMD is used for images
rather than ``e_data`` because it is on the same scale for every size and for train
and validation data, while an energy has an arbitrary offset.
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import json
import math
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.dataset import Dataset, load_dataset
from ..errors import ConfigError, DataError
from ..fileio import json_safe, write_file
from ..training.config import ExperimentConfig, load_config
from .executors import run_all
from .trial import OBJECTIVES, config_metrics, is_minimized, train_and_evaluate

RESULT_KIND = "ebm-studio learning curve"
FORMAT_VERSION = 1
JSON_NAME, CSV_NAME = "learning_curve.json", "learning_curve.csv"
_ROW_KEYS = ("size", "seed", "iterations", "diverged")

# Metrics with a known best value: (the info/metric that holds it, the excess over it that
# counts as "poor"). 0.1 nats is the quality bar of the 2D presets (docs/toy_presets.md).
_REFERENCE = {"nll": ("val_true_nll", 0.1), "kl": (None, 0.1)}
# Differences smaller than this are not worth a diagnosis (nats for nll/kl); other metrics
# have no natural scale: there, differences under 10% of the metric's value are ignored.
_MATERIAL = {"nll": 0.05, "kl": 0.05}
_MATERIAL_FRACTION = 0.1


def default_sizes(n_train: int, n_points: int = 6, smallest: int = 64) -> list[int]:
    """Log-spaced training-set sizes from ``smallest`` (or n_train if smaller) to n_train.

    Deduplicated, increasing ints; the last is always n_train (fewer than n_points when
    the range is too narrow to hold them all).
    """
    if n_train < 2:
        raise ConfigError(f"a learning curve needs a training set of at least 2 samples, got {n_train}")
    if n_points < 1 or smallest < 2:
        raise ConfigError(f"n_points must be >= 1 and smallest >= 2, got {n_points} and {smallest}")
    lo = min(smallest, n_train)
    sizes = {int(round(v)) for v in np.geomspace(lo, n_train, n_points)} | {n_train}
    return sorted(s for s in sizes if lo <= s <= n_train)


def nested_indices(n_train: int, size: int, seed: int) -> np.ndarray:
    """Indices (size,) into a training set of n_train: the first ``size`` of a permutation
    seeded by ``seed``, so the subsets of one seed are nested."""
    return np.random.default_rng([seed, 0x1C]).permutation(n_train)[:size]


@dataclass(frozen=True)
class CurvePoint:
    """One finished trial: ``metrics`` holds train_*/val_* metrics, loss, seconds."""

    size: int
    seed: int
    metrics: dict[str, float]
    iterations: int = 0
    diverged: str = ""  # the divergence message; metrics then hold only loss and seconds

    def row(self) -> dict[str, Any]:
        """A flat dict: size, seed, iterations, diverged, then the metrics."""
        return {"size": self.size, "seed": self.seed, "iterations": self.iterations,
                "diverged": self.diverged, **self.metrics}


@dataclass(frozen=True)
class SizeSummary:
    """One size of :meth:`LearningCurve.summary`, over the seeds whose trial gave finite train
    and val values: means and sample standard deviations (ddof 1; nan for one seed)."""

    size: int
    n: int  # seeds with a finite train and val value
    train_mean: float
    train_std: float
    val_mean: float
    val_std: float
    gap_std: float  # std over seeds of each seed's (val - train)

    @property
    def gap(self) -> float:
        """val - train (for a lower-is-better metric, > 0 means the training set is fit better)."""
        return self.val_mean - self.train_mean


@dataclass
class LearningCurve:
    """The trials of a learning curve. ``info`` holds the settings: config (dict), dataset,
    n_train, n_val, sizes, seeds, iterations, complete (False when stopped early)."""

    points: list[CurvePoint]
    metric: str = "nll"  # default for summary() and diagnosis()
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def sizes(self) -> list[int]:
        return sorted({p.size for p in self.points})

    @property
    def seeds(self) -> list[int]:
        return sorted({p.seed for p in self.points})

    def metric_names(self) -> list[str]:
        """Metrics measured on both the training subsets and the validation set (no prefix)."""
        names = {k for p in self.points for k in p.metrics}
        return sorted(k[6:] for k in names if k.startswith("train_") and "val_" + k[6:] in names)

    def values(self, metric: str, size: int) -> dict[int, tuple[float, float]]:
        """seed -> (train_<metric>, val_<metric>) at ``size``, for the seeds with both finite."""
        out = {}
        for p in self.points:
            t, v = p.metrics.get(f"train_{metric}", math.nan), p.metrics.get(f"val_{metric}", math.nan)
            if p.size == size and math.isfinite(t) and math.isfinite(v):
                out[p.seed] = (t, v)
        return out

    def summary(self, metric: str | None = None) -> list[SizeSummary]:
        """Per size (increasing): mean/std over seeds of train_<metric> and val_<metric>."""
        m = self._check_metric(metric)
        out = []
        for size in self.sizes:
            pairs = np.array(list(self.values(m, size).values()), dtype=float).reshape(-1, 2)
            train, val = pairs[:, 0], pairs[:, 1]
            out.append(SizeSummary(size, len(pairs), _mean(train), _std(train), _mean(val), _std(val),
                                   _std(val - train)))
        return out

    def diagnosis(self, metric: str | None = None) -> str:
        """A few sentences read off the numbers: the train-val gap and how it changes with size
        (variance), whether val still improves between the two largest sizes (more data), and,
        where the metric has a known best value, how far from it both sit (bias).

        A difference counts when it exceeds two standard errors over seeds (paired by seed:
        one seed's sizes share its validation set) and a material size (0.05 nats for nll/kl,
        else 10% of the metric's value); with one seed only the material size applies.
        """
        m = self._check_metric(metric)
        sizes = [s for s in self.sizes if self.values(m, s)]
        if not sizes:
            return f"No trial gave a finite {m}: nothing to diagnose (did the runs diverge?)."
        sign = 1.0 if is_minimized(m) else -1.0  # work with "lower is better" numbers
        first, last = sizes[0], sizes[-1]
        gap0, tol0 = self._paired(m, first, first, sign, gap=True)
        gap1, tol1 = self._paired(m, last, last, sign, gap=True)
        lines = [f"{m} ({'lower' if sign > 0 else 'higher'} is better), {len(self.seeds)} seed(s)"
                 + ("" if len(self.seeds) > 1 else " (one seed: no error bars; use 2+ to tell noise from trend)")
                 + "."]
        lines.append(f"Train-val gap: {gap0:+.4g} at n={first}" + ("" if last == first else f", {gap1:+.4g} at n={last}")
                     + " (> 0: the training set is fit better).")
        if gap0 > tol0 and last != first and gap1 < gap0 - max(tol0, tol1):
            lines.append("High variance at small sizes: the model fits its training points better than held-out "
                         "ones, and the gap shrinks as the training set grows.")
        if gap1 > tol1:
            lines.append(f"At the largest size (n={last}) the training set is still fit better than held-out data: "
                         f"more data or more regularisation (larger train.alpha, weight decay, fewer iterations) "
                         f"would narrow the gap.")
        if len(sizes) >= 2:
            prev = sizes[-2]
            gain, tol = self._paired(m, prev, last, sign, gap=False)
            if gain > tol:
                lines.append(f"More data would still help: val {m} improves by {gain:.4g} from n={prev} to n={last}.")
            else:
                moved = f"improves by only {gain:.4g}" if gain >= 0 else f"gets worse by {-gain:.4g}"
                lines.append(f"Val {m} {moved} from n={prev} to n={last} (threshold {tol:.2g}): more data alone "
                             f"is unlikely to help much.")
        lines.append(self._bias_sentence(m, last, gap1, tol1))
        return " ".join(lines)

    def _paired(self, m: str, size_a: int, size_b: int, sign: float, gap: bool) -> tuple[float, float]:
        """Mean over seeds, and the threshold a difference must pass, of either the gap
        (val - train at size_a == size_b) or the val improvement from size_a to size_b, in
        lower-is-better orientation."""
        a, b = self.values(m, size_a), self.values(m, size_b)
        seeds = sorted(set(a) & set(b))
        if gap:
            d = np.array([a[s][1] - a[s][0] for s in seeds]) * sign
        else:
            d = np.array([a[s][1] - b[s][1] for s in seeds]) * sign
        se = _std(d) / math.sqrt(d.size) if d.size > 1 else 0.0
        scale = abs(_mean(np.array([v for _, v in b.values()])))
        material = _MATERIAL.get(m, _MATERIAL_FRACTION * scale)
        return _mean(d), max(2.0 * se, material)

    def _bias_sentence(self, m: str, last: int, gap: float, tol: float) -> str:
        if m not in _REFERENCE or not is_minimized(m):
            return (f"{m} has no known best value here, so whether train and val are both poor (high bias) "
                    f"cannot be judged from these numbers alone.")
        ref_key, poor = _REFERENCE[m]
        val = _mean(np.array([v for _, v in self.values(m, last).values()]))
        ref = 0.0
        if ref_key is not None:
            refs = [p.metrics.get(ref_key, math.nan) for p in self.points if p.size == last]
            ref = _mean(np.array([r for r in refs if math.isfinite(r)]))
            if not math.isfinite(ref):
                return f"No reference value ({ref_key}) was recorded, so bias cannot be judged."
        excess = val - ref
        what = "the true density's NLL" if ref_key else "0"
        if excess <= poor:
            return (f"At n={last} val {m} is {excess:.3g} above {what} ({ref:.4g}), within the {poor:g} bar: "
                    f"little bias left.")
        if gap <= max(tol, 0.25 * excess):
            return (f"High bias: at n={last} train and val {m} are close to each other but {excess:.3g} above "
                    f"{what} ({ref:.4g}): a larger model, more iterations or a better sampler would help more "
                    f"than data.")
        return (f"At n={last} val {m} is {excess:.3g} above {what} ({ref:.4g}), mostly as a train-val gap "
                f"rather than bias.")

    def _check_metric(self, metric: str | None) -> str:
        m = metric or self.metric
        available = self.metric_names()
        if m not in available and available:  # none at all: every trial diverged (the summary says so)
            raise ConfigError(f"the learning curve has no train_{m}/val_{m}; "
                              f"available: {', '.join(available) or 'none'}")
        return m

    def table(self, metric: str | None = None) -> str:
        """The summary as a text table (one line per size)."""
        m = self._check_metric(metric)
        head = f"{'size':>7} {'seeds':>5} {'train ' + m:>22} {'val ' + m:>22} {'gap':>9}"
        lines = [head, "-" * len(head)]
        for s in self.summary(m):
            lines.append(f"{s.size:>7d} {s.n:>5d} {_pm(s.train_mean, s.train_std):>22} "
                         f"{_pm(s.val_mean, s.val_std):>22} {s.gap:>9.4f}")
        return "\n".join(lines)

    # --- files ---------------------------------------------------------------------------

    def to_json(self) -> str:
        doc = {"kind": RESULT_KIND, "format_version": FORMAT_VERSION, "metric": self.metric,
               "info": self.info, "points": [p.row() for p in self.points]}
        return json.dumps(json_safe(doc), indent=1, allow_nan=False) + "\n"

    def to_csv(self) -> str:
        names = sorted({k for p in self.points for k in p.metrics})
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([*_ROW_KEYS, *names])
        for p in self.points:
            writer.writerow([p.size, p.seed, p.iterations, p.diverged,
                             *(_csv_number(p.metrics.get(k, math.nan)) for k in names)])
        return buf.getvalue()

    def save(self, folder: str | Path) -> tuple[Path, Path]:
        """Write folder/learning_curve.json (everything) and .csv (the rows), atomically."""
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"cannot create the folder {folder}: {exc.strerror or exc}") from exc
        j = write_file(folder / JSON_NAME, self.to_json().encode("utf-8"), "learning curve", DataError)
        c = write_file(folder / CSV_NAME, self.to_csv().encode("utf-8"), "learning curve table", DataError)
        return j, c

    @classmethod
    def load(cls, path: str | Path) -> LearningCurve:
        """Read a learning_curve.json, or a .csv (rows only: info is empty)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: cannot read the learning curve ({exc})") from None
        return cls.from_csv(text, str(path)) if path.suffix.lower() == ".csv" else cls.from_json(text, str(path))

    @classmethod
    def from_json(cls, text: str, source: str = "<json>") -> LearningCurve:
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict) or doc.get("kind") != RESULT_KIND:
                raise ValueError(f"not a learning curve (no \"kind\": \"{RESULT_KIND}\")")
            points = [_point_from_row(r) for r in doc["points"]]
            return cls(points, str(doc.get("metric", "nll")), dict(doc.get("info") or {}))
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{source}: not a valid learning curve file ({exc}); "
                            f"write one with 'ebm-studio learning-curve'") from None

    @classmethod
    def from_csv(cls, text: str, source: str = "<csv>") -> LearningCurve:
        try:
            rows = list(csv.DictReader(io.StringIO(text)))
            if not rows or not {"size", "seed"} <= set(rows[0]):
                raise ValueError("no header with size and seed, or no rows")
            points = [_point_from_row({k: (v if k == "diverged" else (float(v) if v else None))
                                       for k, v in r.items()}) for r in rows]
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{source}: not a valid learning curve table ({exc})") from None
        names = {k for p in points for k in p.metrics}
        return cls(points, "nll" if "val_nll" in names else "mmd")


def _point_from_row(row: dict[str, Any]) -> CurvePoint:
    metrics = {k: (math.nan if v is None else float(v)) for k, v in row.items() if k not in _ROW_KEYS}
    return CurvePoint(int(row["size"]), int(row["seed"]), metrics, int(row.get("iterations") or 0),
                      str(row.get("diverged") or ""))


def _mean(a: np.ndarray) -> float:
    return float(a.mean()) if a.size else math.nan


def _std(a: np.ndarray) -> float:
    return float(a.std(ddof=1)) if a.size > 1 else math.nan


def _pm(mean: float, std: float) -> str:
    return f"{mean:.4f}" + (f" ± {std:.4f}" if math.isfinite(std) else "")


def _csv_number(v: float) -> str:
    return repr(float(v)) if math.isfinite(v) else ""


# --- running --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _load_data(spec_json: str) -> tuple[Dataset, Dataset]:
    """One dataset load per process and (data spec, seed): trials of one seed share it."""
    return load_dataset(json.loads(spec_json))


def _seed_config(config: ExperimentConfig, seed: int) -> ExperimentConfig:
    return config.replace(train={"seed": seed})


def _seed_data(config: ExperimentConfig) -> tuple[Dataset, Dataset]:
    return _load_data(json.dumps(config.data.spec(config.train.seed), sort_keys=True))


def run_trial(config_dict: dict[str, Any], size: int, seed: int, stop: Any = None) -> dict[str, Any] | None:
    """One point of the curve (runs in a worker): train the config with train.seed = seed on
    the nested subset of ``size`` points; returns CurvePoint.row() as a plain dict, or None
    when ``stop`` (an Event in this process, a FileStop in a worker) ended it early."""
    config = _seed_config(ExperimentConfig.from_dict(config_dict), seed)
    train, val = _seed_data(config)
    subset = train.subset(nested_indices(len(train), size, seed))
    result = train_and_evaluate(config, data=(subset, val), train_metrics=True, stop=stop)
    if result.stopped:
        return None
    return CurvePoint(size, seed, dict(result.metrics), result.iterations, result.diverged).row()


def run_learning_curve(config: ExperimentConfig, sizes: Sequence[int] | None = None, seeds: Iterable[int] = (0,),
                       iterations: int | None = None, workers: int = 0, ray_address: str | None = None,
                       on_result: Callable[[CurvePoint], Any] | None = None,
                       stop: threading.Event | Any | None = None) -> LearningCurve:
    """Train ``config`` at each training-set size for each seed and evaluate on train and val.

    sizes: training-set sizes (None: :func:`default_sizes`); each must be in [2, n_train].
    iterations: overrides train.iterations (the lr schedule follows it).
    workers / ray_address: where the trials run (:func:`.executors.make_executor`); at most
    as many trials are in flight as the executor has slots.
    on_result(point): called in this thread as each trial finishes, in finishing order.
    stop: an Event-like object (``is_set()``), checked before each submission; once set, no
    new trial starts, the running ones end within an iteration and are left out, and the curve
    returns with the points finished so far (``info["complete"]`` False).
    The points come back sorted by (size, seed) whatever the order they finished in.
    """
    if iterations is not None:
        config = config.replace(train={"iterations": int(iterations)})
    seeds = [int(s) for s in seeds]
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds must be distinct integers >= 0, got {seeds}")
    train, val = _seed_data(_seed_config(config, seeds[0]))
    n_train = len(train)
    sizes = default_sizes(n_train) if sizes is None else sorted({int(s) for s in sizes})
    bad = [s for s in sizes if not 2 <= s <= n_train]
    if not sizes or bad:
        raise ConfigError(f"training-set sizes must be between 2 and the training set's {n_train} samples "
                          f"({train.name}), got {bad or 'none'}")
    metric = "nll" if train.meta.get("box") is not None else "mmd"
    info = {"config": config.to_dict(), "dataset": train.name, "n_train": n_train, "n_val": len(val),
            "sizes": sizes, "seeds": seeds, "iterations": config.train.iterations, "complete": False}
    tasks = [(size, seed) for size in sizes for seed in seeds]  # small sizes first: a stopped curve is usable
    points: list[CurvePoint] = []

    def collect(_index: int, row: dict[str, Any]) -> None:
        points.append(_point_from_row(row))
        if on_result is not None:
            on_result(points[-1])

    plain = config.to_dict()  # what a worker process can take
    run_all(run_trial, [(plain, size, seed) for size, seed in tasks], workers, ray_address, stop, collect)
    info["complete"] = len(points) == len(tasks)
    points.sort(key=lambda p: (p.size, p.seed))
    return LearningCurve(points, metric, info)


# --- command line -----------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--"
    return f"{int(seconds // 60):02d}:{int(seconds % 60):02d}"


def cmd_learning_curve(args: argparse.Namespace) -> int:
    from ..cli import _emit  # noqa: PLC0415 - the CLI's one JSON-line writer

    config = load_config(args.config)
    per_set = [m for m in OBJECTIVES if m != "loss"]  # metrics measured on both train and val
    if args.metric is not None and args.metric not in per_set:
        raise ConfigError(f"--metric {args.metric!r} is not a learning-curve metric; allowed: {', '.join(per_set)}")
    offered = config_metrics(config)
    if args.metric is not None and config.data.name != "file" and args.metric not in offered:
        raise ConfigError(f"--metric {args.metric!r} is not measured on {config.data.name}; "
                          f"it offers: {', '.join(offered)}")  # said before hours of training, not after
    if args.iterations is not None:
        config = config.replace(train={"iterations": args.iterations})
    sizes = args.sizes
    if sizes is None:
        n_train = len(_seed_data(_seed_config(config, 0))[0])  # the same for every seed
        sizes = default_sizes(n_train, n_points=args.points)
    seeds = list(range(args.seeds))
    total = len(set(sizes)) * len(seeds)
    started = time.perf_counter()
    done = [0]

    def report(point: CurvePoint) -> None:
        done[0] += 1
        _emit(point.row())
        elapsed = time.perf_counter() - started
        eta = elapsed / done[0] * (total - done[0])
        name = args.metric or ("nll" if "val_nll" in point.metrics else "mmd")
        value = point.metrics.get(f"val_{name}", math.nan)
        shown = f"  val_{name} {value:.4f}" if math.isfinite(value) else ""
        print(f"[{done[0]}/{total}] size {point.size} seed {point.seed}{shown}"
              f"{'  DIVERGED' if point.diverged else ''}  elapsed {_clock(elapsed)}  ETA {_clock(eta)}",
              file=sys.stderr, flush=True)

    try:
        curve = run_learning_curve(config, sizes, seeds, workers=args.workers, ray_address=args.ray,
                                   on_result=report)
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stderr)
        return 130
    if args.metric:
        curve.metric = args.metric
    json_path, _ = curve.save(args.out)
    print(f"\n{curve.table()}\n\n{curve.diagnosis()}\n\nsaved {json_path} and {CSV_NAME}",
          file=sys.stderr, flush=True)
    return 0


def register(subparsers: Any) -> None:
    """Add ``ebm-studio learning-curve`` (see engine/cli.py COMMAND_MODULES)."""
    p = subparsers.add_parser("learning-curve", help="train at several training-set sizes; bias/variance",
                              description="Train a config at several training-set sizes (nested subsets, a "
                                          "fixed validation set) and seeds. One JSON line per trial on stdout; "
                                          "progress, the summary table and a diagnosis on stderr.")
    p.add_argument("config", help="experiment config (TOML)")
    p.add_argument("--out", required=True, help="folder for learning_curve.json and learning_curve.csv")
    p.add_argument("--sizes", type=_int_list, help="comma-separated training-set sizes, e.g. 64,256,1024 "
                                                   "(default: --points log-spaced sizes from 64 to all)")
    p.add_argument("--points", type=int, default=6, help="number of default sizes (default 6)")
    p.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per size (default 1)")
    p.add_argument("--iterations", type=int, help="override train.iterations")
    p.add_argument("--workers", type=int, default=0, help="local worker processes (default 0: in this process)")
    p.add_argument("--ray", metavar="ADDRESS", help="run the trials on Ray ('auto', 'ray://host:10001', 'local')")
    p.add_argument("--metric", help="metric for the summary and diagnosis (default: nll for 2D toys, else mmd)")
    p.set_defaults(fn=cmd_learning_curve)
