"""Does a long run keep its memory flat? Train presets for thousands of iterations and watch RSS.

    python tools/memory_soak.py [--iterations-2d 5000] [--iterations-image 2000] [--every 250]
                                [--preset NAME ...]

Each preset trains in this process, into a temporary run folder (checkpoints, evaluations and
samples as the preset asks). Every ``--every`` iterations it prints the resident set size
(VmRSS from /proc/self/status) and, at the end, the least-squares slope of RSS over the second
half of the run (KiB per 1000 iterations) and the growth from the half-way point to the end.
The first half is warm-up: the allocator and the replay buffer reach their working size.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from engine.training.config import load_config  # noqa: E402
from engine.training.trainer import Trainer  # noqa: E402

PRESETS = Path(__file__).resolve().parent.parent / "resources" / "presets"


def rss_bytes() -> int:
    """Resident set size of this process (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def slope_kib_per_1000(its: np.ndarray, rss: np.ndarray) -> float:
    """Least-squares slope of RSS (bytes) against iterations, in KiB per 1000 iterations."""
    if len(its) < 2:
        return float("nan")
    a, _ = np.polyfit(its.astype(np.float64), rss.astype(np.float64), 1)
    return float(a * 1000 / 1024)


def soak(preset: str, iterations: int, every: int, light: bool = False) -> dict:
    config = load_config(PRESETS / f"{preset}.toml").replace(train={"iterations": iterations, "backend": "numpy"})
    if light:  # cheaper iterations, same code paths (buffer, evaluation, checkpoints, samples)
        config = config.replace(sampler={"n_steps": 5}, train={"batch_size": min(config.train.batch_size, 64)})
    its, rss = [], []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"soak-{preset}-") as tmp:
        trainer = Trainer(config, Path(tmp) / "run")
        print(f"{preset}: {iterations} iterations, batch {config.train.batch_size}, "
              f"RSS at start {rss_bytes() / 2**20:.1f} MiB", flush=True)
        for report in trainer.run():
            if report.iteration % every == 0:
                gc.collect()
                its.append(report.iteration)
                rss.append(rss_bytes())
                print(f"  iteration {report.iteration:6d}  RSS {rss[-1] / 2**20:8.1f} MiB  "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
    its_a, rss_a = np.array(its), np.array(rss)
    half = its_a >= its_a[-1] / 2
    result = {
        "preset": preset, "iterations": iterations, "seconds": round(time.perf_counter() - start, 1),
        "rss_first_mib": round(rss_a[0] / 2**20, 1), "rss_half_mib": round(rss_a[half][0] / 2**20, 1),
        "rss_last_mib": round(rss_a[-1] / 2**20, 1), "rss_max_mib": round(rss_a.max() / 2**20, 1),
        "slope_kib_per_1000_it": round(slope_kib_per_1000(its_a[half], rss_a[half]), 1),
        "growth_second_half_mib": round((rss_a[-1] - rss_a[half][0]) / 2**20, 2),
    }
    print(f"{preset}: RSS {result['rss_first_mib']} -> {result['rss_half_mib']} (half) -> "
          f"{result['rss_last_mib']} MiB (max {result['rss_max_mib']}); second half: slope "
          f"{result['slope_kib_per_1000_it']} KiB per 1000 iterations, growth {result['growth_second_half_mib']} MiB; "
          f"{result['seconds']} s", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations-2d", type=int, default=5000)
    parser.add_argument("--iterations-image", type=int, default=2000)
    parser.add_argument("--every", type=int, default=250, help="iterations between RSS readings")
    parser.add_argument("--preset", action="append", help="presets to soak (default: 8gaussians, digits_convnet)")
    parser.add_argument("--light", action="store_true",
                        help="5 sampler steps and batch <= 64: the same code paths, faster iterations")
    args = parser.parse_args(argv)
    for preset in args.preset or ["8gaussians", "digits_convnet"]:
        image = load_config(PRESETS / f"{preset}.toml").data.name.startswith("builtin_")
        soak(preset, args.iterations_image if image else args.iterations_2d, args.every, args.light)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
