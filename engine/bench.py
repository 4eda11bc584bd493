"""Time the benchmark workloads W0, W1, W2 (shared/DESIGN.md) on the active backend.

    python -m engine.bench [--workload W0|W1|W2] [--repeats R] [--json]

One training iteration = K Langevin steps on a batch of negatives (forward +
input gradient, no parameter gradients), then one Adam update on positives +
negatives with loss E(x+) - E(x-) + 0.1 (E(x+)^2 + E(x-)^2). The K steps go
through LangevinSampler.run, as in training (so W1's chains run in worker
processes); ``langevin_step_s`` times a single step through the network in
this process. When torch is
installed, the same iteration in PyTorch eager mode runs in the same process
and the ratio torch / ours is printed (> 1 means we are faster).

On the CuPy backend (``EBM_BACKEND=cupy``) the reference is PyTorch on CUDA;
both sides synchronise their GPU work at the end of every timed call.
On the NumPy backend each row says which library ran the GEMMs ("gemm":
MKL, or NumPy's OpenBLAS and why not MKL). On CuPy each row adds the
kernels' status, torch's device name and version, and how many bytes CuPy's
memory pool grew over the timed calls (0: no growth).
A GPU that runs out of memory gives a row with "error" instead of a crash.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import backend, kernels
from .models import EnergyNet
from .models.presets import PRESETS
from .ops import blas
from .samplers.langevin import LangevinSampler, langevin_update_
from .training.loss import contrastive_loss
from .training.optimizers import Adam

CLIP, ALPHA, LR, BETAS = 0.03, 0.1, 1e-4, (0.0, 0.999)


@dataclass(frozen=True)
class Workload:
    name: str
    input_shape: tuple[int, ...]
    batch: int
    steps: int  # K Langevin steps per iteration
    step_size: float
    noise: float


WORKLOADS = {
    "W0": Workload("W0", (2,), 1000, 100, 0.01, 0.005),
    "W1": Workload("W1", (1, 28, 28), 128, 60, 10.0, 0.005),
    "W2": Workload("W2", (3, 32, 32), 64, 20, 1.0, 0.01),
}


def _median_times(fns: list[Callable[[], Any]], repeats: int, rounds: int = 3) -> list[float]:
    """Median seconds per call of each function, timed in blocks taken in turns.

    Each round times a block of calls of every function (after one untimed
    call, which lets the other side's idle threads settle); alternating blocks
    exposes both sides to the same background load, while blocks keep one
    library's spinning worker threads out of the other's timings.
    """
    per_block = max(1, -(-repeats // rounds))
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for fn, ts in zip(fns, times):
            fn()
            for _ in range(per_block):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


class OurIteration:
    """The workload's training iteration on the engine."""

    def __init__(self, w: Workload, seed: int = 0):
        self.w = w
        xp = backend.xp()
        self.xp = xp
        self.net = EnergyNet(PRESETS[w.name](), seed=seed)
        self.opt = Adam(self.net.parameters(), lr=LR, betas=BETAS)
        self.rng = backend.make_rng(seed)
        shape = (w.batch, *w.input_shape)
        self.x_pos = self.rng.uniform(-1.0, 1.0, shape).astype(np.float32)
        self.x_neg = self.rng.uniform(-1.0, 1.0, shape).astype(np.float32)
        self.sampler = LangevinSampler(step_size=w.step_size, noise=w.noise, clip_grad=CLIP, clamp=(-1.0, 1.0),
                                       n_steps=w.steps)

    def langevin_step(self) -> None:
        w = self.w
        _, grad = self.net.energy_and_grad(self.x_neg)
        langevin_update_(self.x_neg, grad, w.step_size, w.noise, self.rng, CLIP, (-1.0, 1.0))

    def __call__(self) -> None:
        # the K steps as training runs them: LangevinSampler.run (which may use worker processes)
        self.x_neg = self.sampler.run(self.net, self.x_neg, self.rng).x
        self.net.power_iteration()
        e = self.net.forward(self.xp.concatenate([self.x_pos, self.x_neg]), param_grads=True)
        b = self.w.batch
        _, g_pos, g_neg = contrastive_loss(e[:b], e[b:], ALPHA)
        self.net.backward(self.xp.concatenate([g_pos, g_neg]), param_grads=True, input_grad=False)
        self.opt.step(self.net.gradients())


def torch_iteration(w: Workload, device: str = "cpu", seed: int = 0) -> tuple[Callable, Callable] | None:
    """(iteration, langevin_step) in PyTorch eager mode, or None without torch."""
    try:
        import torch  # noqa: PLC0415 - optional reference, imported only here
        import torch.nn as nn  # noqa: PLC0415
    except ImportError:
        return None
    torch.manual_seed(seed)
    layers: list[Any] = []
    for spec in PRESETS[w.name]()["layers"]:
        kind = spec["type"]
        if kind == "conv2d":
            layers.append(nn.Conv2d(spec["in_channels"], spec["out_channels"], spec["kernel_size"],
                                    spec["stride"], spec["padding"]))
        elif kind == "linear":
            layers.append(nn.Linear(spec["in_features"], spec["out_features"]))
        elif kind == "swish":
            layers.append(nn.SiLU())
        elif kind == "leaky_relu":
            layers.append(nn.LeakyReLU(spec["slope"]))
        elif kind == "flatten":
            layers.append(nn.Flatten())
        else:
            raise ValueError(f"no torch twin for layer {kind}")
    net = nn.Sequential(*layers).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=LR, betas=BETAS)
    shape = (w.batch, *w.input_shape)
    x_pos = torch.rand(shape, device=device) * 2 - 1
    state = {"x": torch.rand(shape, device=device) * 2 - 1}

    def langevin_step() -> None:
        x = state["x"].requires_grad_(True)
        (g,) = torch.autograd.grad(net(x).sum(), x)
        with torch.no_grad():
            x = x.detach()
            x -= w.step_size * g.clamp_(-CLIP, CLIP)
            x += w.noise * torch.randn_like(x)
            x.clamp_(-1.0, 1.0)
        state["x"] = x

    def iteration() -> None:
        net.requires_grad_(False)  # sampling needs no parameter gradients
        for _ in range(w.steps):
            langevin_step()
        net.requires_grad_(True)
        e = net(torch.cat([x_pos, state["x"]])).reshape(-1)
        e_pos, e_neg = e[: w.batch], e[w.batch :]
        loss = e_pos.mean() - e_neg.mean() + ALPHA * ((e_pos**2).mean() + (e_neg**2).mean())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device != "cpu":
            torch.cuda.synchronize()

    def sampling_step() -> None:
        net.requires_grad_(False)
        langevin_step()
        if device != "cpu":
            torch.cuda.synchronize()

    return iteration, sampling_step


