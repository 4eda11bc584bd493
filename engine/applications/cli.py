"""CLI subcommands of the applications (registered through engine.cli.COMMAND_MODULES).

    ebm-studio inpaint     [--preset inpaint_digits | --model REF] [--data NAME | --images FILE.npy]
                           [--mask center] [--steps N] --out DIR
    ebm-studio denoise     [--preset denoise_digits | --model REF] [--noise-std 0.4] --out DIR
    ebm-studio interpolate [--preset interpolate_digits | --model REF] [--pairs 4] [--points 10] --out DIR
    ebm-studio conditional [--preset conditional_digits | --model REF] [--n-per-class 8] --out DIR
    ebm-studio ood         [--preset ood_digits_vs_shapes | --model REF] [--in-data A] [--out-data B] --out DIR
    ebm-studio applications            # the application presets

Without --preset a command starts from its standard preset; --model replaces the
preset's model and the other flags its params. Pictures go to DIR as PNG (images)
or .npy (other inputs); one JSON line with the figures goes to stdout.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, EBMError
from ..export import save_image_grid, save_samples_npy
from ..fileio import atomic_write_text, write_file

DEFAULT_PRESETS = {"inpaint": "inpaint_digits", "denoise": "denoise_digits", "interpolate": "interpolate_digits",
                   "conditional": "conditional_digits", "ood": "ood_digits_vs_shapes"}


def register(sub: Any) -> None:
    """Add the application subcommands to the ``ebm-studio`` parser's subparsers."""
    p = _command(sub, "inpaint", "fill in masked pixels of images with a trained model")
    _data_flags(p)
    p.add_argument("--mask", help="center, left, right, top, bottom, random or box")
    p.add_argument("--fraction", type=float, help="mask size: side fraction (center), share of rows/columns, "
                                                  "or pixel probability (random)")
    p.add_argument("--box", type=int, nargs=4, metavar=("TOP", "LEFT", "H", "W"), help="a box mask in pixels")
    _chain_flags(p)
    p = _command(sub, "denoise", "remove Gaussian noise from images by a short Langevin run")
    _data_flags(p)
    p.add_argument("--noise-std", dest="noise_std", type=float, help="std of the added noise")
    _chain_flags(p)
    p = _command(sub, "interpolate", "paths between pairs of inputs, refined by Langevin steps")
    p.add_argument("--data", help="inputs: builtin_digits, a toy 2D set, noise, or a file")
    p.add_argument("--pairs", type=int, help="number of paths")
    p.add_argument("--points", dest="n", type=int, help="points per path (with both ends)")
    p.add_argument("--refine-steps", dest="refine_steps", type=int, help="Langevin steps per point (0: none)")
    p.add_argument("--step-size", dest="step_size", type=float, help="Langevin step size")
    p.add_argument("--seed", type=seed_arg)
    p = _command(sub, "conditional", "class-conditional samples from a JEM, checked by its classifier")
    p.add_argument("--n-per-class", dest="n_per_class", type=int, help="samples per class")
    p.add_argument("--classes", type=int, nargs="+", help="only these classes")
    _chain_flags(p)
    p = _command(sub, "ood", "tell in-distribution from out-of-distribution inputs by energy")
    p.add_argument("--in-data", dest="in_data", help="in-distribution inputs (name or file)")
    p.add_argument("--out-data", dest="out_data", help="out-of-distribution inputs: builtin_shapes, noise, a file")
    p.add_argument("--n", type=int, help="inputs of each set")
    p.add_argument("--bins", type=int, help="histogram bins")
    p.add_argument("--seed", type=seed_arg)
    p = sub.add_parser("applications", help="list the application presets")
    p.set_defaults(fn=cmd_applications)


def _command(sub: Any, kind: str, help_text: str) -> argparse.ArgumentParser:
    p = sub.add_parser(kind, help=help_text)
    p.add_argument("--preset", help=f"application preset (default {DEFAULT_PRESETS[kind]}); "
                                    f"see 'ebm-studio applications'")
    p.add_argument("--model", help="a shipped model name, a run folder or a .safetensors file (overrides the preset)")
    p.add_argument("--out", required=True, help="folder for the pictures and arrays")
    p.set_defaults(fn=_handler(kind))
    return p


