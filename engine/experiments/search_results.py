"""A search's results: its append-only log of rung results, and the per-trial view built from it.

The log (``results.jsonl`` in the search folder) has one JSON object per finished rung::

    {"trial": 3, "rung": 1, "from": 30, "iteration": 90, "params": {"train.lr": 0.002},
     "status": "promoted", "objective": "val_nll", "value": 2.91,
     "metrics": {"val_nll": 2.91, "loss": 0.01, ...}, "curve": [loss per iteration 31..90],
     "error": "", "time": 1790000000.0}

``status`` is what became of the trial after that rung: promoted (runs on), stopped
(cut by ASHA), completed (ran the full budget), diverged, failed (``error`` says why).
Non-finite numbers are written as null. Each line is flushed and fsynced, so after a
crash at most the last line is partial, and reading drops it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import DataError, EBMError
from ..fileio import json_safe
from ..training.config import ExperimentConfig
from .trial import is_minimized

LOG_NAME = "results.jsonl"


# --- the log -------------------------------------------------------------------------


def append_line(path: Path, record: dict[str, Any]) -> None:
    """Append one record as a JSON line, flushed and fsynced (the log survives a crash up to this line)."""
    text = json.dumps(json_safe(record), allow_nan=False, separators=(",", ":")) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def read_log(path: Path, repair: bool = False) -> list[dict[str, Any]]:
    """The records of a log (none if it does not exist). A partial last line (a crash while
    writing) is dropped, and with ``repair`` cut from the file so that appending goes on cleanly."""
    if not path.is_file():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not {"trial", "rung", "status"} <= set(record):
                raise ValueError("not a rung result")
        except ValueError as exc:
            if number == len(lines):  # no newline after it: written in part
                if repair:
                    with open(path, "r+b") as f:
                        f.truncate(len(data) - len(line))
                break
            raise DataError(f"{path}, line {number}, is not a rung result ({exc}); the search log is damaged: "
                            "delete that line to resume without it") from None
        records.append(record)
    return records


def score_of(value: float | None, objective: str) -> float:
    """A logged objective value as a score to minimize (+inf for none)."""
    if value is None or not math.isfinite(value):
        return math.inf
    return value if is_minimized(objective) else -value


# --- the per-trial view --------------------------------------------------------------


@dataclass
class TrialSummary:
    """One trial as the results show it.

    status: promoted / stopped / completed / diverged / failed (after its last rung),
    or running (a rung job in flight). metrics: of its last rung; value / best_value:
    the objective at its last rung / the best over its rungs (None if none).
    curve: training loss per iteration 1..iteration; objective_curve: (iteration, value)
    per rung. run_dir: its run folder (open it like any run).
    """
    id: int
    params: dict[str, Any]
    status: str = "running"
    rung: int = -1
    iteration: int = 0
    metrics: dict[str, float | None] = field(default_factory=dict)
    value: float | None = None
    best_value: float | None = None
    curve: list[float] = field(default_factory=list)
    objective_curve: list[tuple[int, float | None]] = field(default_factory=list)
    error: str = ""
    run_dir: Path | None = None

    def get(self, column: str) -> Any:
        """The value of a table column: a field (id, status, rung, iteration, value, best_value),
        a searched key ("train.lr") or a metric ("val_nll"); None if the trial has none."""
        if column in ("id", "status", "rung", "iteration", "value", "best_value", "error"):
            return getattr(self, column)
        if column in self.params:
            return self.params[column]
        return self.metrics.get(column)


class SearchResults:
    """The trials of a search, sortable by any column; ``best()`` gives the winner and its config.

    Build it with ``engine.experiments.search.load_results(folder)`` or ``Search.results()``.
    """

    def __init__(self, trials: list[TrialSummary], objective: str, base: ExperimentConfig,
                 make_config: Callable[[dict[str, Any]], ExperimentConfig], keys: list[str]):
        self.trials = trials
        self.objective = objective
        self.minimize = is_minimized(objective)
        self.base = base
        self.keys = keys  # the searched settings, in the space's order
        self._make_config = make_config

    @classmethod
    def from_records(cls, records: list[dict[str, Any]], objective: str, base: ExperimentConfig,
                     make_config: Callable[[dict[str, Any]], ExperimentConfig], keys: list[str],
                     running: dict[int, dict[str, Any]] | None = None,
                     run_dir: Callable[[int], Path] | None = None) -> "SearchResults":
        """Fold log records (and the params of trials whose first rung is in flight) into trials."""
        trials: dict[int, TrialSummary] = {}
        for rec in records:
            t = trials.setdefault(rec["trial"], TrialSummary(rec["trial"], dict(rec.get("params", {}))))
            t.status, t.rung, t.error = rec["status"], rec["rung"], rec.get("error", "")
            t.iteration = rec.get("iteration", t.iteration)
            t.metrics = {k: (math.nan if v is None else v) for k, v in rec.get("metrics", {}).items()}
            t.value = rec.get("value")
            t.curve.extend(math.nan if v is None else v for v in rec.get("curve", []))
            if t.status != "failed":
                t.objective_curve.append((t.iteration, t.value))
            if t.value is not None and (t.best_value is None or score_of(t.value, objective)
                                        < score_of(t.best_value, objective)):
                t.best_value = t.value
        for trial, params in (running or {}).items():
            trials.setdefault(trial, TrialSummary(trial, dict(params))).status = "running"
        for t in trials.values():
            t.run_dir = run_dir(t.id) if run_dir is not None else None
        return cls(sorted(trials.values(), key=lambda t: t.id), objective, base, make_config, keys)

    def columns(self) -> list[str]:
        """Table columns: id, status, rung, iteration, the searched keys, value (the objective),
        best_value, then every metric any trial has."""
        metrics: dict[str, None] = {}
        for t in self.trials:
            metrics.update(dict.fromkeys(t.metrics))
        return ["id", "status", "rung", "iteration", *self.keys, "value", "best_value", *metrics]

    def sorted(self, column: str = "rank", descending: bool | None = None) -> list[TrialSummary]:
        """Trials ordered by ``column`` (missing values last). "rank": furthest rung first, then the
        objective (best first); the objective columns default to best first, others to ascending."""
        if column == "rank":
            return sorted(self.trials, key=self._rank_key)
        if descending is None:
            descending = not self.minimize and column in ("value", "best_value", self.objective)
        present = [t for t in self.trials if _sortable(t.get(column))]
        missing = [t for t in self.trials if not _sortable(t.get(column))]
        present.sort(key=lambda t: (_key(t.get(column)), t.id), reverse=descending)
        return present + missing

    def best(self) -> tuple[TrialSummary, ExperimentConfig]:
        """The best trial (the best objective among the trials that got furthest, i.e. trained
        longest) and its full ExperimentConfig, ready to train or to apply."""
        ranked = [t for t in self.sorted("rank") if math.isfinite(score_of(t.value, self.objective))]
        if not ranked:
            raise EBMError(f"no trial has a finite {self.objective} yet: nothing to choose from "
                           "(see the trials' status and errors)")
        return ranked[0], self.config_of(ranked[0])

    def config_of(self, trial: TrialSummary | int) -> ExperimentConfig:
        """The full config a trial trains with (its params over the base config, the full budget)."""
        t = trial if isinstance(trial, TrialSummary) else next(x for x in self.trials if x.id == trial)
        return self._make_config(t.params)

    def counts(self) -> dict[str, int]:
        """How many trials have each status."""
        out: dict[str, int] = {}
        for t in self.trials:
            out[t.status] = out.get(t.status, 0) + 1
        return out

    def table(self, column: str = "rank", limit: int | None = None) -> str:
        """A plain-text table of the trials, sorted by ``column``."""
        cols = ["id", "status", "iteration", *self.keys, self.objective]
        rows = [[_fmt(t.get(c) if c != self.objective else t.value) for c in cols]
                for t in self.sorted(column)[:limit]]
        widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(cols)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
        return "\n".join(lines)

    def _rank_key(self, t: TrialSummary) -> tuple:
        finite = math.isfinite(score_of(t.value, self.objective))
        return (not finite, -t.rung if finite else 0, score_of(t.value, self.objective), t.id)


def _sortable(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _key(v: Any) -> Any:
    return (0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0, str(v))


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
