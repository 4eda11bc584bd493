"""Which rung job runs next, and what becomes of a trial after each rung: asynchronous successive halving.

Pure bookkeeping, no training and no files, so it can be tested on made-up scores.

Rungs are budgets in iterations: min_iterations * eta^k below max_iterations, then
max_iterations (``rungs(100, 1000, 3) == [100, 300, 900, 1000]``). A trial runs to the
first rung; when its result comes in, it is *promoted* (runs on to the next rung) if it
is among the best max(1, floor(n / eta)) of the n results recorded at that rung so far,
itself included, and *stopped* otherwise: decisions are taken at once, never waiting
for other trials (asynchronous), so early trials are judged against fewer rivals. A
non-finite score (a diverged run) always stops. With one rung (no ASHA) every trial
runs the full budget.

Job order: promoted trials first (oldest promotion first), then new trials in id order.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

PROMOTED, STOPPED, COMPLETED, DIVERGED, FAILED = "promoted", "stopped", "completed", "diverged", "failed"
FINAL = (STOPPED, COMPLETED, DIVERGED, FAILED)


def rungs(min_iterations: int, max_iterations: int, eta: int) -> list[int]:
    """The rung budgets (iterations, increasing, ending at max_iterations)."""
    if max_iterations < 1 or eta < 2:
        raise ValueError(f"need max_iterations >= 1 and eta >= 2, got {max_iterations}, {eta}")
    out: list[int] = []
    r = max(1, min_iterations)
    while r < max_iterations:
        out.append(r)
        r *= eta
    return out + [max_iterations]


@dataclass(frozen=True)
class Job:
    """Run trial ``trial`` until it has trained ``target`` iterations (the budget of rung ``rung``)."""
    trial: int
    rung: int
    target: int


class Scheduler:
    """ASHA bookkeeping for trials 0, 1, 2, ... (at most ``max_trials``; None: no limit).

    next_job() -> the next Job or None; report(trial, rung, score) -> the trial's new
    status; restore(...) replays a finished rung from a results log.
    """

    def __init__(self, rung_budgets: list[int], eta: int = 3, max_trials: int | None = None):
        self.rungs = list(rung_budgets)
        self.eta = eta
        self.max_trials = max_trials
        self.rung_scores: list[list[float]] = [[] for _ in self.rungs]
        self.status: dict[int, str] = {}  # trial -> its status after its last finished rung
        self.rung_of: dict[int, int] = {}  # trial -> index of its last finished rung
        self._promotions: deque[int] = deque()
        self._next_new = 0
        self._running: dict[int, int] = {}  # trial -> rung of its job in flight

    # --- decisions -----------------------------------------------------------------

    def next_job(self, new_trials: bool = True) -> Job | None:
        """The next job: a promoted trial's next rung, else (if ``new_trials``) a new trial's first rung."""
        if self._promotions:
            trial = self._promotions.popleft()
            rung = self.rung_of[trial] + 1
        elif new_trials and self.can_start():
            trial, rung = self._next_new, 0
            self._next_new += 1
            self._skip_known()
        else:
            return None
        self._running[trial] = rung
        return Job(trial, rung, self.rungs[rung])

    def can_start(self) -> bool:
        return self.max_trials is None or self._next_new < self.max_trials

    def report(self, trial: int, rung: int, score: float, diverged: bool = False) -> str:
        """Record ``score`` (lower is better) of ``trial`` at ``rung``; its new status."""
        self._running.pop(trial, None)
        self.rung_scores[rung].append(score)
        if diverged:
            status = DIVERGED
        elif rung == len(self.rungs) - 1:
            status = COMPLETED
        elif not math.isfinite(score):
            status = STOPPED
        else:
            scores = self.rung_scores[rung]
            keep = max(1, len(scores) // self.eta)
            better = sum(s < score for s in scores)
            status = PROMOTED if better < keep else STOPPED
        self._set(trial, rung, status)
        return status

    def fail(self, trial: int, rung: int) -> str:
        """A rung job that could not run (e.g. a setting the model refuses): the trial ends."""
        self._running.pop(trial, None)
        self._set(trial, rung, FAILED)
        return FAILED

    def release(self, job: Job) -> None:
        """A job that ended without a result (stopped mid-rung): it runs again first."""
        self._running.pop(job.trial, None)
        if job.rung == 0:
            self._next_new = min(self._next_new, job.trial)
        else:
            self._promotions.appendleft(job.trial)

    def restore(self, trial: int, rung: int, score: float, status: str) -> None:
        """Replay one line of a results log (lines in the order they were written)."""
        if status != FAILED:
            self.rung_scores[rung].append(score)
        self._set(trial, rung, status)
        self._skip_known()

    # --- state ---------------------------------------------------------------------

    @property
    def finished(self) -> list[int]:
        return [t for t, s in self.status.items() if s in FINAL]

    @property
    def started(self) -> int:
        """Trials given a first job so far (or found in the log)."""
        return len(set(self.status) | set(self._running))

    def expected_iterations(self) -> float | None:
        """Iterations the rest of the search is expected to train (ASHA keeps about 1/eta per rung);
        None with no trial limit."""
        if self.max_trials is None:
            return None
        total = sum(self._expected_from(self.rung_of[t] + 1) for t in self._promotions)
        total += sum(self._expected_from(rung) for rung in self._running.values())
        taken = set(self.status) | set(self._running)
        total += sum(self._expected_from(0) for t in range(self._next_new, self.max_trials) if t not in taken)
        return total

    def _expected_from(self, rung: int) -> float:
        """Expected iterations of a trial about to run rung ``rung``: each later rung is reached
        by about 1/eta of the trials that reach the one before."""
        total = 0.0
        for k in range(rung, len(self.rungs)):
            total += (self.rungs[k] - (self.rungs[k - 1] if k else 0)) * self.eta ** -(k - rung)
        return total

    def _set(self, trial: int, rung: int, status: str) -> None:
        self.status[trial] = status
        self.rung_of[trial] = rung
        if trial in self._promotions:
            self._promotions.remove(trial)
        if status == PROMOTED:
            self._promotions.append(trial)

    def _skip_known(self) -> None:
        while self._next_new in self.status or self._next_new in self._running:
            self._next_new += 1
