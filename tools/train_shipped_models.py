"""Train the small models shipped with EBM Studio (resources/models/), from their presets.

    python tools/train_shipped_models.py digits_convnet jem_digits [--iterations N] [--out DIR]

For each NAME, trains resources/presets/NAME.toml on the CPU and writes
DIR/NAME.safetensors (the final network, engine.models.io format) and
DIR/NAME.json: {"preset", "iterations", "metrics" (validation metrics at the end),
"seconds", "date", "config" (the experiment config as a table)}. The applications
(engine.applications) open these by name. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.experiments.trial import train_and_evaluate  # noqa: E402
from engine.fileio import atomic_write_text  # noqa: E402
from engine.models.io import save_model  # noqa: E402
from engine.models.jem import JEM  # noqa: E402
from engine.training.config import load_config  # noqa: E402
from engine.training.report import Report  # noqa: E402
from engine.training.trainer import Trainer  # noqa: E402

PRESETS = ROOT / "resources" / "presets"
MODELS = ROOT / "resources" / "models"


def train_one(name: str, out_dir: Path, iterations: int | None = None) -> dict:
    """Train preset ``name``; write out_dir/name.safetensors and name.json; return the JSON record."""
    config = load_config(PRESETS / f"{name}.toml")
    if iterations is not None:
        config = config.replace(train={"iterations": iterations})
    total = config.train.iterations
    trainer = Trainer(config)
    started = time.perf_counter()

    def progress(report: Report) -> None:
        if report.iteration % 25 == 0 or report.iteration == total or report.message:
            rate = report.iteration / max(time.perf_counter() - started, 1e-9)
            extra = " ".join(f"{k}={v:.4g}" for k, v in report.scalars().items() if k.startswith("val_"))
            print(f"{name}: {report.iteration}/{total} {rate:.2f} it/s loss {report.loss:+.4f} {extra} "
                  f"{report.message}", file=sys.stderr, flush=True)

    result = train_and_evaluate(config, trainer=trainer, on_report=progress)
    if result.diverged:
        raise SystemExit(f"{name}: {result.diverged}")
    net = trainer.model.net if isinstance(trainer.model, JEM) else trainer.model
    out_dir.mkdir(parents=True, exist_ok=True)
    save_model(out_dir / f"{name}.safetensors", net)
    record = {"preset": name, "kind": config.model.kind, "iterations": result.iterations,
              "metrics": result.metrics, "seconds": round(result.metrics.get("seconds", 0.0), 1),
              "date": _dt.date.today().isoformat(), "config": config.to_dict()}
    atomic_write_text(out_dir / f"{name}.json", json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="+", help="preset names in resources/presets/")
    parser.add_argument("--iterations", type=int, help="override train.iterations (for a quick try)")
    parser.add_argument("--out", default=str(MODELS), help="output folder (default: resources/models)")
    args = parser.parse_args(argv)
    missing = [n for n in args.names if not (PRESETS / f"{n}.toml").is_file()]
    if missing:
        known = sorted(p.stem for p in PRESETS.glob("*.toml"))
        parser.error(f"no preset(s) {missing}; known: {', '.join(known)}")
    for name in args.names:
        record = train_one(name, Path(args.out), args.iterations)
        size = (Path(args.out) / f"{name}.safetensors").stat().st_size
        print(json.dumps({"model": name, "bytes": size, "iterations": record["iterations"],
                          **{k: v for k, v in record["metrics"].items()}}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
