"""The Apply menu's entries open, the model picker's 'Current run', and the shared widgets."""

from __future__ import annotations

import importlib
import threading

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from engine.errors import ModelFileError
from engine.models import EnergyNet
from engine.models.io import save_model
from engine.models.presets import mlp_2d
from gui.session import Session
from gui.tools.apply_common import (
    CURRENT_RUN,
    ModelPicker,
    Progress,
    Stopped,
    chain_progress,
    optional_value,
    step_size_box,
)
from gui.tools.ood_window import batched_energies
from gui.tools.registry import TOOLS


@pytest.mark.parametrize("entry", [e for e in TOOLS if e.menu == "Apply"], ids=lambda e: e.text)
def test_every_apply_entry_opens_with_tooltips(qtbot, entry):
    module, name = entry.target.split(":")
    window = getattr(importlib.import_module(module), name)(Session(), None)
    qtbot.addWidget(window)
    assert entry.tip and window.run_button.isEnabled()
    for row in range(window.form.rowCount()):
        item = window.form.itemAt(row, window.form.ItemRole.FieldRole)
        field = item.widget() if item is not None else None
        if field is not None and field.isEnabled() and field.metaObject().className() in (
                "QSpinBox", "QDoubleSpinBox", "QComboBox", "QLineEdit"):
            assert field.toolTip(), f"{entry.text}: row {row} has no tooltip"


def test_apply_entries_are_in_their_own_menu():
    apply = [e for e in TOOLS if e.menu == "Apply"]
    assert {e.text for e in apply} >= {"Inpaint / denoise", "Interpolate", "Class-conditional samples (JEM)",
                                       "Out-of-distribution detection", "Compose models", "Texture synthesis"}


def test_current_run_without_and_with_a_saved_model(qtbot, tmp_path):
    session = Session()
    picker = ModelPicker(session)
    qtbot.addWidget(picker)
    picker.combo.setCurrentIndex(picker.combo.findData(CURRENT_RUN))
    with pytest.raises(ModelFileError, match="no current run"):
        picker.reference()
    session.run_dir = str(tmp_path)
    picker.refresh()
    assert "has not saved a model yet" in picker.info.text() and "Stop" in picker.info.text()
    save_model(tmp_path / "model.safetensors", EnergyNet(mlp_2d(width=8, depth=2), seed=1, xp=np))
    session.set_state("finished")  # the worker saved the model and stopped: the picker looks again
    assert picker.reference() == str(tmp_path)
    assert "2-D points" in picker.info.text() and picker.opened().input_shape == (2,)


def test_progress_helpers():
    seen, stop = [], threading.Event()
    progress = chain_progress(seen.append, stop, offset=10, total=30)
    progress(5, 20)
    assert seen == [Progress(15, 30)]
    stop.set()
    with pytest.raises(Stopped):
        progress(6, 20)
    with pytest.raises(Stopped):
        batched_energies(None, np.zeros((3, 2), np.float32), seen.append, stop, 0, 3)
    box = step_size_box()
    assert optional_value(box) is None
    box.setValue(0.5)
    assert optional_value(box) == 0.5