def _sync() -> None:
    """Wait for the GPU work queued on CuPy's current stream (nothing on NumPy)."""
    cp = backend.cupy_module()
    if cp is not None:
        cp.cuda.get_current_stream().synchronize()


def _torch_cuda() -> str | None:
    """None when torch can run on CUDA here, else why not."""
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        return "torch is not installed"
    return None if torch.cuda.is_available() else f"torch {torch.__version__} has no usable CUDA device"


def _pool_bytes() -> int | None:
    """Bytes CuPy's memory pool holds (None on NumPy): flat over a warm loop means no growth."""
    cp = backend.cupy_module()
    return None if cp is None else int(cp.get_default_memory_pool().total_bytes())


def run_workload(name: str, repeats: int = 5) -> dict[str, Any]:
    w = WORKLOADS[name]
    info = backend.info()
    ours = OurIteration(w)

    def our_step() -> None:
        ours.langevin_step()
        _sync()

    def our_iter() -> None:
        ours()
        _sync()

    on_gpu = info.name == "cupy"
    why_not = _torch_cuda() if on_gpu else None
    ref = None if why_not else torch_iteration(w, device="cuda" if on_gpu else "cpu")
    result: dict[str, Any] = {"workload": name, "backend": info.name, "device": info.device,
                              "torch_s_per_iter": None, "torch_langevin_step_s": None, "ratio": None,
                              "repeats": repeats}
    if not on_gpu:
        result["gemm"] = blas.gemm_library()
    if on_gpu:
        result["kernels"] = kernels.status()
        if why_not:
            result["torch_note"] = why_not
        our_iter()  # warm: compile, fill the memory pool
    pool_before = _pool_bytes()
    if ref is None:
        result["s_per_iter"], = _median_times([our_iter], repeats)
        result["langevin_step_s"], = _median_times([our_step], repeats * 4)
    else:
        import torch  # noqa: PLC0415

        iteration, sampling_step = ref
        result["s_per_iter"], result["torch_s_per_iter"] = _median_times([our_iter, iteration], repeats)
        result["langevin_step_s"], result["torch_langevin_step_s"] = _median_times(
            [our_step, sampling_step], repeats * 4)
        result["ratio"] = result["torch_s_per_iter"] / result["s_per_iter"]
        if on_gpu:
            result["torch_device"] = torch.cuda.get_device_name()
            result["torch_version"] = torch.__version__
            result["torch_cudnn_tf32"] = bool(torch.backends.cudnn.allow_tf32)
        else:
            result["torch_threads"] = torch.get_num_threads()
    if pool_before is not None:
        result["gpu_pool_growth_bytes"] = _pool_bytes() - pool_before
    return result


