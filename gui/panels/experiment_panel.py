"""The experiment panel: data, model, sampler and training settings as controls.

It shows ``session.config`` and, on every edit, emits a new config and what
kind of change it is: "data" or "model" (the run must start over, so the
window asks first) or "live" (learning rate, sampler: applied to the running
worker between iterations). Ranges live on the controls, so a value the engine
would refuse cannot be entered.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QLabel, QPushButton,
                               QScrollArea, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from engine.data.dataset import DATASET_NAMES
from engine.training.config import ExperimentConfig

from ..session import Session

# Model presets that fit each input shape (the engine checks again).
PRESETS_FOR_SHAPE = {
    "2d": ["mlp_2d"],
    "digits": ["convnet_small", "mnist_cnn", "jem_digits"],
    "rgb32": ["short_run_convnet"],
    "texture": ["texture_convnet"],
}
INPUT_SHAPES = {"2d": [2], "digits": [1, 28, 28], "rgb32": [3, 32, 32], "texture": [1, 32, 32]}
CUSTOM = "<custom>"  # the preset combo's entry for a config's own model.layers
SAMPLERS = {"langevin": "Langevin", "mala": "MALA (Metropolis-adjusted)", "hmc": "HMC (Hamiltonian)"}


def _shape_kind(data_name: str) -> str:
    if data_name == "builtin_digits":
        return "digits"
    if data_name == "builtin_shapes":
        return "rgb32"
    if data_name == "builtin_texture":
        return "texture"
    return "2d"


class ExperimentPanel(QScrollArea):
    config_edited = Signal(object, str)  # (ExperimentConfig, "data" | "model" | "live")
    open_data_requested = Signal()

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self._updating = False
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.addWidget(self._data_group())
        layout.addWidget(self._model_group())
        layout.addWidget(self._sampler_group())
        layout.addWidget(self._training_group())
        layout.addStretch(1)
        self.setWidget(body)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(300)
        session.config_changed.connect(self.show_config)
        session.data_changed.connect(self.show_config)
        session.state_changed.connect(self._on_state)
        self.show_config()

    # --- building -------------------------------------------------------------------

    def _spin(self, lo: int, hi: int, tip: str, step: int = 1) -> QSpinBox:
        box = QSpinBox()
        box.setRange(lo, hi)
        box.setSingleStep(step)
        box.setToolTip(tip)
        box.setKeyboardTracking(False)  # one edit per value, not per keystroke
        return box

    def _dspin(self, lo: float, hi: float, decimals: int, tip: str, step: float) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(lo, hi)
        box.setDecimals(decimals)
        box.setSingleStep(step)
        box.setToolTip(tip)
        box.setKeyboardTracking(False)
        return box

    def _watch(self, widget: QWidget, kind: str) -> None:
        signal: Callable = getattr(widget, "valueChanged", None) or getattr(widget, "currentIndexChanged", None) \
            or widget.toggled  # type: ignore[attr-defined]
        signal.connect(lambda *_: self._edited(kind))

    def _data_group(self) -> QGroupBox:
        box = QGroupBox("Data")
        form = QFormLayout(box)
        self.dataset = QComboBox()
        for name in DATASET_NAMES:
            self.dataset.addItem(name, name)
        self.dataset.addItem("your file…", "file")
        self.dataset.setToolTip("The training data: a 2D toy density with a known exact density, the built-in "
                                "digits (1x28x28, labelled) or coloured shapes (3x32x32), or your own file")
        self.data_n = self._spin(0, 10_000_000, "How many samples to draw or keep (0: the dataset's default)", 1000)
        self.val_fraction = self._dspin(-0.05, 0.9, 2, "Fraction held out for validation metrics "
                                        "(default: the dataset's own split)", 0.05)
        self.val_fraction.setSpecialValueText("default")
        open_button = QPushButton("Open file…")
        open_button.setToolTip("Load points (CSV, .npy) or images (IDX, CIFAR, a folder, a texture, .npy/.npz)")
        open_button.clicked.connect(self.open_data_requested)
        self.data_path = QLabel("")
        self.data_path.setWordWrap(True)
        form.addRow("Dataset", self.dataset)
        form.addRow("", open_button)
        form.addRow("", self.data_path)
        form.addRow("Samples", self.data_n)
        form.addRow("Validation", self.val_fraction)
        for w in (self.dataset, self.data_n, self.val_fraction):
            self._watch(w, "data")
        self.data_preview_slot = QVBoxLayout()
        form.addRow(self.data_preview_slot)
        return box

    def _model_group(self) -> QGroupBox:
        box = QGroupBox("Model")
        form = QFormLayout(box)
        self.preset = QComboBox()
        self.preset.setToolTip("The energy network: an MLP for 2D data, ConvNets for images, or a JEM "
                               "classifier whose logits define the energy")
        self.param_count = QLabel("")
        self.layer_table = QTableWidget(0, 3)
        self.layer_table.setHorizontalHeaderLabels(["layer", "settings", "output"])
        self.layer_table.verticalHeader().setVisible(False)
        self.layer_table.horizontalHeader().setStretchLastSection(True)
        self.layer_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.layer_table.setMinimumHeight(160)
        self.layer_table.setToolTip("The layers of the chosen network and the shape each one outputs per sample")
        form.addRow("Network", self.preset)
        form.addRow("Parameters", self.param_count)
        form.addRow(self.layer_table)
        self._watch(self.preset, "model")
        return box

    def _sampler_group(self) -> QGroupBox:
        box = QGroupBox("Sampler")
        form = QFormLayout(box)
        self.sampler_kind = QComboBox()
        for key, label in SAMPLERS.items():
            self.sampler_kind.addItem(label, key)
        self.sampler_kind.setToolTip("Langevin: fast, biased for large steps; MALA and HMC add a Metropolis "
                                     "test, so they sample exp(-E) exactly and report an acceptance rate")
        self.n_steps = self._spin(1, 10_000, "MCMC steps per training iteration (short-run chains)", 5)
        self.step_size = self._dspin(1e-5, 100.0, 5, "Step size: multiplies dE/dx (a/2 in the textbook form)", 0.001)
        self.textbook = QCheckBox("textbook noise sqrt(2 step)")
        self.textbook.setToolTip("Use noise = sqrt(2 step), which samples exp(-E); untick to set the noise yourself")
        self.noise = self._dspin(0.0, 10.0, 4, "Standard deviation of the Gaussian noise per step", 0.001)
        self.clip = self._dspin(0.0, 100.0, 3, "Clip dE/dx elementwise to [-c, c] (0: off)", 0.01)
        self.leapfrog = self._spin(1, 200, "HMC leapfrog steps per proposal", 1)
        self.capacity = self._spin(0, 1_000_000, "Replay buffer size (0: start every chain from noise)", 1000)
        self.reinit = self._dspin(0.0, 1.0, 3, "Chance that a buffer sample restarts from noise (default 5%)", 0.01)
        self.buffer_init = QComboBox()
        for key in ("uniform", "gaussian", "data"):
            self.buffer_init.addItem(key, key)
        self.buffer_init.setToolTip("Where restarted chains begin: uniform noise, Gaussian noise or data + noise")
        form.addRow("Method", self.sampler_kind)
        form.addRow("Steps", self.n_steps)
        form.addRow("Step size", self.step_size)
        form.addRow("", self.textbook)
        form.addRow("Noise", self.noise)
        form.addRow("Clip grad", self.clip)
        form.addRow("Leapfrog", self.leapfrog)
        form.addRow("Buffer size", self.capacity)
        form.addRow("Re-init", self.reinit)
        form.addRow("Restart from", self.buffer_init)
        for w in (self.sampler_kind, self.n_steps, self.step_size, self.textbook, self.noise, self.clip, self.leapfrog):
            self._watch(w, "live")
        for w in (self.capacity, self.reinit, self.buffer_init):
            self._watch(w, "model")
        return box

    def _training_group(self) -> QGroupBox:
        box = QGroupBox("Training")
        form = QFormLayout(box)
        self.iterations = self._spin(1, 10_000_000, "Parameter updates in the run", 100)
        self.batch = self._spin(1, 65_536, "Data and negative samples per update", 16)
        self.lr = self._dspin(1e-6, 1.0, 6, "Adam learning rate (changes apply immediately)", 1e-4)
        self.alpha = self._dspin(0.0, 10.0, 3, "Weight of E(x+)^2 + E(x-)^2, keeps energies near 0", 0.01)
        self.seed = self._spin(0, 2**31 - 1, "Random seed: the same seed repeats a run exactly", 1)
        self.backend = QComboBox()
        for key in ("auto", "numpy", "cupy"):
            self.backend.addItem(key, key)
        self.backend.setToolTip("Array backend: CuPy on an NVIDIA GPU when available, NumPy otherwise")
        self.backend_label = QLabel("")
        self.backend_label.setWordWrap(True)
        form.addRow("Iterations", self.iterations)
        form.addRow("Batch", self.batch)
        form.addRow("Learning rate", self.lr)
        form.addRow("Alpha", self.alpha)
        form.addRow("Seed", self.seed)
        form.addRow("Backend", self.backend)
        form.addRow("", self.backend_label)
        for w in (self.lr, self.alpha, self.iterations):
            self._watch(w, "live")
        for w in (self.batch, self.seed, self.backend):
            self._watch(w, "model")
        return box

    # --- config <-> controls --------------------------------------------------------------

    def show_config(self) -> None:
        c = self.session.config
        self._updating = True
        try:
            _select(self.dataset, c.data.name)
            self.data_path.setText(c.data.path if c.data.name == "file" else "")
            self.data_n.setValue(c.data.n)
            self.val_fraction.setValue(max(c.data.val_fraction, -0.05))
            self.preset.clear()
            kind = _shape_kind(c.data.name) if c.data.name != "file" else None
            names = PRESETS_FOR_SHAPE[kind] if kind else sorted({p for v in PRESETS_FOR_SHAPE.values() for p in v})
            for name in names:
                self.preset.addItem(name, name)
            if c.model.layers:  # the config's own architecture, kept until another network is chosen
                self.preset.addItem(f"custom ({len(c.model.layers)} layers)", CUSTOM)
                _select(self.preset, CUSTOM)
            else:
                _select(self.preset, c.model.preset)
            self._show_architecture(c)
            _select(self.sampler_kind, c.sampler.kind)
            self.n_steps.setValue(c.sampler.n_steps)
            self.step_size.setValue(c.sampler.step_size)
            self.textbook.setChecked(c.sampler.noise < 0)
            self.noise.setValue(max(c.sampler.noise, 0.0))
            self.noise.setEnabled(c.sampler.noise >= 0)
            self.clip.setValue(c.sampler.clip_grad)
            self.leapfrog.setValue(c.sampler.n_leapfrog)
            self.leapfrog.setEnabled(c.sampler.kind == "hmc")
            self.capacity.setValue(c.buffer.capacity)
            self.reinit.setValue(c.buffer.reinit_prob)
            _select(self.buffer_init, c.buffer.init)
            self.iterations.setValue(c.train.iterations)
            self.batch.setValue(c.train.batch_size)
            self.lr.setValue(c.train.lr)
            self.alpha.setValue(c.train.alpha)
            self.seed.setValue(c.train.seed)
            _select(self.backend, c.train.backend)
            self.backend_label.setText(self.session.backend_text)
        finally:
            self._updating = False

    def read_config(self) -> ExperimentConfig:
        """The config the controls show now."""
        c = self.session.config
        data_name = self.dataset.currentData()
        preset = self.preset.currentData() or c.model.preset
        new_data = data_name != c.data.name and data_name != "file"
        if new_data:  # a new kind of data needs a fitting model
            names = PRESETS_FOR_SHAPE[_shape_kind(data_name)]
            preset = preset if preset in names else names[0]
        if preset == CUSTOM:
            model = {"preset": c.model.preset, "kind": c.model.kind}
        else:
            model = {"preset": preset, "kind": "jem" if preset.startswith("jem") else "energy", "layers": [],
                     "input_shape": []}
            if preset != c.model.preset:
                model["width"] = 0  # a searched width belongs to the preset it was searched on
        return c.replace(
            data={"name": data_name, "n": self.data_n.value(),
                  "val_fraction": -1.0 if self.val_fraction.value() < 0 else self.val_fraction.value()},
            model=model,
            sampler={"kind": self.sampler_kind.currentData(), "n_steps": self.n_steps.value(),
                     "step_size": self.step_size.value(),
                     "noise": -1.0 if self.textbook.isChecked() else self.noise.value(),
                     "clip_grad": self.clip.value(), "n_leapfrog": self.leapfrog.value()},
            buffer={"capacity": self.capacity.value(), "reinit_prob": self.reinit.value(),
                    "init": self.buffer_init.currentData()},
            train={"iterations": self.iterations.value(), "batch_size": self.batch.value(), "lr": self.lr.value(),
                   "alpha": self.alpha.value(), "seed": self.seed.value(), "backend": self.backend.currentData()},
        )

    def _edited(self, kind: str) -> None:
        if self._updating:
            return
        if self.dataset.currentData() == "file" and self.session.config.data.name != "file":
            self.open_data_requested.emit()  # choosing "your file…" opens the file dialog
            self.show_config()
            return
        self.noise.setEnabled(not self.textbook.isChecked())
        self.leapfrog.setEnabled(self.sampler_kind.currentData() == "hmc")
        self.config_edited.emit(self.read_config(), kind)

    def _show_architecture(self, config: ExperimentConfig) -> None:
        preview = self.session.data_preview
        shape = list(preview.shape[1:]) if preview is not None else \
            INPUT_SHAPES.get(_shape_kind(config.data.name), [2])
        net = _build_net(config, shape)
        self.param_count.setText(f"{net.num_parameters():,}" if net is not None else "")
        layers = [] if net is None else list(zip(net.layers, net.shapes))
        self.layer_table.setRowCount(len(layers))
        for row, (layer, shape) in enumerate(layers):
            settings = ", ".join(f"{k}={v}" for k, v in layer.config.items()  # what differs from the defaults
                                 if k not in layer.defaults or layer.defaults[k] != v)
            for col, text in enumerate((layer.kind, settings, "x".join(map(str, shape)))):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.layer_table.setItem(row, col, item)
        self.layer_table.resizeColumnToContents(0)

    def _on_state(self, state: str) -> None:
        self.backend_label.setText(self.session.backend_text)

    def set_preview_widget(self, widget: QWidget) -> None:
        self.data_preview_slot.addWidget(widget)


def _select(combo: QComboBox, value: Any) -> None:
    i = combo.findData(value)
    if i < 0 and value:
        combo.addItem(str(value), value)
        i = combo.count() - 1
    combo.setCurrentIndex(max(i, 0))


def _build_net(config: ExperimentConfig, data_shape: list[int]) -> Any:
    """The experiment's network on the host (for its shapes and size), or None if it cannot be built."""
    from engine.errors import EBMError  # noqa: PLC0415
    from engine.models import EnergyNet  # noqa: PLC0415
    from engine.training.factory import model_arch  # noqa: PLC0415

    try:
        return EnergyNet(model_arch(config.model, tuple(data_shape)), xp=np)
    except (KeyError, EBMError):
        return None
