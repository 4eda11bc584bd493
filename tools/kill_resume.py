"""Kill ``ebm-studio train`` with SIGKILL many times at random moments and check the run survives.

    python tools/kill_resume.py [--kills 200] [--iterations 2000] [--seed 1]

After each kill: every checkpoint file is complete, the newest is no older than the last
iteration the process reported, temporary files do not pile up. At the end the run is resumed
to its last iteration and compared, tensor by tensor and curve by curve, with the same run
never interrupted. Prints the figures; exit status 1 on any problem.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

from engine.metrics import CurveLog  # noqa: E402
from engine.training.config import load_config  # noqa: E402
from engine.training.trainer import Trainer  # noqa: E402
from tests.reliability.killing import check_folder, finish, kill_many, write_config  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-delay", type=float, default=0.02, help="s after the chosen report before the kill")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kill-resume-") as tmp:
        folder = Path(tmp)
        config_path = write_config(folder, args.iterations)
        run = folder / "run"
        log = kill_many(config_path, run, args.kills, args.seed, args.max_delay)
        print(f"{log.kills} kills ({log.finished_before_kill} runs finished first) in "
              f"{time.perf_counter() - start:.0f} s; newest checkpoint after the last kill: {log.newest[-1]} "
              f"of {args.iterations}")
        problems = list(log.problems)
        done = finish(config_path, run)
        if done.returncode != 0:
            problems.append(f"the final --resume failed: {done.stderr.decode()[-500:]}")
        problems += check_folder(run, args.iterations)[1]
        whole = Trainer(load_config(config_path), folder / "whole")
        list(whole.run())
        a, b = load_file(run / "model.safetensors"), load_file(folder / "whole" / "model.safetensors")
        differing = [k for k in b if k not in a or not np.array_equal(a[k], b[k])]
        if differing:
            problems.append(f"tensors differ from the uninterrupted run: {differing}")
        c, r = CurveLog.read_csv(run / "metrics.csv"), CurveLog.read_csv(folder / "whole" / "metrics.csv")
        bad_curves = [k for k in r.columns if k != "seconds"
                      and not np.array_equal(c.series(k)[1], r.series(k)[1])]
        if bad_curves:
            problems.append(f"curves differ from the uninterrupted run: {bad_curves}")
    for p in problems:
        print("PROBLEM:", p)
    print(f"problems: {len(problems)}; resumed result {'equals' if not differing and not bad_curves else 'differs from'} "
          f"the uninterrupted run; {time.perf_counter() - start:.0f} s in all")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
