"""The experiment log: session messages with time and level, errors in red."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from PySide6.QtWidgets import (
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

LEVEL_COLORS = {"info": "", "warning": "#E07000", "error": "#D32F2F"}
MAX_LINES = 10_000


class LogView(QWidget):
    """Read-only log of ``session.message(level, text)``; a Clear button empties it."""

    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(MAX_LINES)
        self.text.setPlaceholderText("Messages from training, loading and saving appear here.")
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.clear)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.text, 1)
        layout.addLayout(buttons)
        session.message.connect(self.append)

    def append(self, level: str, text: str) -> None:
        """One entry: 'HH:MM:SS LEVEL text' (multi-line text keeps its lines)."""
        level = str(level).lower()
        color = LEVEL_COLORS.get(level, "")
        stamp = datetime.now().strftime("%H:%M:%S")
        body = html.escape(str(text)).replace("\n", "<br>")
        style = f' style="color:{color}"' if color else ""
        self.text.appendHtml(f'<span style="color:#888888">{stamp}</span> '
                             f'<span{style}><b>{html.escape(level.upper())}</b> {body}</span>')

    def clear(self) -> None:
        self.text.clear()

    def lines(self) -> list[str]:
        """The log as plain text lines."""
        return self.text.toPlainText().splitlines()
