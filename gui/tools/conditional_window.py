"""Class-conditional sampling with a JEM: one row of samples per class, each checked by the JEM's own
classifier (engine.applications.conditional.sample_per_class). Samples the classifier reads as
another class are framed and captioned in orange.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QWidget

from engine.applications.conditional import ConditionalResult, sample_per_class
from engine.applications.models import OpenedModel, open_model
from engine.errors import ConfigError

from .apply_base import ApplyWindow
from .apply_common import (
    MISMATCH,
    TileView,
    chain_progress,
    muted,
    noise_box,
    optional_value,
    save_grid,
    spin,
    step_size_box,
    stoppable,
)

MATCH_COLOR = "#FFFFFF"


@dataclass
class ClassGrid:
    """What the window shows: the engine's result and the value range of the samples."""

    result: ConditionalResult
    value_range: tuple[float, float]

    def class_name(self, k: int) -> str:
        names = self.result.class_names
        return names[k] if names is not None and k < len(names) else str(k)


def parse_classes(text: str, k: int) -> list[int] | None:
    """"" or "all" -> None (every class); "0, 3, 5" -> [0, 3, 5]; ConfigError otherwise."""
    text = text.strip().lower()
    if text in ("", "all"):
        return None
    try:
        classes = [int(v) for v in text.replace(";", ",").replace(" ", ",").split(",") if v]
    except ValueError:
        raise ConfigError(f"classes: give class numbers separated by commas (e.g. 0, 3, 5) or 'all', "
                          f"got {text!r}") from None
    bad = [c for c in classes if not 0 <= c < k]
    if not classes or bad:
        raise ConfigError(f"classes: this model has classes 0 to {k - 1}; {bad or text!r} is not among them")
    return sorted(set(classes))


class ConditionalWindow(ApplyWindow):
    title = "Class-conditional samples (JEM)"
    run_text = "Sample"
    kinds = ("conditional",)

    def __init__(self, session: Any = None, parent: QWidget | None = None):
        super().__init__(session, parent)
        self.classes = QLineEdit("all")
        self.classes.setToolTip("Which classes to sample: 'all', or class numbers such as 0, 3, 5")
        self.form.addRow("Classes", self.classes)
        self.n_per_class = self.add_field("n_per_class", "Per class", spin(1, 64, 8, "Samples drawn for each class "
                                          "(one row of the grid)"))
        self.steps = self.add_field("n_steps", "Steps", spin(1, 5000, 100, "Langevin steps on E(x, y) = -f(x)[y], "
                                    "from uniform noise"))
        self.step_size = self.add_field("step_size", "Step size", step_size_box())
        self.noise = self.add_field("noise", "Langevin noise", noise_box())
        self.frames = self.add_field("frames", "Frames", spin(2, 12, 6, "Snapshots kept for the filmstrip"))
        self.seed = self.add_field("seed", "Seed", spin(0, 2**31 - 1, 0, "Random seed of the starting noise and "
                                                        "the chains"))

        self.grid = TileView("samples: one row per class · caption: the classifier's class and confidence")
        self.grid.setToolTip("Row k was sampled from E(x, k); each caption is the JEM classifier's own reading. "
                             "Orange: it reads the sample as another class.")
        self.film = TileView("first sample of each class over the Langevin steps")
        self.summary = QLabel("Run to draw samples for every class.")
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("font-size: 13px;")
        self.legend = muted("")
        row = QHBoxLayout()
        row.addWidget(self.grid, 3)
        row.addWidget(self.film, 2)
        self.results.addLayout(row, 1)
        self.results.addWidget(self.summary)
        self.results.addWidget(self.legend)
        self.resize(1250, 780)
        self.finish_setup()

    def model_problem(self, opened: OpenedModel) -> str | None:
        if not opened.is_jem:
            return (f"Class-conditional sampling needs a JEM (a classifier with one output per class), but "
                    f"{opened.name} is an energy network with a single output. Pick jem_digits, or a run "
                    "trained with model kind 'jem'.")
        return None

    def make_job_fn(self) -> Callable[[Callable[[Any], None], Any], Any]:
        opened = self.checked_model()
        ref = self.model_picker.reference()
        classes = parse_classes(self.classes.text(), int(opened.num_classes))
        n, steps, frames, seed = self.n_per_class.value(), self.steps.value(), self.frames.value(), self.seed.value()
        step, noise, value_range = optional_value(self.step_size), optional_value(self.noise), opened.value_range

        def fn(report: Callable[[Any], None], stop: Any) -> ClassGrid:
            result = sample_per_class(open_model(ref), n, steps, classes, step, noise, frames=frames, seed=seed,
                                      progress=chain_progress(report, stop))
            return ClassGrid(result, value_range)

        return stoppable(fn)

    def on_done(self, grid: ClassGrid | None) -> None:
        if grid is None:
            return
        self.result = grid
        r = grid.result
        k, n = r.predicted.shape
        samples = r.samples.reshape(k * n, *r.samples.shape[2:])
        match = (r.predicted == r.classes[:, None]).reshape(-1)
        captions = [f"{grid.class_name(int(p))} {c:.2f}" for p, c in zip(r.predicted.reshape(-1),
                                                                          r.confidence.reshape(-1))]
        per_class = r.agreement_per_class()
        titles = [f"{grid.class_name(int(c))}  {100 * a:.0f}%" for c, a in zip(r.classes, per_class)]
        self.grid.show_images(samples, grid.value_range, ncols=n, row_titles=titles, captions=captions,
                              caption_colors=[MATCH_COLOR if m else MISMATCH for m in match],
                              outlined=[i for i, m in enumerate(match) if not m], title_width=1.4)
        f = len(r.steps)
        film = r.filmstrip[:, :, 0].transpose(1, 0, 2, 3, 4).reshape(k * f, *r.samples.shape[2:])
        self.film.show_images(film, grid.value_range, ncols=f, row_titles=[grid.class_name(int(c)) for c in r.classes],
                              captions=[f"step {int(s)}" if i == 0 else str(int(s)) for i, s in enumerate(r.steps)],
                              captions_above=True)
        wrong = int((~match).sum())
        self.summary.setText(f"The classifier agrees with the class drawn for <b>{100 * r.agreement:.1f}%</b> of "
                             f"the {k * n} samples ({wrong} framed in orange); mean confidence "
                             f"{r.confidence.mean():.2f}.")
        self.legend.setText("Row title: the class sampled and how many of its samples the classifier reads as it; "
                            "caption: the classifier's class and its probability.")
        self.save_button.setEnabled(True)

    def save_to(self, folder: str) -> list[str]:
        if self.result is None:
            raise ConfigError("nothing to save yet: sample first")
        r = self.result.result
        k, n = r.predicted.shape
        path = Path(folder) / "conditional_samples.png"
        return [str(save_grid(r.samples.reshape(k * n, *r.samples.shape[2:]), path, self.result.value_range,
                              ncols=n))]
