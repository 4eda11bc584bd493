"""Texture synthesis: a fully convolutional energy trained on small crops paints a larger canvas from
noise by Langevin dynamics (engine.applications.texture.synthesize). Shows the texture large, a
filmstrip of the first canvas, the energy over the steps, and, for a model trained on the built-in
texture, a crop of the real texture and how far the synthesis is from it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from engine.applications.inputs import load_inputs
from engine.applications.models import (
    OpenedModel,
    open_model,
    shipped_model_info,
    shipped_models,
)
from engine.applications.preset import ApplicationPreset
from engine.applications.texture import (
    is_fully_convolutional,
    receptive_field,
    synthesize,
    texture_distance,
)
from engine.data import builtin
from engine.errors import ConfigError, EBMError
from engine.models.energy_net import EnergyNet

from ..views.common import PALETTE
from .apply_base import ApplyWindow
from .apply_common import (
    TileView,
    chain_progress,
    describe_model,
    noise_box,
    optional_value,
    plot_widget,
    save_grid,
    spin,
    step_size_box,
    stoppable,
)

DISTANCE_CROP = 32  # texture_distance's crop side; smaller canvases get no distance


@dataclass
class TextureRun:
    """canvas: (n, C, H, W); frames: (K, C, H, W) of canvas 0 at steps (K,); energies: (K,) mean E;
    reference: a crop of the training texture at the canvas size, or None; distance: texture_distance
    of the canvases to the reference ({} without one)."""

    canvas: np.ndarray
    frames: np.ndarray
    steps: np.ndarray
    energies: np.ndarray
    value_range: tuple[float, float]
    reference: np.ndarray | None
    distance: dict[str, float]


def shipped_texture_model() -> str | None:
    """The first shipped model trained on a texture (its name or data say so), or None."""
    for name in shipped_models():
        data = (shipped_model_info(name).get("config") or {}).get("data") or {}
        if "texture" in name or data.get("name") in ("builtin_texture", "texture"):
            return name
    return None


class TextureWindow(ApplyWindow):
    title = "Texture synthesis"
    run_text = "Synthesise"
    kinds = ("texture",)

    def __init__(self, session: Any = None, parent: QWidget | None = None):
        super().__init__(session, parent)
        size = QWidget()
        row = QHBoxLayout(size)
        row.setContentsMargins(0, 0, 0, 0)
        self.height_box = spin(8, 1024, 96, "Canvas height in pixels (at least the training crops')")
        self.width_box = spin(8, 1024, 96, "Canvas width in pixels (at least the training crops')")
        row.addWidget(self.height_box)
        row.addWidget(QLabel("×"))
        row.addWidget(self.width_box)
        self.form.addRow("Canvas", size)
        self.n = self.add_field("n", "Canvases", spin(1, 16, 1, "How many textures to synthesise at once"))
        self.steps = self.add_field("n_steps", "Steps", spin(1, 100000, 300, "Langevin steps from noise"))
        self.step_size = self.add_field("step_size", "Step size", step_size_box())
        self.noise = self.add_field("noise", "Langevin noise", noise_box())
        self.init = QComboBox()
        self.init.addItem("uniform noise", "uniform")
        self.init.addItem("Gaussian noise", "gaussian")
        self.init.setToolTip("What the canvas starts from: uniform over the value range, or Gaussian around its "
                             "middle")
        self.add_field("init", "Start", self.init)
        self.frames = self.add_field("n_frames", "Frames", spin(2, 16, 8, "Snapshots of the first canvas kept for "
                                                                       "the filmstrip"))
        self.seed = self.add_field("seed", "Seed", spin(0, 2**31 - 1, 0, "Random seed of the noise"))

        self.canvas_view = TileView("synthesised texture")
        self.canvas_view.setMinimumSize(320, 320)
        self.reference_view = TileView("the training texture (a crop of the same size)")
        self.film = TileView("the first canvas over the Langevin steps")
        self.energy_plot = plot_widget("Langevin step", "mean E(canvas)")
        self.energy_plot.setMinimumHeight(120)
        self.summary = QLabel("Run to synthesise a texture from noise.")
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("font-size: 13px;")
        right = QVBoxLayout()
        right.addWidget(self.reference_view, 3)
        right.addWidget(self.energy_plot, 2)
        top = QHBoxLayout()
        top.addWidget(self.canvas_view, 3)
        top.addLayout(right, 2)
        self.results.addLayout(top, 3)
        self.results.addWidget(self.film, 1)
        self.results.addWidget(self.summary)
        self.resize(1200, 780)
        if self.preset_picker.current() is None:
            default = shipped_texture_model()
            if default is not None:
                self.model_picker.set_value(default)
        self.finish_setup()

    def model_problem(self, opened: OpenedModel) -> str | None:
        net = opened.model
        if not isinstance(net, EnergyNet) or not is_fully_convolutional(net):
            default = shipped_texture_model()
            hint = (f"Pick {default}." if default else "Train one first: a convolutional energy ending in "
                    "'global_sum' on builtin_texture crops (or your texture image), then pick its run.")
            return (f"{opened.name} is not a texture model: texture synthesis needs a fully convolutional energy "
                    f"(convolutions, then a sum over positions) so that it can score a larger canvas. {hint}")
        return None

    def model_changed(self) -> None:
        try:
            opened = self.checked_model()
        except EBMError:
            return  # the status line already says why
        _, h, w = opened.input_shape
        self.height_box.setMinimum(h)
        self.width_box.setMinimum(w)
        self.model_picker.info.setText(f"{describe_model(opened)}; {h}×{w} crops, each output position sees "
                                       f"{receptive_field(opened.model)}×{receptive_field(opened.model)} px")

    def preset_applied(self, preset: ApplicationPreset) -> None:
        size = preset.params.get("size")
        if size is not None:
            h, w = (size, size) if isinstance(size, int) else size
            self.height_box.setValue(int(h))
            self.width_box.setValue(int(w))

    def make_job_fn(self) -> Callable[[Callable[[Any], None], Any], Any]:
        opened = self.checked_model()
        ref = self.model_picker.reference()
        size = (self.height_box.value(), self.width_box.value())
        c, h0, w0 = opened.input_shape
        if size[0] < h0 or size[1] < w0:
            raise ConfigError(f"the canvas {size[0]}×{size[1]} is smaller than the model's {h0}×{w0} crops")
        kwargs = {"size": size, "n": self.n.value(), "n_steps": self.steps.value(),
                  "step_size": optional_value(self.step_size), "noise": optional_value(self.noise),
                  "init": self.init.currentData(), "seed": self.seed.value(), "n_frames": self.frames.value()}
        value_range = opened.value_range
        reference_set = opened.dataset if opened.dataset in builtin.GENERATORS else None
        shape = (c, *size)

        def fn(report: Callable[[Any], None], stop: threading.Event) -> TextureRun | None:
            r = synthesize(open_model(ref), **kwargs, progress=chain_progress(report, stop))
            if stop.is_set():
                return None
            reference, distance = None, {}
            if reference_set is not None and size[0] == size[1]:
                reference = load_inputs(reference_set, 1, shape, value_range, kwargs["seed"])[0]
                if min(size) >= DISTANCE_CROP:
                    distance = texture_distance(r.canvas, reference, crop=DISTANCE_CROP, value_range=value_range,
                                                seed=kwargs["seed"])
            return TextureRun(r.canvas, r.frames, r.frame_steps, r.energies, value_range, reference, distance)

        return stoppable(fn)

    def on_done(self, run: TextureRun | None) -> None:
        if run is None:
            return
        self.result = run
        self.canvas_view.show_images(run.canvas, run.value_range)
        if run.reference is not None:
            self.reference_view.show_images(run.reference, run.value_range)
        else:
            self.reference_view.clear_tiles()
        self.reference_view.setVisible(run.reference is not None)
        self.film.show_images(run.frames, run.value_range, ncols=len(run.frames),
                              captions=[f"step {int(s)}" if i == 0 else str(int(s)) for i, s in enumerate(run.steps)],
                              captions_above=True)
        plot = self.energy_plot.getPlotItem()
        plot.clear()
        plot.plot(run.steps.astype(float), run.energies, pen={"color": PALETTE[0], "width": 2}, symbol="o",
                  symbolSize=4, symbolBrush=PALETTE[0], symbolPen=None)
        n, _, h, w = run.canvas.shape
        text = f"{n} canvas{'es' if n > 1 else ''} of {h}×{w} after {int(run.steps[-1])} steps; mean energy " \
               f"{run.energies[0]:.4g} → {run.energies[-1]:.4g}"
        if run.distance:
            text += (f" · distance to the training texture: spectrum {run.distance['spectrum']:.3f}, grey levels "
                     f"{run.distance['histogram']:.3f} (0 = the same statistics)")
        self.summary.setText(text)
        self.save_button.setEnabled(True)

    def save_to(self, folder: str) -> list[str]:
        run = self.result
        if run is None:
            raise ConfigError("nothing to save yet: synthesise first")
        out = Path(folder)
        return [str(save_grid(run.canvas, out / "texture.png", run.value_range)),
                str(save_grid(run.frames, out / "texture_filmstrip.png", run.value_range, ncols=len(run.frames)))]
