"""The benchmark window: the suite (cases made tiny) end to end, stop, save, and comparing two results."""

import json
import math
import threading

import pytest

from engine.experiments import suite
from engine.experiments.suite import BenchmarkResult, load_results
from gui.tools.benchmark_window import (
    BETTER,
    COMPARE_COLUMNS,
    RUN_COLUMNS,
    BenchmarkWindow,
)
from tests.gui.tools.tiny_experiments import tiny_config


@pytest.fixture
def tiny_cases(monkeypatch):
    """Every case trains its own dataset and sampler, but with the tiny model for 8 iterations."""
    def config(case, quick=False):
        return tiny_config(iterations=8, data={"name": case.dataset, "n": 400}, sampler={"kind": case.sampler})
    monkeypatch.setattr(suite.BenchmarkCase, "config", config)


def _window(qtbot, tmp_path):
    w = BenchmarkWindow(None)
    qtbot.addWidget(w)
    w.only.setText("8gaussians")
    w.workers.setValue(0)
    w.folder.set_path(tmp_path / "bench")
    return w


def _finished(w):
    return w.job is not None and not w.running and not w.status.text().startswith(("running", "stopping"))


def _column(table, name, columns):
    col = columns.index(name)
    return [table.item(r, col).text() for r in range(table.rowCount())]


def test_the_suite_fills_a_row_per_case_and_saves(qtbot, tmp_path, tiny_cases):
    w = _window(qtbot, tmp_path)
    w.show()
    w.start()
    assert _column(w.run_table, "case", RUN_COLUMNS) == ["8gaussians_langevin", "8gaussians_mala"]
    assert _column(w.run_table, "status", RUN_COLUMNS) == ["running…", "waiting"]  # one at a time, in order
    qtbot.waitUntil(lambda: _finished(w), timeout=60000)
    assert w.status.text().startswith("done"), w.status.text()
    saved = load_results(tmp_path / "bench" / "benchmark.json")
    assert [r["case"] for r in saved.rows] == ["8gaussians_langevin", "8gaussians_mala"]
    assert _column(w.run_table, "status", RUN_COLUMNS) == ["done", "done"]
    for name in ("val_nll", "kl", "mmd"):
        shown = _column(w.run_table, name, RUN_COLUMNS)
        assert [float(v) for v in shown] == pytest.approx([r[name] for r in saved.rows], rel=5e-3)  # 3-4 digits shown
    assert _column(w.run_table, "acceptance", RUN_COLUMNS)[0] == ""  # Langevin has no MH acceptance
    assert 0.0 <= float(_column(w.run_table, "acceptance", RUN_COLUMNS)[1]) <= 1.0
    assert w.progress_bar.format().startswith("2 / 2")
    assert w.save_result(tmp_path / "copy")
    assert load_results(tmp_path / "copy" / "benchmark.csv").rows[1]["case"] == "8gaussians_mala"


def test_stop_saves_the_cases_that_finished(qtbot, tmp_path, tiny_cases, monkeypatch):
    w = _window(qtbot, tmp_path)
    real, started, calls = suite.run_case, threading.Event(), []

    def gated(name, quick, stop=None):  # the second case waits for Stop: Stop comes while it runs
        calls.append(name)
        if len(calls) == 2:
            started.set()
            assert w.job.stop_event.wait(30)
        return real(name, quick, stop)  # a case cut short by Stop is left out

    monkeypatch.setattr(suite, "run_case", gated)
    w.start()
    qtbot.waitUntil(started.is_set, timeout=30000)
    w.stop()
    qtbot.waitUntil(lambda: _finished(w), timeout=60000)
    assert w.status.text().startswith("stopped after 1 of 2 cases"), w.status.text()
    assert _column(w.run_table, "status", RUN_COLUMNS) == ["done", "not run"]
    assert [r["case"] for r in load_results(tmp_path / "bench" / "benchmark.json").rows] == ["8gaussians_langevin"]


def _result(path, quick=True, **values):
    """A saved result of two cases; values: metric -> ((langevin A, mala A)) overrides."""
    rows = []
    for i, case in enumerate(("8gaussians_langevin", "8gaussians_mala")):
        row = {"case": case, "dataset": "8gaussians", "sampler": case.split("_")[1], "iterations": 25,
               "val_nll": 3.0, "true_nll": 2.8, "kl": 0.2, "mmd": 0.01, "acceptance": math.nan if i == 0 else 0.6,
               "seconds": 1.0, "diverged": ""}
        row.update({k: v[i] for k, v in values.items()})
        rows.append(row)
    info = {"suite_version": suite.SUITE_VERSION, "quick": quick, "engine_version": "test", "date": "today"}
    path.mkdir()
    return BenchmarkResult(rows, info).save(path)[0]


def test_compare_colours_the_better_side(qtbot, tmp_path):
    a = _result(tmp_path / "a", val_nll=(3.0, 3.2), acceptance=(math.nan, 0.5), seconds=(1.0, 2.0))
    b = _result(tmp_path / "b", val_nll=(2.9, 3.2), acceptance=(math.nan, 0.7), seconds=(1.5, 1.0))
    w = BenchmarkWindow(None)
    qtbot.addWidget(w)
    assert w.compare_files(a, b)
    table = w.compare_table
    expected = {("8gaussians_langevin", "val_nll"): "B", ("8gaussians_mala", "val_nll"): "same",
                ("8gaussians_mala", "acceptance"): "B",  # higher is better
                ("8gaussians_langevin", "seconds"): "A", ("8gaussians_mala", "seconds"): "B"}
    seen = {}
    for r in range(table.rowCount()):
        case, metric, better = (table.item(r, COMPARE_COLUMNS.index(c)).text() for c in ("case", "metric", "better"))
        seen[(case, metric)] = better
        coloured = [side for side, col in (("A", 2), ("B", 3)) if table.item(r, col).background().color() == BETTER]
        assert coloured == ([better] if better in ("A", "B") else [])
        x, y = (float(table.item(r, col).text()) for col in (2, 3))
        assert float(table.item(r, 4).text()) == pytest.approx(y - x, abs=1e-3)
    assert {k: seen[k] for k in expected} == expected
    assert ("8gaussians_langevin", "acceptance") not in seen  # missing on both sides: not a comparison
    assert "B better in 3, A better in 1" in w.compare_summary.text()


def test_results_that_do_not_compare_and_bad_files_say_why(qtbot, tmp_path):
    quick, full = _result(tmp_path / "q"), _result(tmp_path / "f", quick=False)
    w = BenchmarkWindow(None)
    qtbot.addWidget(w)
    assert not w.compare_files(quick, full)
    assert "cannot compare a quick result with a full one" in w.status.text()
    assert w.compare_table.rowCount() == 0
    (tmp_path / "junk.json").write_text(json.dumps({"kind": "something else"}))
    assert not w.compare_files(quick, tmp_path / "junk.json")
    assert "not a benchmark result" in w.status.text()
    w.only.setText("no_such_case")
    w.start()
    assert w.job is None and "matches no case" in w.status.text()
