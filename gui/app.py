"""Start the desktop application: ``ebm-studio-gui [EXPERIMENT]`` or ``python main.py``."""

from __future__ import annotations

import sys
from typing import Sequence

from PySide6.QtWidgets import QApplication


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv if argv is None else argv)
    app = QApplication.instance() or QApplication(args)
    app.setOrganizationName("EBM Studio")
    app.setApplicationName("EBM Studio")
    import pyqtgraph as pg  # noqa: PLC0415 - after the QApplication exists

    pg.setConfigOptions(antialias=True)
    from .main_window import MainWindow  # noqa: PLC0415

    window = MainWindow()
    if len(args) > 1:
        window.open_experiment(args[1])
    window.show()
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
