from PySide6.QtWidgets import QLabel

from engine.errors import ConfigError
from gui.jobs import Job, eta_text
from gui.tools.base import ToolWindow


class _Counter(ToolWindow):
    title = "Counter"

    def __init__(self, n=5, fail=None, **kw):
        super().__init__(**kw)
        self.n, self.fail, self.seen, self.result = n, fail, [], None
        self.results.addWidget(QLabel("results"))

    def make_job_fn(self):
        if self.n < 0:
            raise ConfigError("n must be >= 0")

        def fn(report, stop):
            for i in range(self.n):
                if stop.is_set():
                    return "stopped"
                if self.fail == i:
                    raise ValueError("boom")
                report(i)
            return self.n
        return fn

    def on_report(self, obj):
        self.seen.append(obj)
        self.set_progress(obj + 1, self.n)

    def on_done(self, result):
        self.result = result


def test_job_reports_in_order_then_returns(qtbot):
    w = _Counter(5)
    qtbot.addWidget(w)
    w.start()
    qtbot.waitUntil(lambda: w.result == 5, timeout=5000)
    assert w.seen == [0, 1, 2, 3, 4] and w.status.text() == "done"
    qtbot.waitUntil(lambda: w.run_button.isEnabled(), timeout=5000)
    assert not w.stop_button.isEnabled()
    assert w.progress_bar.value() == 1000


def test_a_bad_setting_is_reported_without_starting(qtbot):
    w = _Counter(-1)
    qtbot.addWidget(w)
    w.start()
    assert w.job is None and "n must be >= 0" in w.status.text()


def test_an_unexpected_error_reaches_the_status_line_and_the_controls_come_back(qtbot):
    w = _Counter(5, fail=2)
    qtbot.addWidget(w)
    w.start()
    qtbot.waitUntil(lambda: "boom" in w.status.text(), timeout=5000)
    assert "unexpected error: ValueError" in w.status.text()
    qtbot.waitUntil(lambda: w.run_button.isEnabled(), timeout=5000)
    assert w.seen == [0, 1] and w.result is None


def test_job_stops_when_asked(qtbot):
    import threading
    gate = threading.Event()

    def fn(report, stop):
        gate.wait(5)
        return "stopped" if stop.is_set() else "ran"

    job = Job(fn)
    results = []
    job.done.connect(results.append)
    job.start()
    job.request_stop()
    gate.set()
    qtbot.waitUntil(lambda: results == ["stopped"], timeout=5000)
    job.wait(5000)


def test_eta_text():
    assert eta_text(0, 10, 5.0) == "0 / 10"
    assert eta_text(5, 10, 10.0) == "5 / 10 · 10 s left"
    assert eta_text(1, 10, 30.0) == "1 / 10 · 4 min 30 s left"
    assert eta_text(10, 10, 30.0) == "10 / 10"


def test_main_window_opens_a_registered_tool_once_and_applies_its_config(qtbot, monkeypatch, tmp_path):
    from PySide6.QtCore import QSettings, Signal

    from engine.training.config import ExperimentConfig
    from gui import main_window as mw
    from gui.tools.registry import ToolEntry

    class _Chooser(_Counter):
        config_chosen = Signal(object)

        def __init__(self, session, parent=None):
            super().__init__(session=session, parent=parent)

    import sys
    import types
    module = types.ModuleType("_test_tool_module")
    module.Chooser = _Chooser
    monkeypatch.setitem(sys.modules, "_test_tool_module", module)
    entry = ToolEntry("Experiments", "Chooser", "_test_tool_module:Chooser", "a test tool")
    monkeypatch.setattr(mw, "TOOLS", [entry])
    monkeypatch.setattr(mw, "new_run_dir", lambda name: tmp_path / name)
    w = mw.MainWindow(ExperimentConfig().replace(train={"iterations": 2}),
                      settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    w.setProperty("assume_yes", True)
    qtbot.addWidget(w)
    menus = [a.text() for a in w.menuBar().actions()]
    assert "&Experiments" in menus
    tool = w.open_tool(entry)
    assert w.open_tool(entry) is tool and tool.isVisible()
    tool.config_chosen.emit(ExperimentConfig().replace(train={"iterations": 3}, sampler={"n_steps": 7}))
    assert w.session.config.sampler.n_steps == 7
    w.close()


def test_the_busy_bar_stops_when_a_job_without_progress_ends(qtbot):
    class _Silent(_Counter):
        def on_report(self, obj):
            self.seen.append(obj)  # no set_progress: the bar shows "busy" while it runs

    w = _Silent(3)
    qtbot.addWidget(w)
    w.start()
    qtbot.waitUntil(lambda: w.result == 3 and w.run_button.isEnabled(), timeout=5000)
    assert w.progress_bar.maximum() == 1  # a range of (0, 0) would keep it animating
    assert w.progress_bar.value() == 1  # full: it finished (the Apply windows had their own copy of this)


def test_a_job_that_outlives_its_closed_window_is_waited_for_not_destroyed(qtbot):
    import threading

    from gui import jobs

    gate = threading.Event()

    class _Slow(_Counter):
        def make_job_fn(self):
            def fn(report, stop):
                gate.wait(10)  # a trial in a worker process: it cannot stop at once
                return "done late"
            return fn

    w = _Slow()
    qtbot.addWidget(w)
    w.start()
    job = w.job
    assert job in jobs._RUNNING
    w.close()  # waits 2 s, then lets the job go on without the window
    assert job.isRunning() and job.parent() is None and job.stop_event.is_set()
    gate.set()
    assert jobs.wait_for_jobs(5000)
    qtbot.waitUntil(lambda: job not in jobs._RUNNING, timeout=5000)
