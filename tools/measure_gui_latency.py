"""Measure how long GUI events wait while a W1-sized model trains in the window.

    QT_QPA_PLATFORM=offscreen python tools/measure_gui_latency.py [--seconds 20]

A 5 ms timer in the GUI thread records how late each tick fires; the largest
delay is the longest any event waited. Prints the median, 99th percentile and
maximum, and the training speed meanwhile.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(sys.argv)
    from engine.training.config import ExperimentConfig
    from gui import main_window as mw

    scratch = Path(tempfile.mkdtemp(prefix="ebm-latency-"))
    mw.new_run_dir = lambda name: Path(tempfile.mkdtemp(prefix=f"{name}-", dir=scratch))
    config = ExperimentConfig().replace(  # W1: the MNIST-tutorial CNN, batch 128, 60 Langevin steps
        data={"name": "builtin_digits"}, model={"preset": "mnist_cnn"},
        sampler={"n_steps": 60, "step_size": 10.0, "noise": 0.005, "clip_grad": 0.03, "clamp": [-1.0, 1.0]},
        train={"batch_size": 128, "lr": 1e-4, "iterations": 100000, "samples_every": 5})
    w = mw.MainWindow(config, settings=QSettings(str(scratch / "s.ini"), QSettings.Format.IniFormat))
    w.setProperty("quiet_errors", True)
    w.setProperty("assume_yes", True)  # closing while training must not wait for a dialog
    w.show()
    s = w.session
    s.message.connect(lambda level, text: print(f"{level}: {text}", file=sys.stderr))
    while s.state not in ("paused", "error"):
        app.processEvents()
        time.sleep(0.01)
    if s.state == "error":
        return 1
    delays: list[float] = []
    clock = QElapsedTimer()
    period = 5
    timer = QTimer()
    timer.setInterval(period)
    last = [0.0]

    def tick() -> None:
        now = clock.nsecsElapsed() / 1e6
        if last[0]:
            delays.append(now - last[0] - period)
        last[0] = now

    timer.timeout.connect(tick)
    clock.start()
    timer.start()
    w.toggle_training()
    start_it, start = s.iteration, time.monotonic()
    while time.monotonic() - start < args.seconds:
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    its = s.iteration - start_it
    w.toggle_training()
    w.close()
    d = np.maximum(np.asarray(delays), 0.0)
    print(f"{len(d)} timer ticks over {args.seconds:.0f} s of W1 training ({its} iterations, "
          f"{its / args.seconds:.2f} it/s)")
    print(f"event delay: median {np.median(d):.1f} ms, 99th percentile {np.percentile(d, 99):.1f} ms, "
          f"max {d.max():.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
