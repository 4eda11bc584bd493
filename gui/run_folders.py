"""Where runs live on disk: a fresh folder per run under the user's data folder."""

from __future__ import annotations

import re
import time
from pathlib import Path

from PySide6.QtCore import QStandardPaths


def runs_root() -> Path:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    root = Path(base or Path.home() / ".ebm-studio") / "runs"
    root.mkdir(parents=True, exist_ok=True)
    return root


def new_run_dir(name: str) -> Path:
    """A new, empty folder named after the experiment and the time."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "experiment"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    root = runs_root()
    for i in range(1000):
        path = root / (f"{stamp}-{slug}" + (f"-{i}" if i else ""))
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise OSError(f"could not create a run folder in {root}")
