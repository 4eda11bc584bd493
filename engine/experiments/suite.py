"""The fixed benchmark suite: the same cases, budgets and seeds every time, so two results compare.

    result = run_suite(quick=True, only="8gaussians_*")
    result.save("out/")                              # out/benchmark.json and out/benchmark.csv
    rows = compare(load_results("a.json"), load_results("b.json"))

Cases (SUITE_VERSION 1): every 2D toy density x {langevin, mala}, from its preset in
resources/presets/<name>.toml with the iterations cut to the suite budget (the cosine
schedule follows the cut), plus builtin_digits with the digits_convnet preset. Seed 0.
The full budget is 800 iterations per 2D case and 200 for digits (about 6-8 minutes on
a 2-core CPU with one BLAS thread); ``quick`` is 25 and 4, a smoke test whose numbers
mean little. Any change to the cases or budgets must raise SUITE_VERSION: ``compare``
refuses results of different versions, and quick against full.

A row: case, dataset, sampler, iterations, val_nll (exact held-out NLL, 2D), true_nll
(the true density's NLL on the same points, for reference), kl (grid KL(p || model),
2D), mmd (MMD^2 between replay-buffer samples and validation data), acceptance (mean
MALA acceptance over the run; empty for Langevin), seconds (training plus evaluation),
diverged. ``info`` says which suite, budget, engine version, machine and date.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import fnmatch
import io
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from ..fileio import json_safe, write_file
from ..training.config import ExperimentConfig, load_config
from .executors import run_all
from .trial import is_minimized, train_and_evaluate

SUITE_VERSION = 1
RESULT_KIND = "ebm-studio benchmark"
JSON_NAME, CSV_NAME = "benchmark.json", "benchmark.csv"
PRESET_DIR = Path(__file__).resolve().parents[2] / "resources" / "presets"

# Fixed here, not read from toy2d, so that a new toy density cannot change suite 1 silently.
TOY_NAMES = ("8gaussians", "25gaussians", "two_spirals", "checkerboard", "rings", "pinwheel",
             "swiss_roll", "two_moons")
SAMPLERS = ("langevin", "mala")
SEED = 0
BUDGETS = {False: {"2d": 800, "image": 200}, True: {"2d": 25, "image": 4}}  # quick -> iterations

METRIC_COLUMNS = ("val_nll", "true_nll", "kl", "mmd", "acceptance", "seconds")
ROW_COLUMNS = ("case", "dataset", "sampler", "iterations", *METRIC_COLUMNS, "diverged")
INFO_COLUMNS = ("suite_version", "quick", "iterations_2d", "iterations_image", "seed", "engine_version",
                "platform", "python", "cpu_count", "numpy", "backend", "blas_threads", "workers", "date")
COMPARED = ("val_nll", "kl", "mmd", "acceptance", "seconds")  # true_nll is the data's, not the model's
_FROM_TRIAL = {"val_nll": "val_nll", "true_nll": "val_true_nll", "kl": "val_kl", "mmd": "val_mmd",
               "acceptance": "acceptance", "seconds": "seconds"}
_DIGITS = {"mmd": 5, "seconds": 1}  # decimals in the printed tables
_INT_INFO, _BOOL_INFO = {"suite_version", "iterations_2d", "iterations_image", "seed", "cpu_count", "workers"}, {"quick"}


@dataclass(frozen=True)
class BenchmarkCase:
    name: str  # e.g. "8gaussians_mala"
    dataset: str
    sampler: str
    preset: str  # file stem in resources/presets
    image: bool = False

    def config(self, quick: bool = False) -> ExperimentConfig:
        """The preset with this case's sampler, the suite's budget and seed, evaluation only at the end."""
        path = PRESET_DIR / f"{self.preset}.toml"
        config = load_config(path) if path.is_file() else ExperimentConfig().replace(data={"name": self.dataset})
        iterations = BUDGETS[quick]["image" if self.image else "2d"]
        sampler: dict[str, Any] = {"kind": self.sampler}
        if self.sampler == "langevin" and config.sampler.kind != "langevin":
            sampler["noise"] = -1.0  # textbook Langevin at the preset's step
        return config.replace(sampler=sampler, train={"iterations": iterations, "seed": SEED,
                                                      "eval_every": iterations})


def suite_cases() -> list[BenchmarkCase]:
    """The cases of suite SUITE_VERSION, in their fixed order."""
    cases = [BenchmarkCase(f"{toy}_{s}", toy, s, toy) for toy in TOY_NAMES for s in SAMPLERS]
    cases.append(BenchmarkCase("builtin_digits_langevin", "builtin_digits", "langevin", "digits_convnet", image=True))
    return cases


def select_cases(only: str | None) -> list[BenchmarkCase]:
    """Cases whose name matches one of the comma-separated patterns (fnmatch; a pattern without
    wildcards matches as a substring); all cases for None/empty."""
    cases = suite_cases()
    if not only:
        return cases
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    patterns = [p if any(c in p for c in "*?[") else f"*{p}*" for p in patterns]
    chosen = [c for c in cases if any(fnmatch.fnmatchcase(c.name, p) for p in patterns)]
    if not chosen:
        raise ConfigError(f"--only {only!r} matches no case; the cases are: {', '.join(c.name for c in cases)}")
    return chosen


def run_case(name: str, quick: bool, stop: Any = None) -> dict[str, Any] | None:
    """One case, start to finish (runs in a worker): its result row as a plain dict, or None
    when ``stop`` (an Event in this process, a FileStop in a worker) ended it early: a
    cut-short case is no result."""
    case = next((c for c in suite_cases() if c.name == name), None)
    if case is None:
        raise ConfigError(f"no benchmark case named {name!r}")
    result = train_and_evaluate(case.config(quick), stop=stop)
    if result.stopped:
        return None
    row: dict[str, Any] = {"case": case.name, "dataset": case.dataset, "sampler": case.sampler,
                           "iterations": result.iterations}
    for column, key in _FROM_TRIAL.items():
        row[column] = float(result.metrics.get(key, math.nan))
    row["diverged"] = result.diverged
    return row


@dataclass
class BenchmarkResult:
    """Rows (one per case, see the module docstring) and info (suite, budget, machine, date)."""

    rows: list[dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)

    def row(self, case: str) -> dict[str, Any] | None:
        return next((r for r in self.rows if r["case"] == case), None)

    def table(self) -> str:
        """The rows as a Markdown table (empty cells for missing values)."""
        head = "| case | sampler | val_nll | true_nll | kl | mmd | acceptance | seconds |"
        lines = [head, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in self.rows:
            cells = [_fmt(r[c], _DIGITS.get(c, 4)) for c in METRIC_COLUMNS]
            flag = " (diverged)" if r.get("diverged") else ""
            lines.append(f"| {r['case']}{flag} | {r['sampler']} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_json(self) -> str:
        doc = {"kind": RESULT_KIND, **self.info, "rows": self.rows}
        return json.dumps(json_safe(doc), indent=1, allow_nan=False) + "\n"

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([*ROW_COLUMNS, *INFO_COLUMNS])
        for r in self.rows:
            writer.writerow([*(_csv_cell(r.get(c)) for c in ROW_COLUMNS), *(_csv_cell(self.info.get(c)) for c in INFO_COLUMNS)])
        return buf.getvalue()

    def save(self, folder: str | Path) -> tuple[Path, Path]:
        """Write folder/benchmark.json and folder/benchmark.csv (atomically)."""
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"cannot create the folder {folder}: {exc.strerror or exc}") from exc
        return (write_file(folder / JSON_NAME, self.to_json().encode("utf-8"), "benchmark result", DataError),
                write_file(folder / CSV_NAME, self.to_csv().encode("utf-8"), "benchmark table", DataError))


def run_suite(quick: bool = False, workers: int = 0, only: str | None = None, ray_address: str | None = None,
              on_result: Callable[[dict[str, Any]], Any] | None = None, stop: Any | None = None) -> BenchmarkResult:
    """Run the (selected) cases; rows come back in the suite's order.

    workers / ray_address: as for :func:`.executors.make_executor` (seconds are wall time per
    case, so run with workers <= 1 for timings). on_result(row) is called as each case ends;
    ``stop`` (an Event-like object) is checked before each case starts; running cases end
    within an iteration and are left out.
    """
    cases = select_cases(only)
    info = machine_info(quick, workers)
    rows = run_all(run_case, [(case.name, quick) for case in cases], workers, ray_address, stop,
                   None if on_result is None else lambda _index, row: on_result(row))
    return BenchmarkResult([rows[i] for i in sorted(rows)], info)


# --- what ran where -------------------------------------------------------------------------------


def engine_version() -> str:
    """``git describe`` of the source tree when it is a git checkout, else the package version."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=root, capture_output=True,
                             text=True, timeout=10, check=True)
        if out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        from importlib.metadata import version  # noqa: PLC0415

        return version("ebm-studio")
    except Exception:  # noqa: BLE001 - not installed: say so rather than fail a benchmark
        return "unknown"


