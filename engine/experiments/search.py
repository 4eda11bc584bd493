"""Hyperparameter search: grid or random trials over a search space, poor ones stopped early by
ASHA, run inline, in local worker processes or on Ray, saved in a folder and resumable.

    config = load_config("resources/presets/8gaussians.toml")
    space = SearchSpace.load("resources/search/8gaussians.toml", config)
    search = Search.create("runs/search", config, space, SearchSettings(method="random", trials=20, asha=True))
    results = search.run(workers=2, stop=stop_event, progress=callback)   # callback(SearchProgress)
    trial, best_config = results.best()

The folder holds ``search.toml`` (base config, space, settings), ``results.jsonl`` (one line
per finished rung, see :mod:`.search_results`), ``trials/NNNN/`` (one run folder per trial)
and, at the end, ``best.toml``. ``Search.open(folder).run()`` resumes a search: the log
rebuilds the scheduler, finished rungs are never rerun, and a rung that was cut off reruns
from its trial's last checkpoint (exactly, as Trainer resumes). Every trial trains with
``train.iterations = max_iterations``, so a trial cut at a rung followed the same schedule
as one that ran the full budget.

A stop request (``stop.set()`` from any thread) or the end of the time budget ends the
search within about one training iteration per running trial; the interrupted rungs
are not logged and run again on resume.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError, EBMError
from ..fileio import atomic_write_text
from ..training.config import ExperimentConfig, dumps_config, tomllib
from .asha import FAILED, Job, Scheduler, rungs
from .executors import FileStop, make_executor
from .search_results import LOG_NAME, SearchResults, append_line, read_log, score_of
from .space import SearchSpace, apply_params
from .trial import OBJECTIVES

SEARCH_FILE = "search.toml"
BEST_FILE = "best.toml"
STOP_FILE = ".stop"  # tells worker processes to stop (they cannot see this process's Event)
FORMAT = "ebm-studio-search"
BUDGET = ("trials", "minutes")  # the settings a resumed search may change
DEFAULT_RANDOM_TRIALS = 10


def default_objective(config: ExperimentConfig) -> str:
    """The metric a search of ``config`` optimises by default: val_accuracy for a JEM,
    val_nll for 2D toy data (exact, on a grid), val_mmd (samples vs data) otherwise."""
    from ..data.toy2d import TOY_DATASETS  # noqa: PLC0415 - small, but only needed here

    if config.model.kind == "jem":
        return "val_accuracy"
    return "val_nll" if config.data.name in TOY_DATASETS else "val_mmd"


@dataclass
class SearchSettings:
    """How to search. Zeros and "" mean "the default", filled in by :meth:`resolve`.

    method: "grid" (every combination; ranges get ``grid_points`` values unless their own
    ``points``) or "random" (``seed``ed). trials: how many trials at most (grid: all points;
    random: 10, or no limit with ``minutes``). minutes: wall-clock budget of one run of the
    search (a resumed search gets it afresh). objective: a metric name (val_nll, val_accuracy,
    train_nll, loss, ...). asha: stop poor trials at rungs min_iterations * eta^k (default
    min_iterations: max_iterations / eta^2); max_iterations: the full budget of a trial
    (default: the config's train.iterations).
    """
    method: str = "random"
    trials: int = 0
    minutes: float = 0.0
    objective: str = ""
    asha: bool = False
    min_iterations: int = 0
    max_iterations: int = 0
    eta: int = 3
    seed: int = 0
    grid_points: int = 3

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SearchSettings":
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ConfigError(f"unknown search setting(s) {', '.join(unknown)}; allowed: {', '.join(fields)}")
        values = {}
        for name, value in data.items():
            kind = type(fields[name].default)
            ok = isinstance(value, kind) or (kind is float and isinstance(value, int))
            if isinstance(value, bool) and kind is not bool or not ok:
                raise ConfigError(f"search setting {name} must be a {kind.__name__}, got {value!r}")
            values[name] = kind(value)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def resolve(self, config: ExperimentConfig, space: SearchSpace) -> "SearchSettings":
        """These settings checked, with every default filled in for ``config`` and ``space``."""
        if self.method not in ("grid", "random"):
            raise ConfigError(f"search method {self.method!r} is unknown; allowed: grid, random")
        for name in ("trials", "min_iterations", "max_iterations", "seed"):
            if getattr(self, name) < 0:
                raise ConfigError(f"search setting {name} must be >= 0, got {getattr(self, name)}")
        if not self.minutes >= 0 or not math.isfinite(self.minutes):
            raise ConfigError(f"search setting minutes must be >= 0 (0: no time limit), got {self.minutes}")
        if self.eta < 2:
            raise ConfigError(f"search setting eta must be >= 2 (keep the best 1/eta at each rung), got {self.eta}")
        if self.grid_points < 1:
            raise ConfigError(f"search setting grid_points must be >= 1, got {self.grid_points}")
        objective = self.objective or default_objective(config)
        base = objective.split("_", 1)[1] if objective.startswith(("val_", "train_")) else ""
        if objective != "loss" and base not in OBJECTIVES:
            raise ConfigError(f"objective {objective!r} is not a metric a search can optimise; use loss, or val_ "
                              f"or train_ followed by one of {', '.join(o for o in OBJECTIVES if o != 'loss')}")
        trials = self.trials
        if self.method == "grid":
            size = space.grid_size(self.grid_points)
            trials = min(trials, size) if trials else size
        elif not trials and not self.minutes:
            trials = DEFAULT_RANDOM_TRIALS
        max_it = self.max_iterations or config.train.iterations
        min_it = self.min_iterations or max(1, max_it // self.eta ** 2)
        return dataclasses.replace(self, trials=trials, objective=objective, max_iterations=max_it,
                                   min_iterations=min_it if self.asha else 0)


@dataclass(frozen=True)
class SearchProgress:
    """What a progress callback gets after each finished rung.

    record: the log line just written (trial, rung, params, status, value, metrics, curve);
    trials_total: None without a trial limit; eta_seconds: None when unknown.
    """
    record: dict[str, Any]
    results: int  # rung results logged so far
    trials_started: int
    trials_done: int
    trials_total: int | None
    rung: int
    n_rungs: int
    elapsed_seconds: float
    eta_seconds: float | None


@dataclass
class _Session:
    """What one run() call works with."""
    scheduler: Scheduler
    deadline: float | None  # time.time() at which the time budget ends
    progress: Callable[[SearchProgress], Any] | None
    started: float = field(default_factory=time.monotonic)
    iterations: int = 0  # trained in this session (for the ETA)


class Search:
    """A search in a folder. Make one with :meth:`create` (new) or :meth:`open` (resume), then
    :meth:`run`; :meth:`results` may be called at any time, from any thread."""

    def __init__(self, folder: str | os.PathLike, config: ExperimentConfig, space: SearchSpace,
                 settings: SearchSettings):
        self.folder = Path(folder)
        self.config = config
        self.space = space
        self.settings = settings
        self.rungs = rungs(settings.min_iterations, settings.max_iterations, settings.eta) if settings.asha \
            else [settings.max_iterations]
        self._grid = space.grid(settings.grid_points) if settings.method == "grid" else None
        self._records: list[dict[str, Any]] = read_log(self.log_path)
        self._running: dict[int, dict[str, Any]] = {}
        self._bad_objective = False

    # --- making and opening -------------------------------------------------------------

    @classmethod
    def create(cls, folder: str | os.PathLike, config: ExperimentConfig, space: SearchSpace | dict[str, Any],
               settings: SearchSettings | None = None) -> "Search":
        """A new search in ``folder`` (created; it must not hold a search already)."""
        folder = Path(folder)
        if (folder / SEARCH_FILE).exists() or (folder / LOG_NAME).exists():
            raise ConfigError(f"{folder} already holds a search: resume it (--resume) or choose another folder")
        if isinstance(space, dict):
            space = SearchSpace.from_dict(space, config)
        settings = (settings or SearchSettings()).resolve(config, space)
        search = cls(folder, config, space, settings)
        search._write_settings()
        return search

    @classmethod
    def open(cls, folder: str | os.PathLike, trials: int | None = None, minutes: float | None = None) -> "Search":
        """The search saved in ``folder``, to resume or to read; ``trials`` / ``minutes`` change its budget."""
        folder = Path(folder)
        path = folder / SEARCH_FILE
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{folder} holds no search ({SEARCH_FILE} is missing): start one with "
                              "'ebm-studio search CONFIG --space SPACE --out FOLDER'") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the search settings ({exc})") from None
        if data.get("format") != FORMAT or not all(isinstance(data.get(k), dict) for k in ("settings", "config")):
            raise ConfigError(f"{path} is not an EBM Studio search file")
        try:
            config = ExperimentConfig.from_dict(data["config"])
            space = SearchSpace.from_dict(data.get("space", {}), config)
            settings = SearchSettings.from_dict(data["settings"])
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        budget = {k: v for k, v in (("trials", trials), ("minutes", minutes)) if v is not None}
        changed = dataclasses.replace(settings, **budget)
        if budget and settings.method == "random" and not changed.trials and not changed.minutes:
            changed = dataclasses.replace(changed, trials=DEFAULT_RANDOM_TRIALS)
        search = cls(folder, config, space, changed.resolve(config, space) if budget else settings)
        if budget:
            search._write_settings()
        return search

    def check_same(self, config: ExperimentConfig | None = None, space: SearchSpace | None = None,
                   settings: dict[str, Any] | None = None) -> None:
        """ConfigError if a resume was asked with another config, space or setting than the saved
        search's (only the budget, trials and minutes, may change)."""
        where = f"{self.folder} holds a search of another"
        if config is not None and config.to_dict() != self.config.to_dict():
            raise ConfigError(f"{where} config: resume without changing it, or start a new search in another folder")
        if space is not None and space.to_dict() != self.space.to_dict():
            raise ConfigError(f"{where} search space: resume without changing it, or start a new search "
                              "in another folder")
        for name, value in (settings or {}).items():
            saved = getattr(self.settings, name)
            if name not in BUDGET and value != saved and not (name == "objective" and not value):
                raise ConfigError(f"{where} {name} ({saved!r}, not {value!r}): only trials and minutes can change "
                                  "when a search resumes")

    # --- paths and configs -----------------------------------------------------------

    @property
    def log_path(self) -> Path:
        return self.folder / LOG_NAME

    def run_dir(self, trial: int) -> Path:
        return self.folder / "trials" / f"{trial:04d}"

    def params_of(self, trial: int) -> dict[str, Any]:
        """The settings trial ``trial`` tries (a grid point, or a seeded random draw)."""
        if self._grid is not None:
            return dict(self._grid[trial])
        return self.space.sample(self.settings.seed, trial)

    def trial_config(self, params: dict[str, Any]) -> ExperimentConfig:
        """The base config with ``params`` applied and the full budget as train.iterations."""
        return apply_params(self.config, params).replace(train={"iterations": self.settings.max_iterations})

    def results(self) -> SearchResults:
        """The trials so far (running ones included)."""
        return SearchResults.from_records(list(self._records), self.settings.objective, self.config,
                                          self.trial_config, self.space.keys, dict(self._running), self.run_dir)

    # --- running -----------------------------------------------------------------------

    def run(self, workers: int = 0, ray_address: str | None = None, stop: threading.Event | None = None,
            progress: Callable[[SearchProgress], Any] | None = None) -> SearchResults:
        """Run (or go on with) the search until its budget is spent or ``stop`` is set.

        workers: 0 runs the trials in this process, W > 0 in W local processes; ray_address
        ("local", "auto", "ray://host:port") runs them on Ray. ``progress`` is called in this
        thread after each finished rung. Writes ``best.toml`` at the end when a trial has a
        finite objective.
        """
        s = self.settings
        self.folder.mkdir(parents=True, exist_ok=True)
        self._records = read_log(self.log_path, repair=True)
        scheduler = Scheduler(self.rungs, s.eta, s.trials or None)
        for rec in self._records:
            scheduler.restore(rec["trial"], rec["rung"], score_of(rec.get("value"), s.objective), rec["status"])
        stop = stop or threading.Event()
        stop_file = self.folder / STOP_FILE
        stop_file.unlink(missing_ok=True)
        deadline = time.time() + 60.0 * s.minutes if s.minutes else None
        session = _Session(scheduler, deadline, progress)
        executor = make_executor(workers, ray_address)
        token: Any = stop if getattr(executor, "in_process", False) else FileStop(stop_file)
        in_flight: dict[Future, tuple[int, Job]] = {}
        count = 0
        clean = False
        try:
            while True:
                halted = stop.is_set() or (deadline is not None and time.time() >= deadline)
                if halted and stop.is_set() and in_flight and not stop_file.exists():
                    stop_file.touch()
                while not halted and len(in_flight) < executor.slots:
                    job = scheduler.next_job()
                    if job is None:
                        break
                    future = self._submit(executor, job, session, token)
                    if future is not None:
                        in_flight[future] = (count, job)
                        count += 1
                if not in_flight:
                    break
                done, _ = wait(list(in_flight), timeout=0.25, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: in_flight[f][0]):  # in submission order
                    _, job = in_flight.pop(future)
                    self._finish(job, future, session)
            clean = True
        finally:
            if not clean and in_flight:
                stop_file.touch()  # the running rungs end at their next iteration, checkpointed
            executor.shutdown(cancel=not clean)
            stop_file.unlink(missing_ok=True)
            self._running.clear()
            if self._bad_objective:
                self._forget_failed_start()
        results = self.results()
        try:
            _, best = results.best()
            atomic_write_text(self.folder / BEST_FILE, dumps_config(best))
        except EBMError:
            pass  # no trial with a finite objective yet
        return results

    def _submit(self, executor: Any, job: Job, session: _Session, token: Any) -> Future | None:
        params = self.params_of(job.trial)
        try:
            config = self.trial_config(params)
        except ConfigError as exc:  # a combination the config refuses: this trial fails, the search goes on
            session.scheduler.fail(job.trial, job.rung)
            self._log(job, params, {"status": FAILED, "error": str(exc)}, session)
            return None
        self._running[job.trial] = params
        start = self.rungs[job.rung - 1] if job.rung else 0
        return executor.submit(run_rung, config.to_dict(), str(self.run_dir(job.trial)), start, job.target,
                               self.settings.objective.startswith("train_"), token, session.deadline)

    def _finish(self, job: Job, future: Future, session: _Session) -> None:
        params = self._running.pop(job.trial, None) or self.params_of(job.trial)
        error = future.exception()
        if error is not None and not isinstance(error, EBMError):
            raise error  # a bug, not a bad setting: stop the search and show it
        if error is not None:
            session.scheduler.fail(job.trial, job.rung)
            self._log(job, params, {"status": FAILED, "error": str(error)}, session)
            return
        out = future.result()
        if out["interrupted"]:
            session.scheduler.release(job)
            return
        objective = self.settings.objective
        metrics = out["metrics"]
        if not out["diverged"] and objective not in metrics:
            self._bad_objective = True
            names = ", ".join(sorted(k for k in metrics if k != "seconds"))
            raise ConfigError(f"objective {objective!r} is not among this experiment's metrics ({names}): "
                              "choose one of them (--objective)")
        value = metrics.get(objective)
        value = value if value is not None and math.isfinite(value) else None
        status = session.scheduler.report(job.trial, job.rung, score_of(value, objective), diverged=bool(out["diverged"]))
        session.iterations += max(0, out["iteration"] - out["start"])
        self._log(job, params, {"status": status, "iteration": out["iteration"], "from": out["start"],
                                "value": value, "metrics": metrics, "curve": out["curve"],
                                "error": out["diverged"]}, session)

    def _log(self, job: Job, params: dict[str, Any], fields: dict[str, Any], session: _Session) -> None:
        self._running.pop(job.trial, None)
        record = {"trial": job.trial, "rung": job.rung, "params": params, "objective": self.settings.objective,
                  "value": None, "metrics": {}, "curve": [], "error": "", **fields, "time": time.time()}
        record.setdefault("iteration", 0)
        append_line(self.log_path, record)
        self._records.append(record)
        if session.progress is not None:
            elapsed = time.monotonic() - session.started
            scheduler = session.scheduler
            session.progress(SearchProgress(record, len(self._records), scheduler.started, len(scheduler.finished),
                                            self.settings.trials or None, job.rung, len(self.rungs), elapsed,
                                            _eta(session, elapsed)))

    def _forget_failed_start(self) -> None:
        """A search whose first result shows a bad objective recorded nothing: leave no folder behind
        that would block starting it again with the right objective."""
        self._bad_objective = False
        if self._records:
            return
        shutil.rmtree(self.folder / "trials", ignore_errors=True)
        (self.folder / SEARCH_FILE).unlink(missing_ok=True)

    def _write_settings(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        import tomli_w  # noqa: PLC0415 - only needed to write

        data = {"format": FORMAT, "settings": self.settings.to_dict(), "space": self.space.to_dict(),
                "config": tomllib.loads(dumps_config(self.config))}
        atomic_write_text(self.folder / SEARCH_FILE, tomli_w.dumps(data))


def _eta(session: _Session, elapsed: float) -> float | None:
    """Seconds left: the iterations ASHA is expected to train yet at this session's pace, or the
    time budget left if that comes first; None when unknown."""
    remaining = session.scheduler.expected_iterations()
    rate = session.iterations / elapsed if elapsed > 0 else 0.0
    eta = remaining / rate if remaining is not None and rate > 0 else None
    if session.deadline is not None:
        left = max(0.0, session.deadline - time.time())
        eta = left if eta is None else min(eta, left)
    return eta


# --- the rung job (runs in a worker) ---------------------------------------------------


class _Halt(Exception):
    """Raised from the report callback to leave the training loop at once (stop or time up)."""


def run_rung(config: dict[str, Any], run_dir: str, start: int, target: int, train_metrics: bool,
             stop: Any, deadline: float | None) -> dict[str, Any]:
    """Train one trial from its run folder's last checkpoint until it has ``target`` iterations,
    then evaluate. ``start``: the iteration the rung began at (the loss curve is reported from there).

    stop: a threading.Event (same process), an executors.FileStop (worker processes), or None;
    deadline: a time.time() at which to stop. A stopped rung returns {"interrupted": True}
    after checkpointing where it stopped. A module-level function of plain arguments, so it
    can run in a worker process or on Ray.
    """
    from ..training.trainer import Trainer  # noqa: PLC0415 - heavy; imported in the worker
    from .trial import train_and_evaluate  # noqa: PLC0415

    def halted() -> bool:
        if deadline is not None and time.time() >= deadline:
            return True
        return stop is not None and stop.is_set()

    def check(_report: Any) -> None:
        if halted():
            raise _Halt

    cfg = ExperimentConfig.from_dict(config)
    if halted():
        return {"interrupted": True}
    trainer = Trainer(cfg, run_dir=run_dir, resume=True)
    try:
        result = train_and_evaluate(cfg, iterations=max(0, target - trainer.iteration), trainer=trainer,
                                    train_metrics=train_metrics, on_report=check)
    except _Halt:
        trainer.save()
        return {"interrupted": True}
    # the rung's curves from the checkpointed log, not from this job's reports: whole (and the same)
    # even if the rung was cut off and this job went on from the middle
    curve = _segment(trainer.curves, "loss", start, trainer.iteration)
    metrics = dict(result.metrics)
    tail = curve[-max(1, len(curve) // 10):]
    metrics["loss"] = sum(tail) / len(tail) if tail else math.nan
    accepted = [a for a in _segment(trainer.curves, "acceptance", start, trainer.iteration) if math.isfinite(a)]
    if accepted:
        metrics["acceptance"] = sum(accepted) / len(accepted)
    return {"interrupted": False, "start": start, "iteration": trainer.iteration, "metrics": metrics,
            "curve": curve, "diverged": result.diverged}


def _segment(curves: Any, name: str, start: int, end: int) -> list[float]:
    """Values of curve ``name`` at iterations start+1..end (one per iteration that has it)."""
    iterations, values = curves.series(name)
    by_iteration: dict[int, float] = {}
    for it, value in zip(iterations.tolist(), values.tolist()):
        by_iteration.setdefault(it, value)  # the first row: a rollback adds a second, nan one
    return [by_iteration[i] for i in sorted(by_iteration) if start < i <= end]


# --- one-call forms ---------------------------------------------------------------------


def run_search(folder: str | os.PathLike, config: ExperimentConfig, space: SearchSpace | dict[str, Any],
               settings: SearchSettings | None = None, *, resume: bool = False, workers: int = 0,
               ray_address: str | None = None, stop: threading.Event | None = None,
               progress: Callable[[SearchProgress], Any] | None = None) -> SearchResults:
    """Create (or with ``resume``, reopen and check) the search in ``folder`` and run it."""
    if resume and (Path(folder) / SEARCH_FILE).exists():
        given = settings or SearchSettings()
        search = Search.open(folder, trials=given.trials or None, minutes=given.minutes or None)
        if isinstance(space, dict):
            space = SearchSpace.from_dict(space, config)
        search.check_same(config, space, {k: v for k, v in given.to_dict().items()
                                          if v != getattr(SearchSettings(), k)})
    else:
        search = Search.create(folder, config, space, settings)
    return search.run(workers=workers, ray_address=ray_address, stop=stop, progress=progress)


def load_results(folder: str | os.PathLike) -> SearchResults:
    """The results of the search saved in ``folder`` (finished or not), without running anything."""
    return Search.open(folder).results()
