"""One training run, start to finish, reduced to its final metrics: the unit every experiment repeats.

    result = train_and_evaluate(config, iterations=200)
    result.metrics["val_nll"], result.metrics["train_nll"], result.curve  # loss per iteration

Metrics are named ``val_<name>`` (validation set) and, with ``train_metrics``,
``train_<name>`` (the same metric on the training set), plus ``loss`` (mean of
the last 10% of iterations), ``seconds``, and, for MALA/HMC, ``acceptance`` (the mean
acceptance rate over all iterations).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..data.dataset import Dataset
from ..training.config import ExperimentConfig
from ..training.report import Report
from ..training.trainer import DivergenceError, Trainer

# Which way is better for each metric name (without its val_/train_ prefix).
HIGHER_IS_BETTER = {"accuracy", "ood_auroc_noise", "acceptance"}
OBJECTIVES = ("nll", "kl", "mmd", "e_data", "nn_distance", "accuracy", "ood_auroc_noise", "loss")


def offered_metrics(is_2d: bool, has_density: bool, image: bool, jem: bool) -> list[str]:
    """The metrics Trainer.evaluate gives for such data, without their val_/train_ prefix."""
    out = (["nll", "kl"] if has_density else ["nll"]) if is_2d else []
    out += ["mmd", "e_data"]
    if image:
        out += ["nn_distance", "ood_auroc_noise"]
    if jem:
        out.append("accuracy")
    return out


def config_metrics(config: ExperimentConfig) -> list[str]:
    """offered_metrics guessed from the config alone (before its data is loaded): toy densities are
    2D with an exact density, the built-in sets are images, a user's file could be either (only
    what every dataset offers is listed for it)."""
    from ..data.toy2d import TOY_DATASETS  # noqa: PLC0415

    toy = config.data.name in TOY_DATASETS
    image = not toy and config.data.name != "file"
    return offered_metrics(toy, toy, image, config.model.kind == "jem")


def is_minimized(metric: str) -> bool:
    """True when smaller values of ``metric`` (e.g. "val_nll", "loss") are better."""
    base = metric.split("_", 1)[1] if metric.startswith(("val_", "train_")) else metric
    return base not in HIGHER_IS_BETTER


@dataclass
class TrialResult:
    metrics: dict[str, float]  # val_*, train_*, loss, seconds
    curve: list[float] = field(default_factory=list)  # training loss per iteration
    iterations: int = 0
    diverged: str = ""  # the divergence message, if the run stopped on one
    stopped: bool = False  # ended early by a stop request: not a result to compare with others

    def score(self, objective: str) -> float:
        """The objective as a number to minimize (a higher-is-better metric is negated);
        +inf when the metric is missing or not finite (a diverged run ranks last)."""
        value = self.metrics.get(objective, math.nan)
        if not math.isfinite(value):
            return math.inf
        return value if is_minimized(objective) else -value


def train_and_evaluate(config: ExperimentConfig, iterations: int | None = None, run_dir: str | Path | None = None,
                       resume: bool = False, data: tuple[Dataset, Dataset] | None = None,
                       train_metrics: bool = False, on_report: Callable[[Report], Any] | None = None,
                       trainer: Trainer | None = None, stop: Any = None) -> TrialResult:
    """Train ``config`` (up to ``iterations`` more, default: train.iterations) and evaluate the end.

    run_dir/resume: as for Trainer (a trial that resumes continues its run exactly).
    data: (train, val) to use instead of the config's data (e.g. a training subset).
    A run that diverges ends early with ``diverged`` set; its metrics are then only loss and seconds.
    stop: an Event-like object (``is_set()``) checked after every iteration; once set, the run
    ends there with ``stopped`` set (and is not evaluated).
    """
    start = time.perf_counter()
    trainer = trainer or Trainer(config, run_dir=run_dir, resume=resume, data=data)
    curve: list[float] = []
    accepted: list[float] = []
    last: Report | None = None
    diverged = ""
    end = trainer.config.train.iterations if iterations is None else trainer.iteration + iterations
    try:
        for report in trainer.run(iterations):
            last = report
            curve.append(report.loss)
            if report.acceptance is not None and math.isfinite(report.acceptance):
                accepted.append(report.acceptance)
            if on_report is not None:
                on_report(report)
            if stop is not None and stop.is_set():
                trainer.request_stop()  # ends after this iteration
    except DivergenceError as exc:
        diverged = str(exc)
    if stop is not None and stop.is_set() and trainer.iteration < end and not diverged:
        return TrialResult({"seconds": time.perf_counter() - start}, curve, trainer.iteration, stopped=True)
    # the trainer evaluates at its last iteration: reuse that rather than evaluate the same state twice
    final = last.metrics if last is not None and last.metrics and last.iteration == trainer.iteration else None
    metrics = {f"val_{k}": v for k, v in (final or trainer.evaluate()).items()} if not diverged else {}
    if train_metrics and not diverged:
        metrics.update({f"train_{k}": v for k, v in trainer.evaluate(on=trainer.train_set).items()})
    tail = curve[-max(1, len(curve) // 10):]
    metrics["loss"] = sum(tail) / len(tail) if tail else math.nan
    if accepted:
        metrics["acceptance"] = sum(accepted) / len(accepted)
    metrics["seconds"] = time.perf_counter() - start
    return TrialResult(metrics, curve, trainer.iteration, diverged)