def machine_info(quick: bool, workers: int = 0) -> dict[str, Any]:
    """The info block of a result: suite, budget, engine version, machine, date (UTC)."""
    from .. import backend  # noqa: PLC0415

    b = backend.info()
    threads = next((os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
                    if os.environ.get(k)), "default")
    return {"suite_version": SUITE_VERSION, "quick": bool(quick), "iterations_2d": BUDGETS[bool(quick)]["2d"],
            "iterations_image": BUDGETS[bool(quick)]["image"], "seed": SEED, "engine_version": engine_version(),
            "platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count() or 1,
            "numpy": np.__version__, "backend": f"{b.name} ({b.device})", "blas_threads": threads,
            "workers": int(workers),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


# --- files and comparison ---------------------------------------------------------------------------


def load_results(path: str | Path) -> BenchmarkResult:
    """Read a benchmark.json or benchmark.csv; a file that is not one raises DataError naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the benchmark result ({exc})") from None
    try:
        return _from_csv(text) if path.suffix.lower() == ".csv" else _from_json(text)
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a benchmark result of ebm-studio ({exc}); "
                        f"write one with 'ebm-studio benchmark --out DIR'") from None


def _from_json(text: str) -> BenchmarkResult:
    doc = json.loads(text)
    if not isinstance(doc, dict) or doc.get("kind") != RESULT_KIND:
        raise ValueError(f"no \"kind\": \"{RESULT_KIND}\"")
    info = {k: doc[k] for k in INFO_COLUMNS if k in doc}
    _check_info(info)
    return BenchmarkResult([_typed_row(r) for r in doc["rows"]], info)


def _from_csv(text: str) -> BenchmarkResult:
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or not {"case", "suite_version", "quick"} <= set(rows[0]):
        raise ValueError("no header with case, suite_version and quick, or no rows")
    info: dict[str, Any] = {}
    for k in INFO_COLUMNS:
        v = rows[0].get(k)
        if v is None or v == "":
            continue
        info[k] = int(v) if k in _INT_INFO else (v == "True") if k in _BOOL_INFO else v
    _check_info(info)
    return BenchmarkResult([_typed_row({k: (v if v != "" else None) for k, v in r.items() if k in ROW_COLUMNS})
                            for r in rows], info)


def _check_info(info: dict[str, Any]) -> None:
    if not isinstance(info.get("suite_version"), int) or not isinstance(info.get("quick"), bool):
        raise ValueError("no suite_version (an integer) or quick (true/false)")


def _typed_row(r: dict[str, Any]) -> dict[str, Any]:
    row = {"case": str(r["case"]), "dataset": str(r.get("dataset") or ""), "sampler": str(r.get("sampler") or ""),
           "iterations": int(r.get("iterations") or 0)}
    for c in METRIC_COLUMNS:
        v = r.get(c)
        row[c] = math.nan if v is None else float(v)
    row["diverged"] = str(r.get("diverged") or "")
    return row


@dataclass(frozen=True)
class Comparison:
    case: str
    metric: str
    a: float
    b: float
    delta: float  # b - a
    better: str  # "a", "b", "same", or "" (a value is missing)


def compare(a: BenchmarkResult, b: BenchmarkResult) -> list[Comparison]:
    """Per case (in a's order, then b's extra cases) and metric of COMPARED: both values, b - a and
    the better side (lower val_nll/kl/mmd/seconds, higher acceptance).

    Refuses (DataError) results of different suite versions, or a quick one against a full one.
    """
    va, vb = a.info.get("suite_version"), b.info.get("suite_version")
    if va != vb:
        raise DataError(f"cannot compare results of suite version {va} and {vb}: their cases or budgets differ; "
                        f"run the same suite version for both")
    qa, qb = bool(a.info.get("quick")), bool(b.info.get("quick"))
    if qa != qb:
        raise DataError(f"cannot compare a {'quick' if qa else 'full'} result with a {'quick' if qb else 'full'} "
                        f"one: their budgets differ; run both with or both without --quick")
    names = [r["case"] for r in a.rows] + [r["case"] for r in b.rows if a.row(r["case"]) is None]
    out = []
    for name in names:
        ra, rb = a.row(name) or {}, b.row(name) or {}
        for metric in COMPARED:
            x, y = float(ra.get(metric, math.nan)), float(rb.get(metric, math.nan))
            if not math.isfinite(x) and not math.isfinite(y):
                continue  # a metric this case does not have (acceptance for Langevin, NLL for images)
            if not (math.isfinite(x) and math.isfinite(y)):
                better = ""  # missing on one side: a case run on one side only, or a diverged run
            elif x == y:
                better = "same"
            else:
                better = "a" if (x < y) == is_minimized(metric) else "b"
            out.append(Comparison(name, metric, x, y, y - x, better))
    return out


def format_comparison(rows: Sequence[Comparison], label_a: str = "A", label_b: str = "B") -> str:
    lines = [f"| case | metric | {label_a} | {label_b} | delta (B - A) | better |",
             "| --- | --- | ---: | ---: | ---: | --- |"]
    for r in rows:
        better = {"a": label_a, "b": label_b, "same": "same", "": "-"}[r.better]
        d = _DIGITS.get(r.metric, 4)
        lines.append(f"| {r.case} | {r.metric} | {_fmt(r.a, d)} | {_fmt(r.b, d)} | {_fmt(r.delta, d, sign=True)} | "
                     f"{better} |")
    return "\n".join(lines)


def _fmt(v: Any, digits: int, sign: bool = False) -> str:
    if v is None or not isinstance(v, (int, float)) or not math.isfinite(v):
        return ""
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def _csv_cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ""
    return str(v)


# --- command line ------------------------------------------------------------------------------------


def cmd_benchmark(args: argparse.Namespace) -> int:
    from ..cli import _emit  # noqa: PLC0415 - the CLI's one JSON-line writer

    if args.compare:
        a, b = (load_results(p) for p in args.compare)
        rows = compare(a, b)
        print(f"A = {args.compare[0]} ({a.info.get('engine_version')}, {a.info.get('date')})\n"
              f"B = {args.compare[1]} ({b.info.get('engine_version')}, {b.info.get('date')})\n")
        print(format_comparison(rows))
        return 0
    if not args.out:
        raise ConfigError("benchmark needs --out DIR (where benchmark.json and .csv go), or --compare A B")
    total = len(select_cases(args.only))
    started, done = time.perf_counter(), [0]

    def report(row: dict[str, Any]) -> None:
        done[0] += 1
        _emit(row)
        elapsed = time.perf_counter() - started
        eta = elapsed / done[0] * (total - done[0])
        print(f"[{done[0]}/{total}] {row['case']} {row['seconds']:.1f} s"
              f"{'  DIVERGED' if row['diverged'] else ''}  elapsed {elapsed:.0f} s  ETA {eta:.0f} s",
              file=sys.stderr, flush=True)

    try:
        result = run_suite(quick=args.quick, workers=args.workers, only=args.only, ray_address=args.ray,
                           on_result=report)
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stderr)
        return 130
    json_path, csv_path = result.save(args.out)
    kind = "QUICK (smoke test, not comparable with full runs)" if args.quick else "full"
    print(f"\nsuite v{SUITE_VERSION}, {kind}, engine {result.info['engine_version']}\n{result.table()}\n\n"
          f"saved {json_path} and {csv_path}", file=sys.stderr, flush=True)
    return 0


def register(subparsers: Any) -> None:
    """Add ``ebm-studio benchmark`` (see engine/cli.py COMMAND_MODULES)."""
    p = subparsers.add_parser("benchmark", help="run the fixed benchmark suite, or compare two results",
                              description="Run the fixed benchmark suite (2D toys x Langevin/MALA, digits): one "
                                          "JSON line per case on stdout, progress and the table on stderr; or "
                                          "compare two results with --compare A.json B.json.")
    p.add_argument("--out", help="folder for benchmark.json and benchmark.csv")
    p.add_argument("--quick", action="store_true", help="a tiny budget: a smoke test, recorded as such")
    p.add_argument("--workers", type=int, default=0, help="local worker processes (default 0: in this process); "
                                                          "seconds are only comparable at 0 or 1")
    p.add_argument("--ray", metavar="ADDRESS", help="run the cases on Ray")
    p.add_argument("--only", metavar="PATTERN", help="comma-separated case-name patterns, e.g. '8gaussians_*,digits'")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two results (json or csv) and exit")
    p.set_defaults(fn=cmd_benchmark)
