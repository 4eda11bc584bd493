"""The search window: a tiny real ASHA search end to end, Stop then Run resumes, Apply, space files, bad input."""

import math
from pathlib import Path

from PySide6.QtCore import Qt

from engine.experiments import search as search_module
from engine.experiments.search import SearchSettings, load_results, run_search
from engine.experiments.search_results import LOG_NAME, read_log
from engine.experiments.space import SearchSpace
from gui.session import Session
from gui.tools.search_window import SearchWindow
from tests.gui.tools.tiny_experiments import tiny_config

ROOT = Path(__file__).resolve().parents[3]
SPACE = {"train.lr": {"log_uniform": [1e-3, 1e-2]}}


def _window(qtbot, tmp_path, trials=3):
    """3 random trials of 12 iterations over train.lr; ASHA rungs at 4 and 12 iterations; in this process."""
    w = SearchWindow(Session(tiny_config(iterations=12)))
    qtbot.addWidget(w)
    w.space_editor.setRowCount(0)
    w.space_editor.add_row("train.lr", "log_uniform", 1e-3, 1e-2)
    w.trials.setValue(trials)
    w.max_iterations.setValue(12)
    w.asha.setChecked(True)
    w.min_iterations.setValue(4)
    w.eta.setValue(3)
    w.workers.setValue(0)
    w.folder.set_path(tmp_path / "search")
    return w


def _finished(w):
    """The job ended: done, stopped, or failed (then the status line says why, and the assert after shows it)."""
    return w.job is not None and not w.running and not w.status.text().startswith(("running", "stopping"))


def _settings(trials):
    return SearchSettings(method="random", trials=trials, asha=True, min_iterations=4, max_iterations=12, eta=3)


def _rungs(folder):
    return [(r["trial"], r["rung"], r["status"], r["value"]) for r in read_log(Path(folder) / LOG_NAME)]


def test_a_search_fills_the_table_and_apply_best_emits_the_best_config(qtbot, tmp_path):
    w = _window(qtbot, tmp_path)
    w.show()
    w.start()
    qtbot.waitUntil(lambda: _finished(w), timeout=60000)
    assert w.status.text().startswith("done"), w.status.text()
    saved = load_results(tmp_path / "search")  # what the engine wrote, read back independently
    assert w.model.rowCount() == len(saved.trials) == 3
    value_col = w.model.columns.index("value")
    for row, trial in enumerate(saved.trials):
        assert w.model.trial(row).id == trial.id and w.model.trial(row).value == trial.value
        shown = w.model.index(row, value_col).data()
        assert shown == (f"{trial.value:.4g}" if trial.value is not None else "")
    assert w.progress_bar.format().startswith("3 / 3")

    # every trial is drawn faint; a selected one is drawn bold on top, named in the title
    items = w.plot.getPlotItem().listDataItems()
    assert len(items) == 3 and all(i.opts["pen"].widthF() < 2 for i in items)
    best, best_config = saved.best()
    w.curve_kind.setCurrentText("training loss")
    w.select_trials([best.id])
    items = w.plot.getPlotItem().listDataItems()
    bold = [i for i in items if i.opts["pen"].widthF() > 2]
    assert len(items) == 3 and len(bold) == 1 and len(bold[0].getData()[0]) == len(best.curve)
    assert f"trial {best.id}" in w.plot.getPlotItem().titleLabel.text
    w.curve_kind.setCurrentText("objective per rung")  # one point per rung the trial reached
    bold = [i for i in w.plot.getPlotItem().listDataItems() if i.opts["pen"].widthF() > 2]
    assert list(bold[0].getData()[1]) == [v for _, v in best.objective_curve]

    with qtbot.waitSignal(w.config_chosen, timeout=2000) as blocker:
        w.apply_best()
    chosen = blocker.args[0]
    assert chosen.to_dict() == best_config.to_dict()
    assert chosen.train.lr == best.params["train.lr"] and chosen.train.iterations == 12

    # sorting by the objective puts the best value first and the missing ones last
    w.table.sortByColumn(value_col, Qt.SortOrder.AscendingOrder)
    shown = [w.proxy.index(r, value_col).data(Qt.ItemDataRole.UserRole) for r in range(w.proxy.rowCount())]
    finite = [v for v in shown if v is not None]
    assert finite == sorted(finite) and shown[:len(finite)] == finite


def test_stop_then_run_resumes_the_folder_and_ends_as_an_uninterrupted_search(qtbot, tmp_path, monkeypatch):
    w = _window(qtbot, tmp_path, trials=4)
    real, calls, resumed = search_module.run_rung, [], []

    def gated(*args):  # a second rung job of the first run starts only once Stop was pressed: it is cut off
        calls.append(args[3])
        if len(calls) == 2 and not resumed:
            assert w.job.stop_event.wait(30)
        return real(*args)

    monkeypatch.setattr(search_module, "run_rung", gated)
    on_report = w.on_report

    def stop_after_first_result(obj):
        on_report(obj)
        if isinstance(obj, tuple):
            w.stop()

    w.on_report = stop_after_first_result
    w.start()
    qtbot.waitUntil(lambda: _finished(w), timeout=60000)
    assert w.status.text().startswith("stopped") and "resume" in w.status.text()
    assert len(_rungs(tmp_path / "search")) == 1  # the cut-off rung left nothing in the log
    assert w.folder.path() == tmp_path / "search"

    w.on_report = on_report
    resumed.append(True)  # (if Stop came before the first run asked for a second rung, the resume asks for it)
    w.start()  # the folder holds a search: Run goes on with it
    qtbot.waitUntil(lambda: _finished(w), timeout=60000)
    assert w.status.text().startswith("done"), w.status.text()
    assert w.model.rowCount() == 4

    direct = tmp_path / "direct"
    run_search(direct, tiny_config(iterations=12), SPACE, _settings(4))
    after, reference = _rungs(tmp_path / "search"), _rungs(direct)
    assert [r[:3] for r in after] == [r[:3] for r in reference]
    assert all(math.isclose(a[3], b[3], rel_tol=1e-9) for a, b in zip(after, reference) if b[3] is not None)


