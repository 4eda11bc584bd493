"""The experiment panel shows a config and turns edits into configs without losing settings."""

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from engine.training.config import load_config  # noqa: E402
from gui.panels.experiment_panel import ExperimentPanel  # noqa: E402
from gui.session import Session  # noqa: E402

PRESETS = Path(__file__).resolve().parents[2] / "resources" / "presets"


def test_a_config_with_its_own_layers_keeps_them_through_edits(qtbot):
    config = load_config(PRESETS / "checkerboard.toml")
    assert config.model.layers
    panel = ExperimentPanel(Session(config))
    qtbot.addWidget(panel)
    assert panel.preset.currentText().startswith("custom") and panel.layer_table.rowCount() == len(config.model.layers)
    assert panel.param_count.text() != ""
    edits = []
    panel.config_edited.connect(lambda c, kind: edits.append((c, kind)))
    panel.lr.setValue(0.002)
    new, kind = edits[-1]
    assert kind == "live" and new.train.lr == 0.002 and new.model.layers == config.model.layers
    panel.preset.setCurrentIndex(panel.preset.findData("mlp_2d"))
    new, kind = edits[-1]
    assert kind == "model" and new.model.preset == "mlp_2d" and new.model.layers == []


def test_every_edit_round_trips_the_other_settings(qtbot):
    config = load_config(PRESETS / "rings.toml")
    panel = ExperimentPanel(Session(config))
    qtbot.addWidget(panel)
    assert panel.read_config() == config  # showing a preset and reading it back changes nothing


def test_panel_shows_a_searched_width_and_drops_it_for_another_preset(qtbot):
    from engine.training.config import ExperimentConfig
    from gui.panels.experiment_panel import ExperimentPanel
    from gui.session import Session

    session = Session(ExperimentConfig().replace(model={"width": 32}))
    panel = ExperimentPanel(session)
    qtbot.addWidget(panel)
    panel.show_config()
    # 2 -> 32 -> 32 -> 32 -> 1: 2*32+32 + 2*(32*32+32) + 32+1
    assert panel.param_count.text() == f"{2 * 32 + 32 + 2 * (32 * 32 + 32) + 33:,}"
    assert panel.read_config().model.width == 32
    panel.dataset.setCurrentIndex(panel.dataset.findData("builtin_digits"))  # needs a conv preset
    model = panel.read_config().model
    assert model.preset == "convnet_small" and model.width == 0


def test_the_builtin_texture_gets_the_fully_convolutional_texture_model(qtbot):
    from engine.training.config import ExperimentConfig
    from gui.panels.experiment_panel import ExperimentPanel
    from gui.session import Session

    panel = ExperimentPanel(Session(ExperimentConfig()))
    qtbot.addWidget(panel)
    panel.show_config()
    panel.dataset.setCurrentIndex(panel.dataset.findData("builtin_texture"))
    config = panel.read_config()
    assert config.model.preset == "texture_convnet"
    panel.session.config = config
    panel.show_config()
    assert panel.layer_table.item(panel.layer_table.rowCount() - 1, 0).text() == "global_sum"
