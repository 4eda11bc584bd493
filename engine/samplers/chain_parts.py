"""Langevin chains in parts of the batch, each part's whole run side by side.

Chains are independent, so a batch can be cut into one part per core. Where
to run the parts depends on their size (measured on 2 cores):
- small activations (W0, W1): in worker processes, the other cores without
  the GIL. Threads wait on each other's GIL there: on W1 half the batch alone
  takes 5.2 ms per Langevin step, both halves on two threads 7.0 ms, and in
  two processes 5.6 ms.
- large activations (W2): on threads of this process, each part on its own
  view of the network (EnergyNet.part_views), sharing the parameters and the
  weights' transforms. Hand-offs are rare next to the work there, and the
  parts meet once per run instead of once per step as a per-step split of the
  batch does (W2 iteration about 4% faster). Processes did no better than the
  per-step split there: each keeps its own copy of the transformed weights.

``run`` cuts a run into one part per core when :func:`wanted` says it pays.
On processes, the first part runs in this process, the others in persistent
worker processes (fresh interpreters, started once), each sent the network's
config and current parameters with every run.
Every part draws its noise from its own generator, seeded from the run's
generator, so the result is the same whichever thread or process ran a part:
a worker that fails or dies is replaced by running its part here. Set
EBM_CHAIN_PROCESSES=0 to keep the parts out of worker processes (experiment
trials in worker processes or on Ray do; the workers themselves never
start more). After a failure the session goes on in this process alone.
"""

from __future__ import annotations

import atexit
import functools
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from ..ops import _parallel, blas

# Per part, the largest activation (elements) from which worker processes pay (measured, ms per
# training iteration, threads or one thread -> processes: W0 139 -> 88 at 6.4e4, digits_convnet
# 70 -> 47 at 1e5, the 8gaussians MLP 10 -> 15 at 1.6e4) and below which threads lose to the GIL
# (W1: 2.6e5 per half batch); from MAX the parts run on threads (W2: 2e6). Below MAX processes beat
# whole runs on threads too (ms per run: W1 iteration 290-300 against 450-480; the shapes_convnet
# preset at 5.2e5, 20 steps, 200-204 against 241-249).
MIN_ELEMENTS, MAX_ELEMENTS = 1 << 15, 1 << 20
# A worker that takes this much longer than this process took for an equal part has hung.
PATIENCE_FACTOR, MIN_PATIENCE = 20.0, 60.0

_lock = threading.Lock()  # guards the worker list
_busy = threading.Lock()  # held by the run that is using the workers
_workers: list["_Worker"] = []
_broken: str | None = None  # why worker processes were given up, for the rest of the session
_holding_blas = False  # whether the workers hold this process's BLAS at one thread


def _network(energy: Any) -> Any:
    """The EnergyNet behind an EnergyNet or a JEM (a worker can rebuild those), else None."""
    from ..models.energy_net import EnergyNet  # noqa: PLC0415 - models import the samplers' users
    from ..models.jem import JEM  # noqa: PLC0415

    if type(energy) is EnergyNet:
        return energy
    return energy.net if type(energy) is JEM else None


def wanted(energy: Any, n: int) -> int:
    """How many parts to run ``n`` chains of ``energy`` in (1: one batch, split per step by EnergyNet)."""
    net = _network(energy)
    parts = _parallel.workers()
    if net is None or net.xp is not np or parts < 2 or n < 2 * parts or not _parallel.can_split():
        return 1
    largest = _largest(net, n, parts)
    if largest >= MAX_ELEMENTS:  # threads scale: each part's whole run on a thread of this process
        return parts if energy is net else 1  # a JEM splits per step
    if (largest < MIN_ELEMENTS or os.environ.get("EBM_CHAIN_PROCESSES", "1") == "0" or _broken is not None
            or os.name != "posix"):
        return 1
    return parts


