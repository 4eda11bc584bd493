#!/usr/bin/env bash
# The GPU checks in one command, for a machine with an NVIDIA GPU (fits a 10-minute session):
#   1. CuPy (the gpu extra) if it is missing and pip can get it;
#   2. the kernel tests (emulation, NVRTC, fallback, GPU parity) and every other `pytest -m gpu` test;
#   3. the benchmark W0, W1, W2 on CuPy against PyTorch eager on CUDA, with and without the engine's kernels;
#   4. a summary with the device name and the ratios against the targets (W0, W1 >= 1.5; W2 >= 1.0).
#
#   bash tools/gpu_check.sh            # outputs in $OUT, or ./gpu_out
#   PYTHON=python3.12 REPEATS=5 bash tools/gpu_check.sh
#
# Runs from the repository root without installing the project (PYTHONPATH=.), so the GUI's
# dependencies are not needed. Every step has a time limit; a failing step does not stop the others.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-./gpu_out}
PY=${PYTHON:-python3}
REPEATS=${REPEATS:-5}
mkdir -p "$OUT"
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
status=0
step() { echo; echo "== $*"; }

step "environment" | tee "$OUT/env.txt"
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi failed"
    $PY --version 2>&1
    $PY - <<'EOF' 2>&1
import importlib
for name in ("numpy", "cupy", "torch"):
    try:
        m = importlib.import_module(name)
        extra = ""
        if name == "cupy":
            extra = f" (CUDA runtime {m.cuda.runtime.runtimeGetVersion()})"
        if name == "torch":
            extra = f" (CUDA {m.version.cuda}, available: {m.cuda.is_available()})"
        print(f"{name} {m.__version__}{extra}")
    except Exception as exc:
        print(f"{name}: not usable ({type(exc).__name__}: {exc})")
EOF
} 2>&1 | tee -a "$OUT/env.txt"

if ! $PY -c "import cupy" 2>/dev/null; then
    step "installing the gpu extra (cupy)" | tee -a "$OUT/env.txt"
    timeout 300 $PY -m pip install "cupy-cuda12x" 2>&1 | tail -3 | tee -a "$OUT/env.txt"
    $PY -c "import cupy" 2>/dev/null \
        || echo "could not install cupy: the GPU tests will be skipped" | tee -a "$OUT/env.txt"
fi

step "backend" | tee -a "$OUT/env.txt"
EBM_BACKEND=cupy timeout 120 $PY -c "from engine import backend, kernels; print(backend.info()); print('kernels:', kernels.status())" \
    2>&1 | tee -a "$OUT/env.txt"
on_gpu=0
grep -q "^cupy on " "$OUT/env.txt" && on_gpu=1

step "kernel tests (emulation, NVRTC, fallback, GPU parity)"
timeout -k 10 180 $PY -m pytest -q -rs -p no:cacheprovider tests/engine/kernels > "$OUT/pytest_kernels.txt" 2>&1 \
    || status=1
tail -n 25 "$OUT/pytest_kernels.txt"

step "every other GPU test (pytest -m gpu)"
timeout -k 10 120 $PY -m pytest -q -rs -p no:cacheprovider -m gpu --continue-on-collection-errors \
    tests/engine --ignore=tests/engine/kernels > "$OUT/pytest_gpu.txt" 2>&1 || status=1
tail -n 15 "$OUT/pytest_gpu.txt"

if [ "$on_gpu" = 1 ]; then
    step "benchmark on CuPy with the engine's kernels (repeats $REPEATS)"
    EBM_BACKEND=cupy timeout -k 10 200 $PY -m engine.bench --json --repeats "$REPEATS" > "$OUT/bench.json" \
        || status=1
    cat "$OUT/bench.json"

    step "benchmark on CuPy without them (EBM_KERNELS=0, repeats 3)"
    EBM_BACKEND=cupy EBM_KERNELS=0 timeout -k 10 120 $PY -m engine.bench --json --repeats 3 \
        > "$OUT/bench_nokernels.json" || status=1
    cat "$OUT/bench_nokernels.json"
else
    step "no usable GPU (see the backend line above): benchmark skipped; the CPU one is python -m engine.bench"
    status=1
fi

step "summary" | tee "$OUT/summary.md"
$PY - "$OUT" <<'EOF' 2>&1 | tee -a "$OUT/summary.md"
import json, pathlib, re, sys

out = pathlib.Path(sys.argv[1])
TARGET = {"W0": 1.5, "W1": 1.5, "W2": 1.0}


def rows(name):
    path = out / name
    if not path.exists():
        return {}
    found = {}
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        found[row.get("workload")] = row
    return found


def tests(name):
    path = out / name
    text = path.read_text() if path.exists() else ""
    last = [l for l in text.splitlines() if re.search(r"\b(passed|failed|skipped|error)", l)]
    return last[-1].strip("= ") if last else "no result (see the file)"


on, off = rows("bench.json"), rows("bench_nokernels.json")
env = (out / "env.txt").read_text() if (out / "env.txt").exists() else ""
chosen = [l for l in env.splitlines() if l.startswith(("cupy on ", "numpy on "))]
device = next((r.get("device") for r in on.values() if r.get("device")), "no benchmark rows")
print(f"device: {device}")
print(f"backend: {chosen[-1] if chosen else 'unknown (see env.txt)'}")
print(f"kernel tests: {tests('pytest_kernels.txt')}")
print(f"other GPU tests: {tests('pytest_gpu.txt')}")
print()
print("| workload | backend | ours s/iter | torch s/iter | ratio | target | ours ms/step | torch ms/step "
      "| no-kernels s/iter | pool growth (B) |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")


def f(v, scale=1.0, spec=".4f"):
    return "n/a" if v is None else format(v * scale, spec)


for name in ("W0", "W1", "W2"):
    r, r0 = on.get(name, {}), off.get(name, {})
    if "error" in r or not r:
        print(f"| {name} | {r.get('error', 'no result')} | | | | | | | | |")
        continue
    ratio = r.get("ratio")
    verdict = "n/a" if ratio is None else ("met" if ratio >= TARGET[name] else "NOT met")
    print(f"| {name} | {r['backend']} (kernels {r.get('kernels', '?')}) | {f(r.get('s_per_iter'))} "
          f"| {f(r.get('torch_s_per_iter'))} | {f(ratio, spec='.2f')} | >= {TARGET[name]} ({verdict}) "
          f"| {f(r.get('langevin_step_s'), 1e3, '.3f')} | {f(r.get('torch_langevin_step_s'), 1e3, '.3f')} "
          f"| {f(r0.get('s_per_iter'))} | {r.get('gpu_pool_growth_bytes', 'n/a')} |")
torch_row = next((r for r in on.values() if r.get("torch_device")), None)
if torch_row:
    print(f"\ntorch {torch_row.get('torch_version')} on {torch_row['torch_device']}, "
          f"cuDNN TF32 allowed: {torch_row.get('torch_cudnn_tf32')}")
else:
    note = next((r.get("torch_note") for r in on.values() if r.get("torch_note")), "no torch rows")
    print(f"\nno PyTorch reference: {note}")
EOF
echo
echo "outputs in $OUT: $(ls "$OUT" | tr '\n' ' ')"
exit $status
