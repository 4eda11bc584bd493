"""Executors: the same futures interface in this process and in a local process pool."""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, wait

import pytest

from engine.errors import ConfigError
from engine.experiments.executors import InlineExecutor, LocalExecutor, make_executor


def _square(x: int) -> int:
    return x * x


def _fail(message: str) -> None:
    raise ConfigError(message)


def _blas_threads(_: int) -> str:
    return os.environ.get("OPENBLAS_NUM_THREADS", "")


def test_inline_runs_at_submit_and_hands_errors_through_the_future():
    ex = make_executor(0)
    assert isinstance(ex, InlineExecutor) and ex.slots == 1
    f = ex.submit(_square, 7)
    assert f.done() and f.result() == 49
    bad = ex.submit(_fail, "no good")
    assert isinstance(bad.exception(), ConfigError)


def test_a_process_pool_runs_tasks_in_other_processes_and_shares_the_cores():
    ex = make_executor(2)
    assert isinstance(ex, LocalExecutor) and ex.slots == 2
    try:
        futures = [ex.submit(_square, i) for i in range(6)]
        done, _ = wait(futures, timeout=120, return_when=FIRST_COMPLETED)
        assert done
        assert [f.result(timeout=120) for f in futures] == [i * i for i in range(6)]
        with pytest.raises(ConfigError, match="no good"):
            ex.submit(_fail, "no good").result(timeout=120)
        expected = os.environ.get("OPENBLAS_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // 2))
        assert ex.submit(_blas_threads, 0).result(timeout=120) == expected
    finally:
        ex.shutdown()


def test_bad_worker_counts_are_refused():
    with pytest.raises(ConfigError, match="workers"):
        make_executor(-1)