def test_a_bad_space_is_reported_in_the_status_line_without_starting(qtbot, tmp_path):
    w = _window(qtbot, tmp_path)
    w.space_editor.add_row("train.lrr", "log_uniform", 1e-3, 1e-2)
    w.start()
    assert w.job is None and "train.lrr" in w.status.text() and "not a setting" in w.status.text()
    w.space_editor.setRowCount(0)
    w.space_editor.add_row("sampler.n_steps", "int_uniform", "five", 10)
    w.start()
    assert w.job is None and "low must be a number" in w.status.text() and "sampler.n_steps" in w.status.text()
    assert not (tmp_path / "search").exists()


def test_space_files_round_trip_and_the_example_is_preloaded(qtbot, tmp_path):
    w = SearchWindow(Session(tiny_config()))
    qtbot.addWidget(w)
    config = w.source.config()
    example = SearchSpace.load(ROOT / "resources" / "search" / "8gaussians.toml", config)
    assert w.space_editor.space(config).to_dict() == example.to_dict()

    w.space_editor.add_row("sampler.kind", "values", values=["langevin", "mala"])
    w.space_editor.add_row("sampler.n_steps", "int_log_uniform", 5, 40, points=4)
    assert w.save_space(tmp_path / "space.toml")
    again = SearchSpace.load(tmp_path / "space.toml", config)
    assert again.to_dict() == w.space_editor.space(config).to_dict()
    assert again.to_dict()["sampler.kind"] == {"values": ["langevin", "mala"]}
    assert again.to_dict()["sampler.n_steps"] == {"int_log_uniform": [5, 40], "points": 4}

    w.space_editor.setRowCount(0)
    assert w.load_space(tmp_path / "space.toml")
    assert w.space_editor.space(config).to_dict() == again.to_dict()
    (tmp_path / "broken.toml").write_text("[train\nlr = 1")
    assert not w.load_space(tmp_path / "broken.toml")
    assert "not valid TOML" in w.status.text()


def test_resume_opens_a_saved_search_and_apply_selected_emits_that_trial(qtbot, tmp_path):
    folder = tmp_path / "saved"
    run_search(folder, tiny_config(iterations=12), SPACE, _settings(2))
    saved = load_results(folder)
    w = SearchWindow(Session(tiny_config()))
    qtbot.addWidget(w)
    assert w.open_search(folder)
    assert w.folder.path() == folder and w.model.rowCount() == 2
    assert (w.trials.value(), w.max_iterations.value(), w.min_iterations.value(), w.asha.isChecked()) == (2, 12, 4, True)
    assert w.space_editor.space(w.source.config()).to_dict() == SearchSpace.from_dict(SPACE, tiny_config()).to_dict()
    w.select_trials([1])
    with qtbot.waitSignal(w.config_chosen, timeout=2000) as blocker:
        w.apply_selected()
    assert blocker.args[0].to_dict() == saved.config_of(1).to_dict()
    assert not w.open_search(tmp_path)  # no search there
    assert "holds no search" in w.status.text()


def test_the_main_window_opens_the_experiment_windows_and_apply_best_trains_that_config(qtbot, monkeypatch, tmp_path):
    from PySide6.QtCore import QSettings

    from gui import main_window as mw
    from gui.tools.registry import TOOLS

    folder = tmp_path / "saved"
    run_search(folder, tiny_config(iterations=12), SPACE, _settings(2))
    best, best_config = load_results(folder).best()
    monkeypatch.setattr(mw, "new_run_dir", lambda name: tmp_path / "runs" / name)
    main = mw.MainWindow(tiny_config(iterations=2),
                         settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    main.setProperty("assume_yes", True)
    qtbot.addWidget(main)
    ours = {"LearningCurveWindow", "SearchWindow", "BenchmarkWindow"}
    entries = [e for e in TOOLS if e.menu == "Experiments" and e.target.split(":")[1] in ours]
    assert len(entries) == 3 and all(e.tip for e in entries)
    windows = {type(main.open_tool(e)).__name__: main.tool_windows[e.target] for e in entries}
    assert set(windows) == ours and all(x.isVisible() for x in windows.values())
    search = windows["SearchWindow"]
    assert search.open_search(folder)
    search.apply_best()
    assert main.session.config.to_dict() == best_config.to_dict()
    assert main.session.config.train.lr == best.params["train.lr"]
    main.close()
