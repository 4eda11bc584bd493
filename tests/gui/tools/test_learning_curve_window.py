"""The learning-curve window: a tiny real run end to end, stop, files, and bad input."""

import json
import math
import threading

import numpy as np

from engine.experiments import learning_curve as lc
from engine.experiments.learning_curve import CurvePoint, LearningCurve
from engine.training.config import dumps_config
from gui.session import Session
from gui.tools.learning_curve_window import LearningCurveWindow
from tests.gui.tools.tiny_experiments import tiny_config


def _window(qtbot, tmp_path, sizes="16, 64", seeds=2):
    w = LearningCurveWindow(Session(tiny_config(iterations=10)))
    qtbot.addWidget(w)
    w.sizes_edit.setText(sizes)
    w.seeds.setValue(seeds)
    w.workers.setValue(0)
    w.folder.set_path(tmp_path / "lc")
    return w


def _finished(w):
    """The job ended: done, stopped, or failed (then the status line says why, and the assert after shows it)."""
    return w.job is not None and not w.running and not w.status.text().startswith(("running", "stopping"))


def test_a_run_draws_each_point_as_it_finishes_and_saves(qtbot, tmp_path):
    w = _window(qtbot, tmp_path)
    assert w.iterations.value() == 10  # the experiment's own budget when it is below the default
    sizes_drawn = []
    on_report = w.on_report

    def watch(obj):
        on_report(obj)
        x = w.series["val"]["line"].getData()[0]
        sizes_drawn.append(0 if x is None else len(x))

    w.on_report = watch
    w.show()
    w.start()
    qtbot.waitUntil(lambda: _finished(w), timeout=60000)
    assert w.status.text().startswith("done"), w.status.text()
    assert sizes_drawn == [0, 1, 1, 2, 2]  # the plan, then (size, seed) = (16,0) (16,1) (64,0) (64,1)

    # the plot shows the mean over seeds of what was saved, at log10(size)
    doc = json.loads((tmp_path / "lc" / "learning_curve.json").read_text())
    assert len(doc["points"]) == 4 and doc["info"]["complete"] is True
    for name in ("train", "val"):
        x, y = w.series[name]["line"].getData()
        assert np.allclose(x, np.log10([16, 64]))
        for size, value in zip((16, 64), y):
            saved = [p[f"{name}_nll"] for p in doc["points"] if p["size"] == size]
            assert len(saved) == 2 and math.isclose(value, np.mean(saved), rel_tol=1e-12)
        assert w.series[name]["bars"].isVisible()  # two seeds: error bars
    assert w.table.rowCount() == 2 and w.table.item(1, 0).text() == "64" and w.table.item(1, 1).text() == "2"
    assert "nll" in w.diagnosis.toPlainText() and "Train-val gap" in w.diagnosis.toPlainText()
    offered = [w.metric_box.itemData(i) for i in range(w.metric_box.count())]
    assert offered[0] is None and set(offered[1:]) == {"e_data", "kl", "mmd", "nll"}  # auto, then what was measured
    assert w.reference.isVisible()  # the true density's NLL, for nll

    png = tmp_path / "plot.png"
    assert w.export_plot(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # another metric redraws from the same trials
    w.metric_box.setCurrentIndex(w.metric_box.findData("mmd"))
    _, y = w.series["val"]["line"].getData()
    assert math.isclose(y[0], np.mean([p["val_mmd"] for p in doc["points"] if p["size"] == 16]), rel_tol=1e-12)
    assert not w.reference.isVisible()


def test_stop_keeps_the_finished_trials_and_saves_them(qtbot, tmp_path, monkeypatch):
    w = _window(qtbot, tmp_path, sizes="16, 32, 64, 128", seeds=1)
    real, calls, started = lc.run_trial, [], threading.Event()

    def gated(config, size, seed, stop=None):  # the second trial waits for Stop: Stop comes mid-run
        calls.append((size, seed))
        if len(calls) == 2:
            started.set()
            assert w.job.stop_event.wait(30)
        return real(config, size, seed, stop)  # a trial cut short by Stop is left out

    monkeypatch.setattr(lc, "run_trial", gated)
    w.start()
    qtbot.waitUntil(started.is_set, timeout=30000)
    w.stop()
    qtbot.waitUntil(lambda: _finished(w), timeout=60000)
    assert "stopped after 1 of 4 trials" in w.status.text()
    assert calls == [(16, 0), (32, 0)]  # the running trial ended at Stop; no other started
    saved = LearningCurve.load(tmp_path / "lc" / "learning_curve.json")
    assert [p.size for p in saved.points] == [16] and saved.info["complete"] is False
    assert w.table.rowCount() == 1 and w.table.item(0, 0).text() == "16"


def test_bad_sizes_and_bad_files_say_what_is_wrong(qtbot, tmp_path):
    w = _window(qtbot, tmp_path, sizes="ten, 20")
    w.start()
    assert w.job is None and "sizes" in w.status.text() and "ten" in w.status.text()

    w.sizes_edit.setText("16, 100000")  # larger than the training set: the engine refuses it in the job
    w.start()
    qtbot.waitUntil(lambda: not w.running and "between 2 and" in w.status.text(), timeout=30000)

    assert not w.source.open_file(tmp_path / "missing.toml")
    assert "no such config file" in w.status.text()
    (tmp_path / "other.toml").write_text(dumps_config(tiny_config(iterations=7).replace(model={"width": 8})))
    assert w.source.open_file(tmp_path / "other.toml")
    assert w.source.config().model.width == 8 and w.iterations.value() == 7 and "other.toml" in w.source.label.text()

    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    assert not w.open_curve(bad)
    assert "not a valid learning curve" in w.status.text()
    assert not w.save_curve(tmp_path / "nothing")  # nothing to save yet
    assert "no learning curve" in w.status.text()


def test_a_saved_curve_opens_with_its_mean_and_spread(qtbot, tmp_path):
    points = [CurvePoint(size, seed, {"train_nll": t, "val_nll": v, "train_mmd": 0.1, "val_mmd": 0.2})
              for size, seed, t, v in ((10, 0, 1.0, 2.0), (10, 1, 1.2, 2.6), (100, 0, 1.5, 1.7), (100, 1, 1.7, 1.9))]
    LearningCurve(points, "nll", {"complete": True}).save(tmp_path / "saved")
    w = _window(qtbot, tmp_path)
    assert w.open_curve(tmp_path / "saved" / "learning_curve.csv")
    assert w.table.rowCount() == 2
    assert w.table.item(0, 3).text() == f"{np.mean([2.0, 2.6]):.4f} ± {np.std([2.0, 2.6], ddof=1):.4f}"
    assert w.table.item(1, 4).text() == f"{np.mean([1.9, 1.7]) - np.mean([1.5, 1.7]):+.4f}"
    assert sorted(w.metric_box.itemData(i) for i in range(1, w.metric_box.count())) == ["mmd", "nll"]
    assert w.save_curve(tmp_path / "copy")
    assert len(LearningCurve.load(tmp_path / "copy" / "learning_curve.json").points) == 4
