"""Render screenshots of the Experiments windows to docs/ after a short real run of each.

    QT_QPA_PLATFORM=offscreen python tools/screenshot_tools.py [--iterations N] [--out DIR]

Learning curve: the 8 Gaussians preset at 5 sizes x 2 seeds. Search: the example space of
resources/search/ with ASHA, the best trials selected. Benchmark: the quick suite on a few
cases. Everything runs in this process and writes into a temporary folder (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from screenshots import start, wait  # noqa: E402 - tools/screenshots.py, the folder of this script


def run_and_wait(app: QApplication, window) -> None:
    window.start()
    if window.job is None:
        raise RuntimeError(f"{window.title}: {window.status.text()}")
    wait(app, lambda: not window.running and not window.status.text().startswith(("running", "stopping")))
    for _ in range(30):  # let the plots and tables settle
        app.processEvents()
        time.sleep(0.01)
    print(f"{window.title}: {window.status.text()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=200, help="learning-curve iterations per run")
    parser.add_argument("--search-iterations", type=int, default=270, help="iterations per search trial")
    parser.add_argument("--out", default=str(ROOT / "docs"))
    args = parser.parse_args()
    app, out = start(args.out)
    from engine.training.config import load_config
    from gui.session import Session
    from gui.tools.benchmark_window import BenchmarkWindow
    from gui.tools.learning_curve_window import LearningCurveWindow
    from gui.tools.search_window import SearchWindow

    scratch = Path(tempfile.mkdtemp(prefix="ebm-tool-shots-"))
    session = Session(load_config(ROOT / "resources" / "presets" / "8gaussians.toml"))

    lc = LearningCurveWindow(session)
    lc.iterations.setValue(args.iterations)
    lc.workers.setValue(0)
    lc.folder.set_path(scratch / "learning-curve")
    lc.show()
    run_and_wait(app, lc)
    lc.grab().save(str(out / "screenshot_learning_curve.png"))

    search = SearchWindow(session)
    search.trials.setValue(9)
    search.max_iterations.setValue(args.search_iterations)
    search.workers.setValue(0)
    search.folder.set_path(scratch / "search")
    search.show()
    run_and_wait(app, search)
    ranked = [t.id for t in search.results_now.sorted("rank")]
    search.table.sortByColumn(search.model.columns.index("value"), Qt.SortOrder.AscendingOrder)  # best first
    search.select_trials(ranked[:3])
    for _ in range(10):
        app.processEvents()
    search.grab().save(str(out / "screenshot_search.png"))

    bench = BenchmarkWindow(session)
    bench.only.setText("8gaussians,rings,two_moons")
    bench.workers.setValue(0)
    bench.folder.set_path(scratch / "benchmark")
    bench.show()
    run_and_wait(app, bench)
    bench.grab().save(str(out / "screenshot_benchmark.png"))
    bench.compare_files(scratch / "benchmark" / "benchmark.json", scratch / "benchmark" / "benchmark.csv")
    for _ in range(10):
        app.processEvents()
    bench.grab().save(str(scratch / "benchmark_compare.png"))  # a look at the Compare tab (not for docs)

    for w in (lc, search, bench):
        w.close()
    print(f"screenshots in {out}; runs and the Compare view in {scratch}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
