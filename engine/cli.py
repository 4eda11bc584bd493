"""ebm-studio: run experiments headless, from the same TOML files the GUI uses.

    ebm-studio train CONFIG.toml --out RUN_DIR [--resume] [--iterations N]
    ebm-studio sample RUN_DIR [--n 64] [--steps 200] [--out samples.png]
    ebm-studio evaluate RUN_DIR
    ebm-studio export RUN_DIR --format onnx|safetensors --out PATH
    ebm-studio presets

Progress (iteration, it/s, ETA) goes to stderr, one JSON object per
iteration (or per result) to stdout. A bad config or file prints one line
saying what is wrong and exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from .errors import EBMError
from .fileio import json_safe

PRESET_DIR = Path(__file__).resolve().parent.parent / "resources" / "presets"

# Commands that live beside their engine code: each module has register(subparsers),
# which adds its parser(s) with set_defaults(fn=...). Imported only when the parser is built.
COMMAND_MODULES: list[str] = [
    "engine.experiments.learning_curve", "engine.experiments.suite",
    "engine.experiments.search_cli",
    "engine.applications.cli",
    "engine.applications.cli_texture_compose",
]


def _progress(it: int, total: int, start_it: int, started: float, loss: float) -> str:
    done = it - start_it
    elapsed = time.perf_counter() - started
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = (total - it) / rate if rate > 0 else math.inf
    eta_s = "--:--" if not math.isfinite(eta) else f"{int(eta // 60):02d}:{int(eta % 60):02d}"
    width = 24
    filled = int(width * it / max(total, 1))
    return f"\r[{'#' * filled}{'.' * (width - filled)}] {it}/{total}  {rate:.1f} it/s  ETA {eta_s}  loss {loss:+.4f}"


def _emit(obj: dict[str, Any]) -> None:
    """One JSON line on stdout (nan/inf as null, NumPy scalars as numbers)."""
    print(json.dumps(json_safe(obj), allow_nan=False), flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    from .training.config import load_config  # noqa: PLC0415 - heavy imports only when needed
    from .training.trainer import Trainer  # noqa: PLC0415

    config = load_config(args.config)
    if args.iterations is not None:
        config = config.replace(train={"iterations": args.iterations})
    trainer = Trainer(config, run_dir=args.out, resume=args.resume)
    print(f"backend: {trainer.backend_info}", file=sys.stderr)
    total, start_it, started = config.train.iterations, trainer.iteration, time.perf_counter()
    interactive = sys.stderr.isatty()
    last_line = 0.0
    try:
        for report in trainer.run():
            _emit(report.scalars())
            now = time.perf_counter()
            if interactive or now - last_line > 2.0 or report.iteration == total:
                line = _progress(report.iteration, total, start_it, started, report.loss)
                print(line if interactive else line.lstrip("\r"), end="" if interactive else "\n",
                      file=sys.stderr, flush=True)
                last_line = now
    except KeyboardInterrupt:
        print(f"\nstopped at iteration {trainer.iteration}; resume with --resume", file=sys.stderr)
        return 130
    if interactive:
        print(file=sys.stderr)
    print(f"run saved in {args.out}", file=sys.stderr)
    return 0


def _open_run(run_dir: str) -> Any:
    from .training.config import load_config  # noqa: PLC0415
    from .training.trainer import Trainer  # noqa: PLC0415

    path = Path(run_dir)
    if not (path / "config.toml").is_file():
        raise EBMError(f"{path} is not a run folder (no config.toml): train one with 'ebm-studio train'")
    trainer = Trainer(load_config(path / "config.toml"), run_dir=path, resume=True)
    if trainer.iteration == 0:
        raise EBMError(f"{path} holds no checkpoint yet: train it first")
    return trainer


def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np  # noqa: PLC0415

    from . import backend  # noqa: PLC0415
    from .export import save_image_grid, save_samples_npy  # noqa: PLC0415

    trainer = _open_run(args.run)
    lo, hi = trainer.train_set.value_range
    x0 = trainer.rng.uniform(lo, hi, size=(args.n, *trainer.train_set.input_shape)).astype(trainer.dtype)
    result = trainer.sampler.run(trainer.model, x0, trainer.rng, n_steps=args.steps)
    x = backend.to_numpy(result.x)
    out = Path(args.out)
    if out.suffix == ".npy" or x.ndim != 4:
        out = out.with_suffix(".npy")
        save_samples_npy(x, out)
    else:
        save_image_grid(x, out, value_range=(lo, hi))
    _emit({"samples": str(out), "n": int(x.shape[0]), "steps": args.steps,
           "mean_energy": float(np.mean(backend.to_numpy(trainer.model.energy(result.x)))),
           "acceptance": result.acceptance})
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    trainer = _open_run(args.run)
    _emit({"iteration": trainer.iteration, **trainer.evaluate()})
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .models.io import save_model  # noqa: PLC0415
    from .models.jem import JEM  # noqa: PLC0415

    trainer = _open_run(args.run)
    net = trainer.model.net if isinstance(trainer.model, JEM) else trainer.model
    if args.format == "onnx":
        from .export import export_onnx  # noqa: PLC0415

        export_onnx(net, args.out)
    else:
        save_model(args.out, net)
    _emit({"exported": str(args.out), "format": args.format})
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    for path in sorted(PRESET_DIR.glob("*.toml")):
        first = path.read_text(encoding="utf-8").splitlines()[:1]
        about = first[0].lstrip("# ").strip() if first and first[0].startswith("#") else ""
        print(f"{path.stem:28s} {about}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ebm-studio", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train an experiment from a TOML config")
    p.add_argument("config", help="experiment config (TOML); see 'ebm-studio presets'")
    p.add_argument("--out", required=True, help="run folder for checkpoints, model, metrics, samples")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--iterations", type=int, help="override train.iterations")
    p.set_defaults(fn=cmd_train)
    p = sub.add_parser("sample", help="draw samples from a trained run")
    p.add_argument("run", help="run folder")
    p.add_argument("--n", type=int, default=64, help="number of samples")
    p.add_argument("--steps", type=int, default=200, help="sampler steps from noise")
    p.add_argument("--out", default="samples.png", help="PNG grid for images, .npy otherwise")
    p.set_defaults(fn=cmd_sample)
    p = sub.add_parser("evaluate", help="validation metrics of a trained run")
    p.add_argument("run", help="run folder")
    p.set_defaults(fn=cmd_evaluate)
    p = sub.add_parser("export", help="export the model of a run")
    p.add_argument("run", help="run folder")
    p.add_argument("--format", choices=["onnx", "safetensors"], default="onnx")
    p.add_argument("--out", required=True, help="output file")
    p.set_defaults(fn=cmd_export)
    p = sub.add_parser("presets", help="list the built-in experiment presets")
    p.set_defaults(fn=cmd_presets)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except EBMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
