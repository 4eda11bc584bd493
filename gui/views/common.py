"""Small helpers the views share: what kind of experiment this is, colours, message labels."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy

# Distinct, colour-blind-friendly line colours (Okabe-Ito, then Tableau), readable on black and white.
PALETTE = ("#56B4E9", "#E69F00", "#009E73", "#F0E442", "#CC79A7", "#D55E00", "#0072B2",
           "#9467BD", "#8C564B", "#17BECF")


def experiment_kind(session: Any) -> str:
    """"2d" for point data, "image" for (N, C, H, W) data, "none" while nothing is loaded."""
    for arr in (session.data_preview, session.samples):
        if arr is not None:
            if arr.ndim == 2 and arr.shape[1] == 2:
                return "2d"
            if arr.ndim >= 3:
                return "image"
    if session.landscape is not None:
        return "2d"
    return "none"


def message_label(text: str = "") -> QLabel:
    """A centred, wrapped, muted label shown instead of an empty plot."""
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setMargin(24)
    label.setStyleSheet("font-size: 13px;")
    return label


def shrinkable(label: QLabel) -> QLabel:
    """A one-line label that does not force its text's width on the dock it sits in."""
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    label.setMinimumWidth(20)
    return label