def run_guarded(name: str, repeats: int) -> dict[str, Any]:
    """run_workload, with a GPU out-of-memory turned into a row that says so (and NumPy from then on)."""
    try:
        return run_workload(name, repeats)
    except Exception as exc:
        if not backend.is_out_of_memory(exc):
            raise
        info = backend.fall_back(f"the GPU ran out of memory in {name} ({type(exc).__name__}: {exc})")
        return {"workload": name, "backend": "cupy", "error": info.reason}


def _table(rows: list[dict[str, Any]]) -> str:
    head = f"{'workload':8} {'backend':7} {'ours s/iter':>12} {'torch s/iter':>13} {'ratio':>6}  " \
           f"{'ours step ms':>12} {'torch step ms':>13}"
    lines = [head, "-" * len(head)]
    for r in rows:
        def fmt(v: Any, scale: float = 1.0, spec: str = ".4f") -> str:
            return "n/a" if v is None else format(v * scale, spec)
        lines.append(f"{r['workload']:8} {r['backend']:7} {fmt(r['s_per_iter']):>12} "
                     f"{fmt(r['torch_s_per_iter']):>13} {fmt(r['ratio'], spec='.2f'):>6}  "
                     f"{fmt(r['langevin_step_s'], 1e3, '.2f'):>12} {fmt(r['torch_langevin_step_s'], 1e3, '.2f'):>13}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=sorted(WORKLOADS), action="append",
                        help="workload to run (repeatable; default: all)")
    parser.add_argument("--repeats", type=int, default=5, help="timed iterations per measurement (median)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per workload")
    args = parser.parse_args(argv)
    info = backend.info()
    rows = []
    if not args.json:
        gemm = "" if info.name == "cupy" else f"; GEMMs: {blas.gemm_library()}"
        print(f"backend: {info}{gemm}", file=sys.stderr)
    for name in args.workload or sorted(WORKLOADS):
        row = run_guarded(name, max(1, args.repeats))
        if "error" in row:
            print(f"{name}: {row['error']}", file=sys.stderr)
            if args.json:
                print(json.dumps(row), flush=True)
            continue
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
    if not args.json and rows:
        print(_table(rows))
        if rows[0]["torch_s_per_iter"] is None:
            print(f"(no torch reference: {rows[0].get('torch_note', 'torch is not installed')}; "
                  "pip install -e '.[bench]')")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
