"""CLI subcommands for texture synthesis and composed energies (registered in engine.cli.COMMAND_MODULES).

    ebm-studio texture [--preset texture_builtin | --model REF] [--size 96 | 96x128] [--n 1]
                       [--steps N] [--seed S] --out DIR
    ebm-studio compose [--preset compose_product | --model A:1.0 --model B:-0.5 ...] [--n 2000]
                       [--steps N] [--step-size S] [--sampler langevin|mala] [--seed S] --out DIR

texture writes DIR/texture.png (the canvases), DIR/filmstrip.png (chain 0 from noise to
the end) and DIR/texture.npy; compose writes DIR/samples.npy and, for 2D models,
DIR/samples.png (a scatter) and DIR/density.png (the composed density; up is +y), or a
PNG grid of image samples. One JSON line of figures goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, EBMError
from .cli import seed_arg

DEFAULT_TEXTURE_PRESET = "texture_builtin"
DEFAULT_COMPOSE_PRESET = "compose_product"


def register(sub: Any) -> None:
    """Add 'texture' and 'compose' to the ``ebm-studio`` parser's subparsers."""
    p = sub.add_parser("texture", help="synthesise a large texture with a fully convolutional energy model")
    p.add_argument("--preset", help=f"application preset (default {DEFAULT_TEXTURE_PRESET}); "
                                    "see 'ebm-studio applications'")
    p.add_argument("--model", help="a shipped model name, a run folder or a .safetensors file (overrides the preset)")
    p.add_argument("--size", type=_canvas_size, help="canvas size: 96 or 96x128 (height x width)")
    p.add_argument("--n", type=int, help="number of canvases")
    p.add_argument("--steps", dest="n_steps", type=int, help="Langevin steps from noise")
    p.add_argument("--step-size", dest="step_size", type=float, help="Langevin step size")
    p.add_argument("--frames", dest="n_frames", type=int, help="snapshots in the filmstrip")
    p.add_argument("--seed", type=seed_arg)
    p.add_argument("--out", required=True, help="folder for the PNGs and the .npy")
    p.set_defaults(fn=cmd_texture)
    p = sub.add_parser("compose", help="sample a weighted sum of energy models (A and B; A but not B)")
    p.add_argument("--preset", help=f"application preset (default {DEFAULT_COMPOSE_PRESET} without --model)")
    p.add_argument("--model", action="append", metavar="REF[:WEIGHT]",
                   help="a model and its weight (default 1), repeat for each; replaces the preset's models")
    p.add_argument("--n", type=int, help="number of samples")
    p.add_argument("--steps", dest="n_steps", type=int, help="sampler steps from uniform starts")
    p.add_argument("--step-size", dest="step_size", type=float, help="sampler step size")
    p.add_argument("--sampler", choices=["langevin", "mala"])
    p.add_argument("--seed", type=seed_arg)
    p.add_argument("--out", required=True, help="folder for samples.npy and the PNGs")
    p.set_defaults(fn=cmd_compose)


def _canvas_size(text: str) -> list[int]:
    try:
        parts = [int(v) for v in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"size must be N or HxW in pixels, got {text!r}")
    return parts * 2 if len(parts) == 1 else parts


