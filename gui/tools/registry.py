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
    ToolEntry("Experiments", "Learning curve over data size", "gui.tools.learning_curve_window:LearningCurveWindow",
              "Train on growing subsets of the data: is the model data-limited or capacity-limited?"),
    ToolEntry("Experiments", "Hyperparameter search", "gui.tools.search_window:SearchWindow",
              "Grid or random search over config settings, with ASHA early stopping; apply the best trial"),
    ToolEntry("Experiments", "Benchmark suite", "gui.tools.benchmark_window:BenchmarkWindow",
              "Run the fixed benchmark suite, or compare two saved results"),
    ToolEntry("Apply", "Inpaint / denoise", "gui.tools.inpaint_window:InpaintWindow",
              "Paint a region of an image (or add noise) and let the model fill it in by Langevin dynamics"),
    ToolEntry("Apply", "Interpolate", "gui.tools.interpolate_window:InterpolateWindow",
              "Walk between two images (or 2D points) and let Langevin steps pull the path to low energy"),
    ToolEntry("Apply", "Class-conditional samples (JEM)", "gui.tools.conditional_window:ConditionalWindow",
              "Sample every class from a JEM and let its own classifier check each sample"),
    ToolEntry("Apply", "Out-of-distribution detection", "gui.tools.ood_window:OODWindow",
              "Compare the energies of in-distribution and other inputs: histograms, AUROC, 95%-TPR threshold"),
    ToolEntry("Apply", "Compose models", "gui.tools.compose_window:ComposeWindow",
              "Sample from a weighted sum of models' energies: 'A and B', or 'A but not B' with a negative weight"),
    ToolEntry("Apply", "Texture synthesis", "gui.tools.texture_window:TextureWindow",
              "Let a fully convolutional texture model paint a canvas larger than its training crops"),
]
