"""Screenshots of the Apply windows after a run, with the shipped models (docs/screenshot_apply_NAME.png).

    QT_QPA_PLATFORM=offscreen python tools/screenshot_apply.py [--only inpaint,ood] [--out DIR] [--quick]

Each window opens with its first preset, gets a few settings (--quick: very short chains, for
checking the layout), runs to the end, and is grabbed with QWidget.grab().
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from screenshots import start, wait  # noqa: E402 - tools/screenshots.py, the folder of this script


def _inpaint(w: Any, quick: bool) -> None:
    w.preset_picker.choose("inpaint_digits")
    w.index.setValue(3)
    w.preset_mask("clear")
    w.brush.setValue(2)
    for col in range(6, 22):  # a painted stroke, as a user would
        w.canvas.stamp(w.canvas.to_image(w.canvas.to_widget(14, col)), True)
    w.canvas.mask_changed.emit()
    w.chains.setValue(4)
    w.steps.setValue(10 if quick else 200)


def _denoise(w: Any, quick: bool) -> None:
    w.preset_picker.choose("denoise_digits")
    w.index.setValue(5)
    if quick:
        w.steps.setValue(4)


def _interpolate(w: Any, quick: bool) -> None:
    if quick:
        w.refine.setValue(3)


def _conditional(w: Any, quick: bool) -> None:
    if quick:
        w.n_per_class.setValue(2)
        w.steps.setValue(5)


def _ood(w: Any, quick: bool) -> None:
    if quick:
        w.n.setValue(100)


TEXTURE_MODEL: list[str] = []  # --texture-model


def _texture(w: Any, quick: bool) -> None:
    if TEXTURE_MODEL:
        w.model_picker.set_value(TEXTURE_MODEL[0])
    if quick:
        w.steps.setValue(5)


def _compose(w: Any, quick: bool) -> None:
    if quick:
        w.steps.setValue(20)
        w.n.setValue(300)


WINDOWS = {
    "inpaint": ("gui.tools.inpaint_window:InpaintWindow", _inpaint),
    "denoise": ("gui.tools.inpaint_window:InpaintWindow", _denoise),
    "interpolate": ("gui.tools.interpolate_window:InterpolateWindow", _interpolate),
    "conditional": ("gui.tools.conditional_window:ConditionalWindow", _conditional),
    "ood": ("gui.tools.ood_window:OODWindow", _ood),
    "texture": ("gui.tools.texture_window:TextureWindow", _texture),
    "compose": ("gui.tools.compose_window:ComposeWindow", _compose),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated window names (default: all)")
    parser.add_argument("--out", default=str(ROOT / "docs"))
    parser.add_argument("--quick", action="store_true", help="very short chains (layout checks)")
    parser.add_argument("--texture-model", default="", help="a texture model (run folder or file) when none is "
                        "shipped")
    args = parser.parse_args()
    if args.texture_model:
        TEXTURE_MODEL.append(args.texture_model)
    app, out = start(args.out)
    import importlib

    from gui.session import Session

    session = Session()
    session.run_dir = tempfile.mkdtemp(prefix="ebm-screenshot-run-")  # a run with no model saved yet
    names = [n for n in args.only.split(",") if n] or list(WINDOWS)
    for name in names:
        target, setup = WINDOWS[name]
        module, cls = target.split(":")
        window = getattr(importlib.import_module(module), cls)(session)
        window.show()
        app.processEvents()
        setup(window, args.quick)
        started = time.monotonic()
        window.start()
        wait(app, lambda w=window: w.job is None or (w.run_button.isEnabled() and not w.running))
        for _ in range(20):
            app.processEvents()
        path = out / f"screenshot_apply_{name}.png"
        window.grab().save(str(path))
        print(f"{name}: {time.monotonic() - started:.1f} s, status {window.status.text()!r} -> {path}")
        window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
