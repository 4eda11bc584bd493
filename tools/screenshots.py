"""Render screenshots of the main views to docs/ (used by README).

    QT_QPA_PLATFORM=offscreen python tools/screenshots.py [--iterations N]

Trains the 2D default experiment for a while, starts a chain, and grabs the
landscape and the curves; then a digits experiment for the samples view.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def wait(app: QApplication, condition, timeout: float = 1200.0) -> None:
    """Process events until condition() holds (the screenshot scripts share this)."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the window did not get there in time")
        app.processEvents()
        time.sleep(0.01)


def start(out: str) -> tuple[QApplication, Path]:
    """The Qt application with antialiased plots, and the output folder (made): what every screenshot
    script starts with."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv)
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True)
    return app, folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=1500, help="2D training iterations")
    parser.add_argument("--digit-iterations", type=int, default=600, help="digits training iterations")
    parser.add_argument("--out", default=str(ROOT / "docs"))
    args = parser.parse_args()
    app, out = start(args.out)
    from engine.training.config import load_config
    from gui import main_window as mw

    scratch = Path(tempfile.mkdtemp(prefix="ebm-shots-"))
    mw.new_run_dir = lambda name: Path(tempfile.mkdtemp(prefix=f"{name}-", dir=scratch))
    settings = QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat)

    config = load_config(ROOT / "resources" / "presets" / "8gaussians.toml").replace(
        train={"iterations": args.iterations})
    w = mw.MainWindow(config, settings=settings)
    w.setProperty("quiet_errors", True)
    w.setProperty("assume_yes", True)
    w.resize(1500, 950)
    w.show()
    s = w.session
    wait(app, lambda: s.state == "paused")
    w.toggle_training()
    wait(app, lambda: s.state == "finished")
    for x, y in ((0.5, 0.3), (-3.0, 3.2)):
        s.chain = None
        w.start_chain_at(x, y)
        wait(app, lambda: s.chain is not None)
    def shoot(view, name: str) -> None:
        w.tabs.setCurrentWidget(view)
        for _ in range(20):  # let the throttled views redraw
            app.processEvents()
            time.sleep(0.02)
        w.grab().save(str(out / f"screenshot_{name}.png"))

    shoot(w.landscape_view, "landscape")
    shoot(w.curves_view, "curves")

    digits = ROOT / "resources" / "presets" / "digits_convnet.toml"
    if digits.exists():
        w.start_run(load_config(digits).replace(train={"iterations": args.digit_iterations}))
        wait(app, lambda: s.state == "paused")
        w.toggle_training()
        wait(app, lambda: s.state == "finished")
        w.start_chain_from_noise()
        wait(app, lambda: s.chain is not None)
        shoot(w.samples_view, "samples")
        shoot(w.chain_view, "chain")
    w.close()
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
