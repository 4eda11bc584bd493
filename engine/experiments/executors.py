"""Where the runs of an experiment execute: in this process, in local worker processes, or on Ray.

Every executor has ``submit(fn, *args) -> concurrent.futures.Future`` and ``shutdown()``,
so learning curves and searches are written once against futures
(``concurrent.futures.wait`` / ``as_completed``). ``fn`` must be a module-level
function and its arguments picklable (plain dicts, not live models).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Callable

from ..errors import ConfigError


class InlineExecutor:
    """Runs each task at submit time, in this process (workers = 0: easy to debug and to test)."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        return future

    def shutdown(self, cancel: bool = False) -> None:
        pass


class LocalExecutor:
    """A pool of worker processes on this machine. 'spawn' starts each worker clean: no copy of
    the parent's threads (a GUI, BLAS pools) that a fork could leave deadlocked."""

    def __init__(self, workers: int):
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        return self._pool.submit(fn, *args)

    def shutdown(self, cancel: bool = False) -> None:
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)


class RayExecutor:
    """Tasks on a Ray cluster (``address``: "auto", "ray://host:10001", or "local" for a Ray
    instance started on this machine)."""

    def __init__(self, address: str, workers: int | None = None):
        try:
            import ray  # noqa: PLC0415 - optional dependency
        except ImportError:
            raise ConfigError("a Ray address was given but ray is not installed; "
                              "install it with: pip install 'ray[default]'") from None
        self._ray = ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address == "local":
                kwargs["num_cpus"] = workers
            else:
                kwargs["address"] = address
            try:
                ray.init(**kwargs)
            except Exception as exc:  # noqa: BLE001 - ray raises many types; the user needs one message
                raise ConfigError(f"cannot connect to the Ray cluster at {address!r}: {exc}") from None
        self._remote: dict[Callable[..., Any], Any] = {}

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        remote = self._remote.setdefault(fn, self._ray.remote(fn))
        return remote.remote(*args).future()

    def shutdown(self, cancel: bool = False) -> None:
        pass  # the cluster outlives one experiment


def make_executor(workers: int = 0, ray_address: str | None = None) -> InlineExecutor | LocalExecutor | RayExecutor:
    """workers 0: in this process; workers >= 1: a local process pool; ray_address: Ray."""
    if ray_address:
        return RayExecutor(ray_address, workers or None)
    if workers < 0:
        raise ConfigError(f"workers must be >= 0, got {workers}")
    return LocalExecutor(workers) if workers else InlineExecutor()
