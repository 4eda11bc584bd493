"""Inpaint / denoise: paint the part of an image to fill (or add noise), and let the energy restore it.

One image of the chosen set is shown large; the user paints the mask on it (or takes a preset
mask). Run starts several Langevin chains on that image (engine.applications.inpaint): the
painted pixels start from noise and move, the others stay exactly as they are; in denoise mode
every pixel of a noisy copy moves. The result row shows original / corrupted / fills, the
filmstrip shows each chain over time, and the MSE over the restored region before and after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.applications.inpaint import corrupt, denoise, inpaint, make_mask, masked_mse
from engine.applications.inputs import load_inputs
from engine.applications.models import OpenedModel, open_model
from engine.applications.preset import ApplicationPreset
from engine.errors import ConfigError, EBMError

from .apply_base import ApplyWindow
from .apply_common import (
    IMAGE_SETS,
    InputPicker,
    TileView,
    chain_progress,
    colors,
    dspin,
    muted,
    noise_box,
    optional_value,
    plot_widget,
    save_grid,
    spin,
    step_size_box,
    stoppable,
)
from .mask_canvas import MaskCanvas

POOL = 32  # images loaded from the chosen set; the user picks one by index
FILMSTRIP_ROWS = 4
INPAINT, DENOISE = "inpaint", "denoise"


@dataclass
class Restoration:
    """truth, corrupted, filled: (k, C, H, W); filmstrip: (F, k, C, H, W); energies: (F, k); steps: (F,);
    mask: (C, H, W) bool, True = restored; mse_*: over the restored region, mean over the k chains."""

    task: str
    truth: np.ndarray
    corrupted: np.ndarray
    filled: np.ndarray
    filmstrip: np.ndarray
    energies: np.ndarray
    steps: np.ndarray
    mask: np.ndarray
    mse_before: float
    mse_after: float
    value_range: tuple[float, float]


class InpaintWindow(ApplyWindow):
    title = "Inpaint / denoise"
    run_text = "Fill in"
    kinds = (INPAINT, DENOISE)

    def __init__(self, session: Any = None, parent: QWidget | None = None):
        super().__init__(session, parent)
        self.pool: np.ndarray | None = None
        self.pool_range = (-1.0, 1.0)
        self._pool_key: tuple | None = None

        self.task = QComboBox()
        self.task.addItem("Inpaint: fill the painted region", INPAINT)
        self.task.addItem("Denoise: add Gaussian noise, remove it", DENOISE)
        self.task.setToolTip("Inpaint: the painted pixels start from noise and are sampled given the rest "
                             "(the other pixels never move). Denoise: every pixel of a noisy copy moves.")
        self.form.addRow("Task", self.task)
        self.images = self.add_field("data", "Images", InputPicker(IMAGE_SETS, "Where the image comes from: a "
                                                                   "built-in set (held-out examples) or a file"))
        self.index = spin(0, POOL - 1, 0, "Which image of the set to restore")
        self.form.addRow("Image #", self.index)
        self.fraction = self.add_field("fraction", "Mask size", dspin(0.05, 0.95, 0.3, "Fraction of the image "
                                       "the Center/Left/Random masks cover", decimals=2, step=0.05))
        self.noise_std = self.add_field("noise_std", "Noise std", dspin(0.0, 2.0, 0.4, "Standard deviation of "
                                        "the Gaussian noise added to the image (denoise)", decimals=2, step=0.05))
        self.chains = spin(1, 16, 4, "How many independent fills of the same image (each a Langevin chain): "
                           "they differ where the model is unsure")
        self.form.addRow("Fills", self.chains)
        self.steps = self.add_field("n_steps", "Steps", spin(1, 5000, 200, "Langevin steps"))
        self.step_size = self.add_field("step_size", "Step size", step_size_box())
        self.noise = self.add_field("noise", "Langevin noise", noise_box())
        self.frames = self.add_field("frames", "Frames", spin(2, 16, 8, "Snapshots kept for the filmstrip"))
        self.seed = self.add_field("seed", "Seed", spin(0, 2**31 - 1, 0, "Random seed of the chains and the "
                                                        "corruption"))
        self._build_results()

        self.task.currentIndexChanged.connect(self._task_changed)
        self.images.changed.connect(self.load_pool)
        self.index.valueChanged.connect(self._show_image)
        self.noise_std.valueChanged.connect(self._update_preview)
        self.seed.valueChanged.connect(self._update_preview)
        self.resize(1250, 760)
        self.finish_setup()

    def _build_results(self) -> None:
        self.canvas = MaskCanvas()
        self.canvas.setToolTip("Paint the region to fill: left button paints, right button erases")
        self.canvas.mask_changed.connect(self._mask_changed)
        self.canvas_hint = muted("Paint the region to fill: left button paints, right button erases.")
        self.brush = spin(1, 12, 2, "Brush radius in image pixels")
        self.brush.valueChanged.connect(lambda v: setattr(self.canvas, "brush", float(v)))
        self.canvas.brush = 2.0
        tools = QHBoxLayout()
        tools.addWidget(QLabel("Brush"))
        tools.addWidget(self.brush)
        self.mask_buttons: dict[str, QPushButton] = {}
        for kind, tip in (("clear", "Remove the whole mask"), ("center", "A centred square (Mask size)"),
                          ("left", "The left columns (Mask size)"), ("random", "Random pixels (Mask size)")):
            button = QPushButton(kind.capitalize())
            button.setToolTip(tip)
            button.clicked.connect(lambda _=False, k=kind: self.preset_mask(k))
            tools.addWidget(button)
            self.mask_buttons[kind] = button
        tools.addStretch(1)
        self.mask_info = muted("")
        left = QVBoxLayout()
        left.addWidget(self.canvas_hint)
        left.addWidget(self.canvas, 1)
        left.addLayout(tools)
        left.addWidget(self.mask_info)

        self.result_view = TileView("original · corrupted · fills")
        self.result_view.setToolTip("The original image, what the chains started from, and each chain's result")
        self.mse_label = QLabel("Run to restore the image.")
        self.mse_label.setWordWrap(True)
        self.mse_label.setStyleSheet("font-size: 13px;")
        self.film_view = TileView("filmstrip: each fill over the Langevin steps")
        self.energy_plot = plot_widget("Langevin step", "E(x)")
        self.energy_plot.setMinimumHeight(120)
        self.energy_plot.getPlotItem().addLegend(offset=(-10, 10))
        right = QVBoxLayout()
        right.addWidget(self.result_view, 2)
        right.addWidget(self.mse_label)
        right.addWidget(self.film_view, 4)
        right.addWidget(self.energy_plot, 3)
        row = QHBoxLayout()
        row.addLayout(left, 5)
        row.addLayout(right, 6)
        self.results.addLayout(row)

    # --- model and images -----------------------------------------------------------------

    def model_problem(self, opened: OpenedModel) -> str | None:
        if not opened.is_image:
            shape = "×".join(map(str, opened.input_shape))
            return (f"Inpainting and denoising work on images, but {opened.name} takes {shape}-D points. "
                    "Pick an image model such as digits_convnet.")
        return None

    def model_changed(self) -> None:
        self.load_pool()

    def preset_applied(self, preset: ApplicationPreset) -> None:
        self.task.setCurrentIndex(self.task.findData(preset.kind))
        self.load_pool()
        if preset.kind == INPAINT:
            self.preset_mask(str(preset.params.get("mask", "center")))
        self._task_changed()

    def load_pool(self) -> None:
        """Read POOL images of the chosen set at the model's input shape (quick: generated or one file)."""
        try:
            opened = self.checked_model()
        except EBMError:
            return  # the status line already says why
        key = (self.images.value(), opened.input_shape, opened.value_range)
        if key == self._pool_key:
            return
        try:
            x, _ = load_inputs(self.images.value(), POOL, opened.input_shape, opened.value_range, seed=0)
        except EBMError as exc:
            self.show_error(str(exc))
            return
        self.pool, self.pool_range, self._pool_key = x, opened.value_range, key
        self.index.setMaximum(len(x) - 1)
        self._show_image()

    def _show_image(self) -> None:
        if self.pool is None:
            return
        self.canvas.set_image(self.pool[self.index.value()], self.pool_range)
        self._update_preview()
        self._mask_changed()

    # --- mask and task ----------------------------------------------------------------------

    def preset_mask(self, kind: str) -> None:
        """"clear", or a make_mask kind (center, left, random, ...) at the Mask size fraction."""
        if kind == "clear":
            self.canvas.clear()
            return
        h, w = self.canvas.mask.shape
        try:
            mask = make_mask((1, h, w), kind, self.fraction.value(), seed=self.seed.value())
        except ConfigError as exc:
            self.show_error(str(exc))
            return
        self.canvas.set_mask(mask[0])

    def _mask_changed(self) -> None:
        m = self.canvas.mask
        self.mask_info.setText(f"mask: {int(m.sum())} of {m.size} pixels ({100 * m.mean():.0f}%)")

    @property
    def mode(self) -> str:
        return str(self.task.currentData())

    def _task_changed(self) -> None:
        inpainting = self.mode == INPAINT
        self.canvas.editable = inpainting
        for button in self.mask_buttons.values():
            button.setEnabled(inpainting)
        self.brush.setEnabled(inpainting)
        self.fraction.setEnabled(inpainting)
        self.noise_std.setEnabled(not inpainting)
        self.chains.setEnabled(inpainting)
        self.canvas.show_mask = inpainting
        self.result_view.set_title("original · corrupted · fills" if inpainting else "original · noisy · denoised")
        self.film_view.set_title("filmstrip: each fill over the Langevin steps" if inpainting
                                 else "filmstrip: the denoising chain over the Langevin steps")
        self.canvas_hint.setText("Paint the region to fill: left button paints, right button erases." if inpainting
                                 else "The noisy image the chain starts from (Noise std, Seed).")
        self.mask_info.setVisible(inpainting)
        self._update_preview()

    def _update_preview(self) -> None:
        if self.pool is None:
            return
        if self.mode == DENOISE:
            image = self.pool[self.index.value()][None]
            self.canvas.set_overlay(corrupt(image, None, self.noise_std.value(), self.seed.value(),
                                            self.pool_range)[0])
        else:
            self.canvas.set_overlay(None)

    # --- running -----------------------------------------------------------------------------

    def make_job_fn(self) -> Callable[[Callable[[Any], None], Any], Any]:
        opened = self.checked_model()
        if self.pool is None:
            raise ConfigError("no image loaded: pick an image set the model can read")
        ref = self.model_picker.reference()
        task, seed, value_range = self.mode, self.seed.value(), self.pool_range
        image = self.pool[self.index.value()].copy()
        settings = {"n_steps": self.steps.value(), "step_size": optional_value(self.step_size),
                    "noise": optional_value(self.noise), "frames": self.frames.value(), "seed": seed}
        if task == INPAINT:
            if not self.canvas.mask.any():
                raise ConfigError("nothing to fill: paint the region to fill on the image (left button), or use "
                                  "the Center / Left / Random mask buttons")
            mask = np.broadcast_to(self.canvas.mask, image.shape).copy()
            truth = np.repeat(image[None], self.chains.value(), axis=0)
        else:
            mask = np.ones(image.shape, dtype=bool)
            truth = image[None]
            noisy = corrupt(truth, None, self.noise_std.value(), seed, value_range)
        del opened  # checked here; the job opens its own copy

        def fn(report: Callable[[Any], None], stop: Any) -> Restoration:
            model = open_model(ref)
            progress = chain_progress(report, stop)
            if task == INPAINT:
                r = inpaint(model, truth, mask[None], progress=progress, **settings)
                start = r.x_start
            else:
                r = denoise(model, noisy, progress=progress, **settings)
                start = noisy
            return Restoration(task, truth, start, r.x, r.filmstrip, r.energies, r.steps, mask,
                               masked_mse(start, truth, r.mask), masked_mse(r.x, truth, r.mask), value_range)

        return stoppable(fn)

    def on_done(self, result: Restoration | None) -> None:
        if result is None:
            return
        self.result = result
        k = len(result.filled)
        images = np.concatenate([result.truth[:1], result.corrupted[:1], result.filled])
        noun = "fill" if result.task == INPAINT else "denoised"
        captions = ["original", "corrupted" if result.task == INPAINT else "noisy"]
        captions += [f"{noun} {i + 1}" if k > 1 else noun for i in range(k)]
        self.result_view.show_images(images, result.value_range, ncols=len(images), captions=captions,
                                     captions_above=True)
        rows = min(k, FILMSTRIP_ROWS)
        f = len(result.steps)
        film = result.filmstrip[:, :rows].transpose(1, 0, 2, 3, 4).reshape(rows * f, *result.filmstrip.shape[2:])
        self.film_view.show_images(film, result.value_range, ncols=f,
                                   row_titles=[f"{noun} {i + 1}" for i in range(rows)] if k > 1 else [],
                                   captions=[f"step {int(s)}" if i == 0 else str(int(s))
                                             for i, s in enumerate(result.steps)], captions_above=True)
        self._plot_energies(result)
        region = "painted region" if result.task == INPAINT else "image"
        better = result.mse_after < result.mse_before
        self.mse_label.setText(
            f"MSE to the original over the {region}: <b>{result.mse_before:.4f}</b> "
            f"({'noise start' if result.task == INPAINT else 'noisy'}) → <b>{result.mse_after:.4f}</b> "
            f"({'filled' if result.task == INPAINT else 'denoised'})"
            + (f", mean over {k} fills" if k > 1 else "")
            + ("" if better else " — <span style='color:#D55E00'>no better: try more steps or another step "
                                 "size</span>"))
        self.save_button.setEnabled(True)

    def _plot_energies(self, result: Restoration) -> None:
        plot = self.energy_plot.getPlotItem()
        plot.clear()
        if plot.legend is not None:
            plot.legend.clear()
        steps = result.steps.astype(float)
        for i, color in zip(range(min(result.energies.shape[1], 8)), colors(8)):
            plot.plot(steps, result.energies[:, i], pen={"color": color, "width": 1}, symbol="o", symbolSize=4,
                      symbolBrush=color, symbolPen=None, name=f"chain {i + 1}" if result.energies.shape[1] > 1
                      else "E(x)")

    def save_to(self, folder: str) -> list[str]:
        r = self.result
        if r is None:
            raise ConfigError("nothing to save yet: run first")
        out = Path(folder)
        images = np.concatenate([r.truth[:1], r.corrupted[:1], r.filled])
        f = len(r.steps)
        film = r.filmstrip.transpose(1, 0, 2, 3, 4).reshape(-1, *r.filmstrip.shape[2:])
        return [str(save_grid(images, out / f"{r.task}_result.png", r.value_range, ncols=len(images))),
                str(save_grid(film, out / f"{r.task}_filmstrip.png", r.value_range, ncols=f))]