def _data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="inputs: builtin_digits, builtin_shapes, or a file/folder")
    p.add_argument("--images", dest="data", help="an .npy file of images (N, C, H, W) (same as --data FILE)")
    p.add_argument("--n", type=int, help="number of images")


def _chain_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", dest="n_steps", type=int, help="Langevin steps")
    p.add_argument("--step-size", dest="step_size", type=float, help="Langevin step size")
    p.add_argument("--frames", type=int, help="snapshots in the filmstrip")
    p.add_argument("--seed", type=seed_arg)


def seed_arg(text: str) -> int:
    """argparse type of --seed: a whole number >= 0 (NumPy's generators refuse negative seeds)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"the seed must be a whole number >= 0, got {text!r}")
    return value


_NOT_PARAMS = {"command", "fn", "preset", "model", "out"}


def _handler(kind: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        from .models import open_model  # noqa: PLC0415 - heavy imports only when a command runs
        from .preset import load_application, run_application  # noqa: PLC0415

        preset = load_application(args.preset or DEFAULT_PRESETS[kind])
        if preset.kind != kind:
            raise ConfigError(f"preset {preset.name} is a {preset.kind} application, not {kind}; "
                              f"run 'ebm-studio {preset.kind}' or pick another preset")
        opened = open_model(args.model if args.model else preset.model)
        overrides = {k: v for k, v in vars(args).items() if k not in _NOT_PARAMS and v is not None}
        result = run_application(preset, model=opened, **overrides)
        out = Path(args.out)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EBMError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
        summary = WRITERS[kind](result, opened, out)
        from ..cli import _emit  # noqa: PLC0415 - the CLI's one JSON-line writer (NaN as null)

        _emit({"application": kind, "preset": preset.name, "model": opened.name, **summary})
        return 0

    return handler


def cmd_applications(args: argparse.Namespace) -> int:
    from .preset import list_applications  # noqa: PLC0415

    for p in list_applications():
        model = p.model if isinstance(p.model, str) or p.model is None else "+".join(m["model"] for m in p.model)
        print(f"{p.name:28s} {p.kind:12s} {model or '-':18s} {p.description}")
    return 0


# --- writers: result -> files in out + a summary dict ----------------------------------------------


def _pictures(x: np.ndarray, path: Path, nrow: int, value_range: tuple[float, float]) -> str:
    """Images (N, C, H, W) as a PNG grid with nrow per row, anything else as .npy; returns the file name."""
    if x.ndim == 4 and x.shape[1] in (1, 3):
        return str(save_image_grid(x, path.with_suffix(".png"), nrow=nrow, value_range=value_range, scale=2))
    return str(save_samples_npy(x, path.with_suffix(".npy")))


def _write_restoration(run: Any, opened: Any, out: Path) -> dict[str, Any]:
    n = run.truth.shape[0]
    vr = opened.value_range
    grid = np.concatenate([run.truth, run.corrupted, run.result.x])  # rows: original, corrupted, restored
    strip = run.result.filmstrip.swapaxes(0, 1)  # one row per image, one column per frame
    files = {"grid": _pictures(grid, out / "grid", n, vr),
             "filmstrip": _pictures(strip.reshape(-1, *strip.shape[2:]), out / "filmstrip", strip.shape[1], vr),
             "result": str(save_samples_npy(run.result.x, out / "result.npy"))}
    e = run.result.energies.mean(axis=1)
    return {"n": n, "mse_before": run.mse_before, "mse_after": run.mse_after, "steps": int(run.result.steps[-1]),
            "energy_start": float(e[0]), "energy_end": float(e[-1]), "files": files}


def _write_interpolation(result: Any, opened: Any, out: Path) -> dict[str, Any]:
    p, n = result.linear.shape[:2]
    rows = np.stack([result.linear, result.path], axis=1).reshape(-1, *result.linear.shape[2:])
    files = {"paths": _pictures(rows, out / "paths", n, opened.value_range)}
    csv = "pair,t,energy_linear,energy_refined\n" + "".join(
        f"{i},{result.t[j]:.6g},{result.energy_linear[i, j]:.8g},{result.energy_path[i, j]:.8g}\n"
        for i in range(p) for j in range(n))
    atomic_write_text(out / "energies.csv", csv)
    files["energies"] = str(out / "energies.csv")
    return {"pairs": p, "points": n, "mean_energy_linear": float(result.energy_linear.mean()),
            "mean_energy_refined": float(result.energy_path.mean()),
            "max_energy_linear": result.energy_linear.max(axis=1).tolist(),
            "max_energy_refined": result.energy_path.max(axis=1).tolist(), "files": files}


def _write_conditional(result: Any, opened: Any, out: Path) -> dict[str, Any]:
    k, n = result.samples.shape[:2]
    files = {"samples": _pictures(result.samples.reshape(k * n, *result.samples.shape[2:]), out / "samples", n,
                                  opened.value_range)}
    names = result.class_names
    per_class = {(names[c] if names else str(c)): float(a)
                 for c, a in zip(result.classes.tolist(), result.agreement_per_class())}
    return {"classes": k, "n_per_class": n, "agreement": result.agreement, "chance": 1.0 / opened.num_classes,
            "agreement_per_class": per_class, "mean_confidence": float(result.confidence.mean()), "files": files}


def _write_ood(result: Any, opened: Any, out: Path) -> dict[str, Any]:
    csv = "bin_low,bin_high,count_in,count_out\n" + "".join(
        f"{lo:.8g},{hi:.8g},{a},{b}\n" for lo, hi, a, b in result.histogram_rows())
    atomic_write_text(out / "histogram.csv", csv)
    files = {"histogram": str(out / "histogram.csv")}
    png = histogram_png(result)
    if png is not None:
        files["plot"] = str(write_file(out / "histogram.png", png, "histogram picture", EBMError))
    return {"in": result.name_in, "out": result.name_out, "n_in": int(result.energy_in.size),
            "n_out": int(result.energy_out.size), "auroc": result.auroc, "threshold_95tpr": result.threshold,
            "tpr": result.tpr, "fpr_at_95tpr": result.fpr, "mean_energy_in": float(result.energy_in.mean()),
            "mean_energy_out": float(result.energy_out.mean()), "files": files}


def histogram_png(result: Any, width: int = 480, height: int = 240) -> bytes | None:
    """Both histograms as overlaid translucent bars (in: blue, out: orange) with the 95% TPR
    threshold as a grey line; PNG bytes, or None without Pillow."""
    try:
        from PIL import Image, ImageDraw  # noqa: PLC0415 - optional
    except ImportError:
        return None
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img, "RGBA")
    margin = 10
    edges = result.bin_edges
    span = float(edges[-1] - edges[0]) or 1.0
    top = max(int(result.hist_in.max()), int(result.hist_out.max()), 1)

    def px(e: float) -> float:
        return margin + (e - edges[0]) / span * (width - 2 * margin)

    for counts, colour in ((result.hist_in, (31, 119, 180, 140)), (result.hist_out, (255, 127, 14, 140))):
        for i, c in enumerate(counts):
            if c:
                y = height - margin - c / top * (height - 2 * margin)
                draw.rectangle([px(edges[i]), y, px(edges[i + 1]), height - margin], fill=colour)
    x = px(result.threshold)
    draw.line([x, margin, x, height - margin], fill=(90, 90, 90, 255), width=1)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


WRITERS: dict[str, Callable[[Any, Any, Path], dict[str, Any]]] = {
    "inpaint": _write_restoration, "denoise": _write_restoration, "interpolate": _write_interpolation,
    "conditional": _write_conditional, "ood": _write_ood}
