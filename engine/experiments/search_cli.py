"""`ebm-studio search`: a hyperparameter search from the command line.

    ebm-studio search CONFIG.toml --space SPACE.toml --out DIR [--method grid|random] [--trials N]
        [--minutes M] [--objective val_nll] [--asha --min-iterations R --eta 3] [--workers W]
        [--ray ADDRESS] [--resume]

One JSON object per finished rung on stdout (the log line without its loss curve);
progress and ETA on stderr, then the trials sorted best first. The best config is
written to DIR/best.toml. Ctrl-C stops cleanly (a second Ctrl-C at once); --resume goes on.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

SETTING_ARGS = ("method", "trials", "minutes", "objective", "asha", "min_iterations", "max_iterations", "eta",
                "seed", "grid_points")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("search", help="hyperparameter search: grid or random, poor trials stopped by ASHA",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("config", nargs="?", help="base experiment config (TOML); may be left out with --resume")
    p.add_argument("--space", help="search space (TOML), e.g. resources/search/8gaussians.toml")
    p.add_argument("--out", required=True, help="search folder: settings, results log, one run folder per trial")
    p.add_argument("--method", choices=["grid", "random"], help="grid: every combination; random (default): "
                   "seeded draws")
    p.add_argument("--trials", type=int, help="number of trials (default: grid: all, random: 10)")
    p.add_argument("--minutes", type=float, help="wall-clock budget of this run (minutes)")
    p.add_argument("--objective", help="metric to optimise (default: val_nll for 2D, val_accuracy for JEM)")
    p.add_argument("--asha", action="store_true", default=None, help="stop poor trials early (successive halving)")
    p.add_argument("--min-iterations", type=int, help="first ASHA rung (default: max / eta^2)")
    p.add_argument("--max-iterations", type=int, help="full budget of a trial (default: train.iterations)")
    p.add_argument("--eta", type=int, help="ASHA: keep the best 1/eta at each rung (default 3)")
    p.add_argument("--seed", type=int, help="random search seed (default 0)")
    p.add_argument("--grid-points", type=int, help="grid values per range (default 3)")
    p.add_argument("--workers", type=int, default=0, help="worker processes (0: run trials in this process)")
    p.add_argument("--ray", metavar="ADDRESS", help="run trials on Ray: 'local', 'auto' or ray://host:port")
    p.add_argument("--resume", action="store_true", help="go on with the search saved in --out")
    p.set_defaults(fn=cmd_search)


def cmd_search(args: argparse.Namespace) -> int:
    from ..errors import ConfigError, EBMError  # noqa: PLC0415 - heavy imports only when the command runs
    from ..training.config import load_config  # noqa: PLC0415
    from .search import BEST_FILE, SEARCH_FILE, Search, SearchSettings  # noqa: PLC0415
    from .space import SearchSpace  # noqa: PLC0415

    given = {name: getattr(args, name) for name in SETTING_ARGS if getattr(args, name) is not None}
    config = load_config(args.config) if args.config else None
    if args.resume and (Path(args.out) / SEARCH_FILE).exists():
        search = Search.open(args.out, trials=given.get("trials"), minutes=given.get("minutes"))
        space = SearchSpace.load(args.space, search.config) if args.space else None
        search.check_same(config, space, given)
    else:
        if config is None or not args.space:
            raise ConfigError("a new search needs a CONFIG file and --space (or --resume for a saved search)")
        search = Search.create(args.out, config, SearchSpace.load(args.space, config), SearchSettings(**given))
    s = search.settings
    asha = f", ASHA rungs {search.rungs}" if s.asha else ""
    print(f"{s.method} search of {', '.join(search.space.keys)}: {s.trials or 'unlimited'} trials, "
          f"objective {s.objective}{asha}", file=sys.stderr)

    stop = threading.Event()
    previous = _stop_on_ctrl_c(stop)
    try:
        results = search.run(workers=args.workers, ray_address=args.ray, stop=stop, progress=_report)
    except KeyboardInterrupt:
        print(f"\naborted; the finished rungs are saved: ebm-studio search --out {args.out} --resume",
              file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    print(results.table(), file=sys.stderr)
    if stop.is_set():
        print(f"stopped; go on with: ebm-studio search --out {args.out} --resume", file=sys.stderr)
    try:
        trial, _ = results.best()
    except EBMError:  # no trial with a finite objective: the table shows why
        return 130 if stop.is_set() else 0
    print(f"best: trial {trial.id} ({s.objective} {trial.value:.4g}); config in {search.folder / BEST_FILE}",
          file=sys.stderr)
    _emit({"best": trial.id, "params": trial.params, "value": trial.value, "config": str(search.folder / BEST_FILE)})
    return 130 if stop.is_set() else 0


def _stop_on_ctrl_c(stop: threading.Event) -> Any:
    """First Ctrl-C: a clean stop (running rungs checkpoint and end); second: the usual KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping (Ctrl-C again to abort)...", file=sys.stderr, flush=True)

    return signal.signal(signal.SIGINT, handler)


def _report(p: Any) -> None:
    rec = p.record
    _emit({k: v for k, v in rec.items() if k != "curve"})
    value = "-" if rec["value"] is None else f"{rec['value']:.4g}"
    total = p.trials_total or "?"
    eta = "--:--" if p.eta_seconds is None else f"{int(p.eta_seconds // 60):02d}:{int(p.eta_seconds % 60):02d}"
    print(f"trial {rec['trial']} rung {rec['rung'] + 1}/{p.n_rungs} it {rec['iteration']}: {rec['status']} "
          f"{rec['objective']} {value}  |  {p.trials_done}/{total} trials done  ETA {eta}",
          file=sys.stderr, flush=True)


def _emit(obj: dict[str, Any]) -> None:
    from ..cli import _emit as emit  # noqa: PLC0415 - the CLI's one JSON-line writer (engine.cli imports this module)

    emit(obj)
