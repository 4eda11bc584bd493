"""Where the runs of an experiment execute: in this process, in local worker processes, or on Ray.

Every executor has ``submit(fn, *args) -> concurrent.futures.Future``, ``shutdown()``
and ``slots`` (how many tasks it runs at once), so learning curves and searches are
written once against futures (``concurrent.futures.wait`` / ``as_completed``). ``fn``
must be a module-level function and its arguments picklable (plain dicts, not live
models).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import tempfile
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Callable

from ..errors import ConfigError

_BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class InlineExecutor:
    """Runs each task at submit time, in this process (workers = 0: easy to debug and to test)."""

    slots = 1
    in_process = True

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        return future  # KeyboardInterrupt / SystemExit propagate: Ctrl-C must reach the caller

    def shutdown(self, cancel: bool = False) -> None:
        pass


def _init_worker(threads: int) -> None:
    """In each worker: leave Ctrl-C to the parent (it stops the tasks cleanly) and share the cores
    between the workers instead of every worker's BLAS starting one thread per core."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["EBM_CHAIN_PROCESSES"] = "0"  # the cores are the trials'; no Langevin worker processes
    for name in _BLAS_THREADS:
        os.environ.setdefault(name, str(threads))  # read when numpy loads, if it has not yet
    try:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415 - optional; for numpy already loaded

        threadpool_limits(int(os.environ["OMP_NUM_THREADS"]))
    except Exception:  # noqa: BLE001 - only a speed matter
        pass


def _on_one_cpu(fn: Callable[..., Any], *args: Any) -> Any:
    """A Ray task: fn(*args) on the one CPU Ray gave it, without Langevin worker processes of its own."""
    os.environ["EBM_CHAIN_PROCESSES"] = "0"
    return fn(*args)


class LocalExecutor:
    """A pool of worker processes on this machine. 'spawn' starts each worker clean: no copy of
    the parent's threads (a GUI, BLAS pools) that a fork could leave deadlocked."""

    in_process = False

    def __init__(self, workers: int):
        self.slots = workers
        threads = max(1, (os.cpu_count() or 1) // workers)
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_init_worker, initargs=(threads,))

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        return self._pool.submit(fn, *args)

    def shutdown(self, cancel: bool = False) -> None:
        """Waits for the tasks already running (cancel: drops the queued ones); a task still writing
        into a run folder after this returns could clash with the next experiment using it."""
        self._pool.shutdown(wait=True, cancel_futures=cancel)


class RayExecutor:
    """Tasks on a Ray cluster (``address``: "auto", "ray://host:10001", or "local" for a Ray
    instance started on this machine, with ``workers`` CPUs (default: all)).

    Each task takes one CPU, so ``slots`` is the cluster's CPU count (or ``workers``).
    The tasks write their run folders where the caller says: on a cluster of several
    machines that folder must be on a file system they share.
    """

    in_process = False

    def __init__(self, address: str, workers: int | None = None):
        try:
            import ray  # noqa: PLC0415 - optional dependency
        except ImportError:
            raise ConfigError("a Ray address was given but ray is not installed; "
                              "install it with: pip install 'ray[default]'") from None
        self._ray = ray
        self._owns_ray = False  # a local instance this executor started ends with it
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            # Ray's workers find modules in the driver's working folder; from elsewhere, point them at
            # this source tree (this costs a few seconds at the first task: workers of their own)
            root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
            if os.path.realpath(os.getcwd()) != root:
                path = os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])
                kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": path}}
            if address == "local":
                kwargs["num_cpus"] = workers
            else:
                kwargs["address"] = address
            try:
                ray.init(**kwargs)
            except Exception as exc:  # noqa: BLE001 - ray raises many types; the user needs one message
                raise ConfigError(f"cannot connect to the Ray cluster at {address!r}: {exc}") from None
            self._owns_ray = address == "local"
        self.slots = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._task: Any = None  # _on_one_cpu as a Ray remote function
        self._refs: list[Any] = []

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        if self._task is None:
            self._task = self._ray.remote(num_cpus=1)(_on_one_cpu)
        ref = self._task.remote(fn, *args)
        self._refs = [r for r in self._refs if not _ready(self._ray, r)] + [ref]
        return ref.future()

    def shutdown(self, cancel: bool = False) -> None:
        """Cancels the unfinished tasks if asked. A cluster outlives one experiment; a local
        instance this executor started is shut down (its processes would outlive the window's
        search otherwise)."""
        if cancel:
            for ref in self._refs:
                try:
                    self._ray.cancel(ref)
                except Exception:  # noqa: BLE001 - a task that just finished cannot be cancelled
                    pass
        self._refs = []
        if self._owns_ray:
            self._ray.shutdown()
            self._owns_ray = False