def _params(args: argparse.Namespace, keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def _out_dir(path: str) -> Path:
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EBMError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    return out


def _emit(obj: dict[str, Any]) -> None:
    from ..cli import _emit as emit  # noqa: PLC0415 - the CLI's one JSON-line writer (engine.cli imports this module)

    emit(obj)


# --- texture -------------------------------------------------------------------------------------


def cmd_texture(args: argparse.Namespace) -> int:
    from ..export import save_image_grid, save_samples_npy  # noqa: PLC0415 - heavy imports only when run
    from .models import open_model  # noqa: PLC0415
    from .preset import load_application, run_application  # noqa: PLC0415
    from .texture import texture_distance  # noqa: PLC0415

    preset = load_application(args.preset or DEFAULT_TEXTURE_PRESET)
    if preset.kind != "texture":
        raise ConfigError(f"preset {preset.name} is a {preset.kind} application, not texture; "
                          f"run 'ebm-studio {preset.kind}' or pick another preset")
    opened = open_model(args.model or preset.model or "")
    overrides = _params(args, ("size", "n", "n_steps", "step_size", "n_frames", "seed"))
    print(f"synthesising with {opened.name} ...", file=sys.stderr, flush=True)
    result = run_application(preset, model=opened, **overrides)
    out = _out_dir(args.out)
    vr = tuple(result.settings["clamp"])
    files = {"texture": str(save_image_grid(result.canvas, out / "texture.png", value_range=vr, scale=2)),
             "filmstrip": str(save_image_grid(result.frames, out / "filmstrip.png", nrow=len(result.frames),
                                              value_range=vr)),
             "npy": str(save_samples_npy(result.canvas, out / "texture.npy"))}
    n, _, h, w = result.canvas.shape
    summary: dict[str, Any] = {"application": "texture", "preset": preset.name, "model": opened.name,
                               "size": [h, w], "n": n, "steps": result.settings["n_steps"],
                               "energy_start": float(result.energies[0]), "energy_end": float(result.energies[-1])}
    if opened.dataset == "builtin_texture":  # how close to the training texture, from the noise it started at
        from ..data.builtin_texture import texture_image  # noqa: PLC0415

        crop = min(32, h, w)
        start = texture_distance(result.frames[:1], texture_image(), crop=crop)
        end = texture_distance(result.canvas, texture_image(), crop=crop)
        summary.update({f"{k}_distance_start": v for k, v in start.items()})
        summary.update({f"{k}_distance_end": v for k, v in end.items()})
    _emit({**summary, "files": files})
    return 0


# --- compose -------------------------------------------------------------------------------------


def _weighted(text: str) -> tuple[str, float]:
    """"REF:WEIGHT" -> (REF, WEIGHT); a plain REF has weight 1 (a ':' not followed by a number is part of REF)."""
    ref, sep, tail = text.rpartition(":")
    if sep:
        try:
            return ref, float(tail)
        except ValueError:
            pass
    return text, 1.0


def cmd_compose(args: argparse.Namespace) -> int:
    from ..export import save_image_grid, save_samples_npy  # noqa: PLC0415
    from .compose import compose, density_on_grid, sample_composed  # noqa: PLC0415
    from .models import open_model  # noqa: PLC0415
    from .preset import ApplicationPreset, load_application  # noqa: PLC0415

    if args.model:
        preset = load_application(args.preset) if args.preset else ApplicationPreset("compose", None, name="")
        refs = [_weighted(text) for text in args.model]
    else:
        preset = load_application(args.preset or DEFAULT_COMPOSE_PRESET)
        items = preset.model if isinstance(preset.model, list) else [{"model": preset.model or "", "weight": 1.0}]
        refs = [(item["model"], float(item.get("weight", 1.0))) for item in items]
    if preset.kind != "compose":
        raise ConfigError(f"preset {preset.name} is a {preset.kind} application, not compose; "
                          f"run 'ebm-studio {preset.kind}' or pick another preset")
    combo = compose([(open_model(ref), w) for ref, w in refs])
    params = {**preset.params, **_params(args, ("n", "n_steps", "step_size", "sampler", "seed"))}
    print(f"sampling {combo.describe()} ...", file=sys.stderr, flush=True)
    result = sample_composed(combo, **params)
    out = _out_dir(args.out)
    files = {"samples": str(save_samples_npy(result.x, out / "samples.npy"))}
    lo, hi = combo.value_range
    if combo.input_shape == (2,):
        files["scatter"] = str(_write_png(out / "samples.png", scatter_pixels(result.x, (lo, hi, lo, hi))))
        _, _, p = density_on_grid(combo, resolution=300)
        files["density"] = str(_write_png(out / "density.png", density_pixels(p)))
    elif len(combo.input_shape) == 3 and combo.input_shape[0] in (1, 3):
        files["grid"] = str(save_image_grid(result.x[:64], out / "samples.png", value_range=(lo, hi), scale=2))
    _emit({"application": "compose", "preset": preset.name or None, "models": combo.names,
           "weights": combo.weights, "energy": combo.describe(), "n": int(result.x.shape[0]),
           "steps": result.settings["n_steps"], "sampler": result.settings["sampler"],
           "energy_start": float(result.energies[0]), "energy_end": float(result.energies[-1]),
           "acceptance": result.acceptance, "files": files})
    return 0


def scatter_pixels(x: np.ndarray, box: tuple[float, float, float, float], size: int = 400) -> np.ndarray:
    """Points (N, 2) as a (size, size) uint8 grey picture: darker where more points fall; up is +y."""
    x0, x1, y0, y1 = box
    counts, _, _ = np.histogram2d(x[:, 1], x[:, 0], bins=size, range=[[y0, y1], [x0, x1]])
    counts = counts[::-1]  # row 0 is the top: the largest y
    full = float(np.percentile(counts[counts > 0], 95)) if counts.any() else 1.0
    ink = np.clip(counts / max(1.0, full), 0.0, 1.0)
    return (255 - 215 * np.sqrt(ink)).astype(np.uint8)  # one point is visible, crowds are near black


def density_pixels(p: np.ndarray) -> np.ndarray:
    """A grid density p[i, j] (row i = y, increasing) as a uint8 picture, up is +y, dark = likely."""
    scaled = p / p.max() if p.max() > 0 else p
    return (255 * (1.0 - np.sqrt(scaled[::-1]))).astype(np.uint8)


def _write_png(path: Path, pixels: np.ndarray) -> Path:
    from ..export import encode_png  # noqa: PLC0415
    from ..fileio import write_file  # noqa: PLC0415

    return write_file(path, encode_png(pixels), "PNG picture", EBMError)
