"""The tool windows the main window's menus list: (menu, text, "module:Class", tip).

A window class takes (session, parent) and may have a ``config_chosen`` signal
(an ExperimentConfig the user wants to train, e.g. a search's best trial): the main
window connects it to starting that experiment. Modules are imported when the
window is first opened, so the main window starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ToolEntry:
    menu: str  # "Experiments" or "Apply"
    text: str
    target: str  # "gui.tools.module:ClassName"
    tip: str


TOOLS: list[ToolEntry] = [
]