def _ready(ray: Any, ref: Any) -> bool:
    done, _ = ray.wait([ref], timeout=0)
    return bool(done)


class FileStop:
    """A stop request worker processes can see: set once the file exists. Picklable (a path),
    unlike a threading.Event; ``is_set()`` like one, so trials take either."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = os.fspath(path)

    def is_set(self) -> bool:
        return os.path.exists(self.path)

    def set(self) -> None:
        open(self.path, "a").close()


def stop_token(executor: Any, stop: Any, folder: str | os.PathLike[str]) -> tuple[Any, FileStop | None]:
    """What to hand the tasks of ``executor`` so they see ``stop``: the Event itself in this process,
    else a FileStop in ``folder`` (returned too: set it when ``stop`` is set)."""
    if stop is None:
        return None, None
    if getattr(executor, "in_process", False):
        return stop, None
    flag = FileStop(os.path.join(os.fspath(folder), ".stop"))
    if flag.is_set():
        os.unlink(flag.path)
    return flag, flag


def make_executor(workers: int = 0, ray_address: str | None = None) -> InlineExecutor | LocalExecutor | RayExecutor:
    """workers 0: in this process; workers >= 1: a local process pool; ray_address: Ray."""
    if workers < 0:
        raise ConfigError(f"workers must be >= 0, got {workers}")
    if ray_address:
        return RayExecutor(ray_address, workers or None)
    return LocalExecutor(workers) if workers else InlineExecutor()



def run_all(fn: Callable[..., Any], tasks: Sequence[tuple], workers: int = 0, ray_address: str | None = None,
            stop: Any = None, on_result: Callable[[int, Any], Any] | None = None) -> dict[int, Any]:
    """Run ``fn(*task, stop_token)`` for every task, as many at once as the executor has slots.

    stop: an Event-like object, checked before each submission and handed to the running
    tasks (the Event itself in this process, a FileStop in worker processes), which end
    early and return None. on_result(index, result) is called in this thread as each task
    finishes (ties in task order); a None result is left out. Returns {index: result}.
    """
    executor = make_executor(workers, ray_address)
    window = getattr(executor, "slots", None) or max(1, workers)
    pending: dict[Future, int] = {}
    results: dict[int, Any] = {}
    queue = iter(enumerate(tasks))
    exhausted = False
    scratch = tempfile.TemporaryDirectory(prefix="ebm-tasks-")
    token, flag = stop_token(executor, stop, scratch.name)
    try:
        while True:
            while not exhausted and len(pending) < window and not (stop is not None and stop.is_set()):
                item = next(queue, None)
                if item is None:
                    exhausted = True
                    break
                pending[executor.submit(fn, *item[1], token)] = item[0]
            if not pending:
                break
            done, _ = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            if flag is not None and stop.is_set() and not flag.is_set():
                flag.set()  # the running tasks end at their next iteration
            for future in sorted(done, key=lambda f: pending[f]):
                index = pending.pop(future)
                result = future.result()
                if result is None:  # cut short by stop
                    continue
                results[index] = result
                if on_result is not None:
                    on_result(index, result)
    finally:
        executor.shutdown(cancel=bool(pending) or not exhausted)
        scratch.cleanup()
    return results