def _largest(net: Any, n: int, parts: int) -> int:
    """Elements of a part's largest activation."""
    return max(math.prod(s) for s in net.shapes) * (n // parts)


def run(chains: Any, energy: Any, x: Any, rng: Any, n_steps: int, parts: int) -> Any:
    """x (modified in place) after ``chains(energy, x_part, part_rng, n_steps)`` on each part."""
    bounds = [slice(len(x) * i // parts, len(x) * (i + 1) // parts) for i in range(parts)]
    seeds = [int(s) for s in rng.integers(0, 2**63 - 1, size=parts)]
    net = _network(energy)
    if energy is net and _largest(net, len(x), parts) >= MAX_ELEMENTS:
        return _run_in_threads(chains, net, x, bounds, seeds, n_steps)
    job = (type(energy).__name__, net.to_json(), {k: np.asarray(v) for k, v in net.state_dict().items()}, chains)
    if not _busy.acquire(blocking=False):  # another thread's run has the workers: all parts here
        results: list[Any] = [None] * (parts - 1)
        _parallel.run_serially(lambda: chains(energy, x[bounds[0]], np.random.default_rng(seeds[0]), n_steps))
    else:
        try:
            results = _run_with_workers(chains, energy, x, bounds, seeds, n_steps, job)
        finally:
            _busy.release()
    for part, seed, out in zip(bounds[1:], seeds[1:], results):
        if out is None:  # the worker failed: this process runs its part, with the same noise
            _parallel.run_serially(lambda: chains(energy, x[part], np.random.default_rng(seed), n_steps))
        else:
            x[part] = out
    return x


def _run_in_threads(chains: Any, net: Any, x: Any, bounds: list[slice], seeds: list[int], n_steps: int) -> Any:
    """Every part's whole run on a thread, each on its own view of the network.

    The weights' transforms are made once, in one fixed-weights scope around all
    parts, and shared: two copies of W2's layer-4 transform (19 MB each) would
    compete for the cache. The parts meet once per run instead of once per step
    (W2's iteration: about 4% faster than splitting every step, see docs/PERFORMANCE.md).
    """
    with net.fixed_weights():
        views = net.part_views(len(bounds))
        _parallel.run_split([functools.partial(chains, view, x[part], np.random.default_rng(seed), n_steps)
                             for view, part, seed in zip(views, bounds, seeds)])
    return x


def _run_with_workers(chains: Any, energy: Any, x: Any, bounds: list[slice], seeds: list[int], n_steps: int,
                      job: tuple) -> list[Any]:
    """Parts 1.. to the workers, part 0 here; the workers' final states (None where one failed)."""
    try:
        workers = _get_workers(len(bounds) - 1)
    except OSError as exc:  # cannot start a process here: run every part in this one
        _give_up(f"{type(exc).__name__}: {exc}")
        workers = []
    sent = [worker.send((*job, x[part], seed, n_steps)) for part, seed, worker in zip(bounds[1:], seeds[1:], workers)]
    start = time.perf_counter()
    try:
        with _parallel.one_blas_thread():  # the other cores are the workers'
            _parallel.run_serially(lambda: chains(energy, x[bounds[0]], np.random.default_rng(seeds[0]), n_steps))
    finally:  # collect every answer, even after an error here, so none is left in a pipe for the next run
        # a part as large as ours should take about as long: a worker far slower than that hangs
        patience = max(MIN_PATIENCE, PATIENCE_FACTOR * (time.perf_counter() - start))
        results = [worker.receive(patience) if ok else None for worker, ok in zip(workers, sent)]
    return results + [None] * (len(bounds) - 1 - len(results))


class _Worker:
    """One worker: a fresh interpreter running engine.samplers._chain_worker, and a socket to it.

    Not multiprocessing's spawn: that re-runs the caller's main script in the child,
    which a script without an ``if __name__ == "__main__"`` guard turns into a storm.
    """

    def __init__(self) -> None:
        mine, theirs = socket.socketpair()
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        path = os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])
        env = {**os.environ, "EBM_CHAIN_PROCESSES": "0", "PYTHONPATH": path}  # no workers of its own
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "engine.samplers._chain_worker", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL)
        self.conn = Connection(mine.detach())

    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, message: tuple) -> bool:
        try:
            self.conn.send(message)
            return True
        except Exception as exc:  # noqa: BLE001 - a broken pipe, or a sampler pickle cannot carry
            _give_up(f"{type(exc).__name__}: {exc}")
            return False

    def receive(self, patience: float) -> Any | None:
        """The part's final states, or None when the worker failed or gave no answer within ``patience`` s."""
        try:
            if self.conn.poll(patience):
                status, value = self.conn.recv()
            else:  # hung: it is ended, and its part runs here
                self.process.kill()
                status, value = "error", f"a worker gave no answer in {patience:.0f} s"
        except (EOFError, OSError):
            status, value = "error", "the worker process ended"
        if status == "ok":
            return value
        _give_up(value)
        return None

    def close(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.conn.close()


def _get_workers(count: int) -> list[_Worker]:
    global _holding_blas
    with _lock:
        _workers[:] = [w for w in _workers if w.alive()]
        while len(_workers) < count:
            _workers.append(_Worker())
        if not _holding_blas:
            # While workers run, this process's BLAS stays on one thread: an idle OpenBLAS thread
            # spins after each multi-threaded call (for about 0.1 s unless OPENBLAS_THREAD_TIMEOUT
            # was set before NumPy loaded) and takes the workers' core (W0: 142 -> 92 ms a run).
            _parallel.hold_one_blas_thread()
            _holding_blas = True
        return _workers[:count]


def _give_up(reason: str) -> None:
    """After a failure, sample in this process only (no worker restarted on every run)."""
    global _broken
    if _broken is None:
        _broken = reason
        warnings.warn(f"Langevin worker processes stopped ({reason}); sampling goes on in this process",
                      RuntimeWarning, stacklevel=2)


@atexit.register
def shutdown() -> None:
    """Stop the worker processes (at exit, or to start afresh) and forget an earlier failure."""
    global _broken, _holding_blas
    with _lock:
        for worker in _workers:
            worker.close()
        _workers.clear()
        if _holding_blas:
            _parallel.release_blas_thread()
            _holding_blas = False
    _broken = None


def serve(conn: Any) -> None:
    """A worker: run the parts it is sent until it gets None."""
    from ..models.energy_net import EnergyNet  # noqa: PLC0415 - models import the samplers
    from ..models.jem import JEM  # noqa: PLC0415

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    blas.set_threads(1)
    energies: dict[tuple, Any] = {}
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        kind, config_json, state, chains, x, seed, n_steps = message
        try:
            key = (kind, config_json, x.dtype.str)
            if key not in energies:
                net = EnergyNet(json.loads(config_json), seed=None, dtype=x.dtype, xp=np)
                energies[key] = JEM(net) if kind == "JEM" else net
            energy = energies[key]
            energy.load_state_dict(state)
            _parallel.run_serially(lambda: chains(energy, x, np.random.default_rng(seed), n_steps))
            answer: tuple = ("ok", x)
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which runs the part itself
            answer = ("error", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(answer)
        except OSError:  # the parent has gone
            return
