"""Trainer on tiny 8-Gaussians runs: reports, samples, metrics, stopping, and the run folder."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.errors import ConfigError
from engine.metrics import CurveLog
from engine.models.io import load_model
from engine.training.config import load_config
from engine.training.trainer import KEEP_CHECKPOINTS, N_REPORT_SAMPLES, Trainer

from .helpers import checkpoint_iterations, toy_config, without_seconds

TOY_METRICS = {"e_data", "nll", "true_nll", "kl", "mmd"}


@pytest.fixture(scope="module")
def toy_run():
    """One 6-iteration run (samples every 2, metrics every 3) without a folder, shared by the report tests."""
    trainer = Trainer(toy_config(train={"samples_every": 2, "eval_every": 3}))
    return trainer, list(trainer.run())


def test_one_report_per_iteration_counting_1_to_n(toy_run):
    trainer, reports = toy_run
    assert [r.iteration for r in reports] == [1, 2, 3, 4, 5, 6]
    assert trainer.iteration == 6


def test_report_fields_are_finite_and_plain(toy_run):
    _, reports = toy_run
    for r in reports:
        for name in ("loss", "e_pos", "e_neg", "grad_norm", "lr", "seconds"):
            value = getattr(r, name)
            assert isinstance(value, float) and math.isfinite(value), (r.iteration, name, value)
        assert r.grad_norm >= 0 and r.seconds >= 0
        assert r.lr == pytest.approx(1e-3)
        assert r.acceptance is None and r.accuracy is None  # Langevin, energy model
        assert r.message == ""  # no run folder: no checkpoints
        row = r.scalars()
        assert row["iteration"] == r.iteration and "samples" not in row


def test_samples_come_at_samples_every_and_the_last_iteration(toy_run):
    _, reports = toy_run
    assert [r.iteration for r in reports if r.samples is not None] == [2, 4, 6]
    for r in reports:
        if r.samples is not None:
            assert isinstance(r.samples, np.ndarray) and r.samples.shape == (32, 2)  # batch < N_REPORT_SAMPLES
            assert r.samples.dtype == np.float32 and np.isfinite(r.samples).all()


def test_metrics_come_at_eval_every_with_the_toy_metrics(toy_run):
    _, reports = toy_run
    assert [r.iteration for r in reports if r.metrics] == [3, 6]
    for r in reports:
        if r.metrics:
            assert set(r.metrics) == TOY_METRICS
            assert all(isinstance(v, float) and math.isfinite(v) for v in r.metrics.values())
            assert r.metrics["kl"] >= -1e-6  # a KL divergence, by quadrature
            assert r.metrics["nll"] > 0 and r.metrics["true_nll"] > 0
            assert {f"val_{k}" for k in TOY_METRICS} <= set(r.scalars())
    # the data's own entropy does not depend on the model
    assert reports[2].metrics["true_nll"] == reports[5].metrics["true_nll"]


def test_the_same_config_gives_the_same_run(toy_run):
    _, reports = toy_run
    again = Trainer(toy_config(train={"samples_every": 2, "eval_every": 3}))
    assert without_seconds([r.scalars() for r in again.run()]) == without_seconds([r.scalars() for r in reports])


def test_report_samples_are_capped():
    trainer = Trainer(toy_config(train={"iterations": 1, "batch_size": 2 * N_REPORT_SAMPLES}))
    (report,) = trainer.run()
    assert report.samples.shape == (N_REPORT_SAMPLES, 2)


def test_request_stop_inside_the_loop_ends_after_that_iteration():
    trainer = Trainer(toy_config(train={"iterations": 20}))
    seen = []
    for report in trainer.run():
        seen.append(report.iteration)
        if report.iteration == 3:
            trainer.request_stop()
    assert seen == [1, 2, 3] and trainer.iteration == 3
    # run() again continues where it stopped
    more = [r.iteration for r in trainer.run(iterations=2)]
    assert more == [4, 5]


def test_run_with_iterations_runs_that_many_more():
    trainer = Trainer(toy_config(train={"iterations": 100}))
    assert [r.iteration for r in trainer.run(iterations=2)] == [1, 2]
    assert [r.iteration for r in trainer.run(iterations=1)] == [3]


# --- the run folder -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "toy"
    config = toy_config(train={"iterations": 5, "checkpoint_every": 1, "samples_every": 2, "eval_every": 5})
    trainer = Trainer(config, run_dir)
    reports = list(trainer.run())
    return config, run_dir, trainer, reports


def test_run_folder_holds_everything_to_reopen_the_experiment(run_folder):
    _, run_dir, _, _ = run_folder
    for name in ("config.toml", "model.safetensors", "model.json", "metrics.csv", "samples.npy"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "checkpoints").is_dir()
    assert not [p for p in run_dir.rglob("*") if ".tmp" in p.name]  # atomic writes leave no temporaries


def test_config_toml_is_the_run_config(run_folder):
    config, run_dir, _, _ = run_folder
    assert load_config(run_dir / "config.toml") == config


def test_checkpoint_messages_and_pruning(run_folder):
    _, run_dir, _, reports = run_folder
    assert [r.message for r in reports] == [f"checkpoint saved at iteration {i}" for i in range(1, 6)]
    assert checkpoint_iterations(run_dir) == list(range(5 - KEEP_CHECKPOINTS + 1, 6))


def test_metrics_csv_holds_the_reported_curves(run_folder):
    _, run_dir, _, reports = run_folder
    log = CurveLog.read_csv(run_dir / "metrics.csv")
    its, losses = log.series("loss")
    assert its.tolist() == [1, 2, 3, 4, 5]
    assert losses.tolist() == [r.loss for r in reports]  # repr floats: exact
    its, nll = log.series("val_nll")
    assert its.tolist() == [5] and nll[0] == reports[-1].metrics["nll"]


def test_samples_npy_is_the_last_reported_samples(run_folder):
    _, run_dir, _, reports = run_folder
    np.testing.assert_array_equal(np.load(run_dir / "samples.npy"), reports[-1].samples)


def test_saved_model_loads_and_gives_the_same_energies(run_folder):
    _, run_dir, trainer, _ = run_folder
    net = load_model(run_dir / "model.safetensors", xp=np)
    assert (run_dir / "model.json").read_text(encoding="utf-8") == trainer.model.to_json()
    x = np.random.default_rng(1).uniform(-4, 4, size=(50, 2)).astype(np.float32)
    np.testing.assert_array_equal(net.energy(x), trainer.model.energy(x))


def test_a_new_run_in_a_folder_holding_a_run_is_refused(run_folder):
    config, run_dir, _, _ = run_folder
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.rglob("*")}
    with pytest.raises(ConfigError) as info:
        Trainer(config, run_dir)
    assert str(run_dir) in str(info.value) and "resume" in str(info.value)
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.rglob("*")} == before  # nothing touched


def test_a_trainer_without_a_folder_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    list(Trainer(toy_config(train={"iterations": 2, "checkpoint_every": 1})).run())
    assert list(tmp_path.iterdir()) == []
