"""Fuzz every file loader with thousands of mutated inputs and report what happened.

    python tools/fuzz_loaders.py [--n 5000] [--seed 1] [--target NAME ...] [--json]

For each target (see tests/reliability/fuzz.py: IDX plain and gzip, CIFAR binary and
python pickles, .npy/.npz, CSV points, metrics CSV, TOML configs, safetensors models,
PNG/JPEG/BMP/GIF images, run folders with a damaged checkpoint) it writes the valid seed
file and ``n - 1`` mutations of it, loads each in this process under a time limit, and
prints: inputs, loads, refusals by message kind (file names and numbers blanked),
crashes (any exception other than EBMError, with the mutation and traceback) and hangs.
Exit status 1 when anything crashed or hung.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.reliability.fuzz import TIME_LIMIT, fuzz, targets  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="inputs per target (the seed file included)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the mutations")
    parser.add_argument("--target", action="append", help="only these targets (repeatable)")
    parser.add_argument("--limit", type=float, default=TIME_LIMIT, help="seconds per input before it counts as a hang")
    parser.add_argument("--kinds", type=int, default=6, help="refusal kinds to print per target")
    parser.add_argument("--json", action="store_true", help="one JSON object per target on stdout")
    args = parser.parse_args(argv)
    all_targets = targets()
    names = args.target or list(all_targets)
    unknown = sorted(set(names) - set(all_targets))
    if unknown:
        parser.error(f"unknown target(s) {unknown}; known: {', '.join(all_targets)}")
    bad = 0
    total_inputs = 0
    for name in names:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            summary = fuzz(all_targets[name], args.n, args.seed, Path(tmp), limit=args.limit)
        seconds = time.perf_counter() - start
        total_inputs += summary.inputs
        bad += len(summary.crashes) + len(summary.hangs)
        refused = sum(summary.refused.values())
        if args.json:
            print(json.dumps({"target": name, "inputs": summary.inputs, "loaded": summary.ok, "refused": refused,
                              "crashes": len(summary.crashes), "hangs": len(summary.hangs),
                              "slowest_s": round(summary.slowest, 4), "seconds": round(seconds, 1),
                              "refusal_kinds": dict(summary.refused.most_common(args.kinds))}), flush=True)
        else:
            print(f"{name}: {summary.inputs} inputs in {seconds:.1f} s: {summary.ok} loaded, {refused} refused "
                  f"({len(summary.refused)} kinds), crashes: {len(summary.crashes)}, hangs: {len(summary.hangs)}, "
                  f"slowest {summary.slowest * 1000:.0f} ms", flush=True)
            for kind, count in summary.refused.most_common(args.kinds):
                print(f"    {count:6d}  {kind}")
        for mutation, tb in summary.crashes[:5]:
            print(f"CRASH in {name} after {mutation}:\n{tb}", file=sys.stderr)
        for mutation, secs in summary.hangs[:5]:
            print(f"HANG in {name} after {mutation} ({secs:.1f} s)", file=sys.stderr)
    print(f"total: {total_inputs} inputs over {len(names)} targets, crashes + hangs: {bad}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
