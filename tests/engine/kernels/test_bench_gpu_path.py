"""engine.bench's GPU branch on the fake CuPy: the row's keys, the kernels used, the pool check."""

from __future__ import annotations

import json

from engine import bench


def test_bench_row_on_the_gpu_backend(fake_gpu, monkeypatch, capsys):
    monkeypatch.setattr(bench, "_torch_cuda", lambda: "torch has no usable CUDA device (test)")
    monkeypatch.setitem(bench.WORKLOADS, "W0", bench.Workload("W0", (2,), 64, 3, 0.01, 0.005))  # a small W0
    assert bench.main(["--workload", "W0", "--repeats", "1", "--json"]) == 0
    row = json.loads(capsys.readouterr().out.strip())
    assert row["backend"] == "cupy" and row["device"] == "Fake GPU" and row["kernels"] == "on"
    assert row["torch_s_per_iter"] is None and row["ratio"] is None
    assert row["torch_note"] == "torch has no usable CUDA device (test)"
    assert row["gpu_pool_growth_bytes"] == 0
    assert row["s_per_iter"] > 0 and row["langevin_step_s"] > 0
    assert fake_gpu.launches["langevin_update"] > 0 and fake_gpu.launches["swish_forward"] > 0
