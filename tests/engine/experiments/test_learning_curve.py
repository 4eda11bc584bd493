import json
import math
import threading

import numpy as np
import pytest

from engine import cli
from engine.errors import ConfigError, DataError
from engine.experiments import learning_curve as lc
from engine.experiments.learning_curve import (
    CurvePoint,
    LearningCurve,
    default_sizes,
    nested_indices,
    run_learning_curve,
)
from engine.experiments.trial import TrialResult
from engine.models.presets import mlp_2d
from engine.training.config import ExperimentConfig, dumps_config


def _tiny(**train):
    return ExperimentConfig().replace(
        data={"n": 1000}, model={"preset": "", "layers": mlp_2d(16, 2)["layers"]},
        train={"iterations": 20, "batch_size": 32, "eval_every": 1000, **train},
        buffer={"capacity": 128}, sampler={"n_steps": 5})


def test_default_sizes_are_log_spaced_from_64_to_the_whole_set():
    sizes = default_sizes(9000)
    assert sizes[0] == 64 and sizes[-1] == 9000 and len(sizes) == 6
    assert sizes == sorted(set(sizes))
    ratios = np.diff(np.log(sizes))
    assert np.allclose(ratios, np.log(9000 / 64) / 5, atol=0.02)  # equal steps in log size
    assert default_sizes(100, n_points=6, smallest=64)[-1] == 100
    assert len(set(default_sizes(70, n_points=6))) == len(default_sizes(70, n_points=6))  # deduplicated
    assert default_sizes(40) == [40]  # a set smaller than the smallest size: just the whole set
    with pytest.raises(ConfigError):
        default_sizes(1)


def test_subsets_of_one_seed_are_nested_and_seeds_differ():
    small, large = nested_indices(500, 16, seed=3), nested_indices(500, 200, seed=3)
    assert np.array_equal(large[:16], small)
    assert len(set(large.tolist())) == 200 and large.max() < 500
    assert not np.array_equal(nested_indices(500, 200, seed=4), large)


def test_validation_set_is_fixed_across_sizes_and_training_subsets_nested(monkeypatch):
    seen = []

    def fake(config, data=None, train_metrics=False, **_):
        seen.append((config.train.seed, data[0].x.copy(), data[1].x.copy()))
        return TrialResult({"val_nll": 1.0, "train_nll": 0.5}, iterations=1)

    monkeypatch.setattr(lc, "train_and_evaluate", fake)
    curve = run_learning_curve(_tiny(), [16, 64, 256], seeds=(0, 1))
    assert [(p.size, p.seed) for p in curve.points] == [(s, k) for s in (16, 64, 256) for k in (0, 1)]
    for seed in (0, 1):
        runs = [(tr, va) for s, tr, va in seen if s == seed]
        assert [len(tr) for tr, _ in runs] == [16, 64, 256]
        for (_, v0), (_, v1) in zip(runs, runs[1:]):
            assert np.array_equal(v0, v1)  # one validation set for every size
        rows = [{tuple(r) for r in tr} for tr, _ in runs]
        assert rows[0] <= rows[1] <= rows[2]  # nested training subsets
        assert not rows[2] & {tuple(r) for r in runs[0][1]}  # and disjoint from validation
    val0 = next(va for s, _, va in seen if s == 0)
    val1 = next(va for s, _, va in seen if s == 1)
    assert not np.array_equal(val0, val1)  # each seed draws its own data
    assert curve.info["complete"] and curve.info["n_train"] == 900 and curve.metric == "nll"


def _curve():
    pts = [CurvePoint(10, 0, {"train_nll": 1.0, "val_nll": 3.0}), CurvePoint(10, 1, {"train_nll": 2.0, "val_nll": 4.0}),
           CurvePoint(10, 2, {"train_nll": 1.5, "val_nll": 5.0}),
           CurvePoint(100, 0, {"train_nll": 2.0, "val_nll": 2.5}), CurvePoint(100, 1, {"train_nll": 2.5, "val_nll": 2.75}),
           CurvePoint(100, 2, {"loss": 0.1}, diverged="boom")]
    return LearningCurve(pts, "nll", {"sizes": [10, 100]})


def test_summary_against_a_hand_computation():
    s10, s100 = _curve().summary()
    assert (s10.size, s10.n, s100.size, s100.n) == (10, 3, 100, 2)  # the diverged seed is left out
    assert s10.train_mean == pytest.approx(1.5) and s10.val_mean == pytest.approx(4.0)
    assert s10.train_std == pytest.approx(0.5) and s10.val_std == pytest.approx(1.0)  # ddof 1
    # per-seed gaps 2, 2, 3.5: mean 2.5, sample std sqrt(0.75)
    assert s10.gap == pytest.approx(2.5) and s10.gap_std == pytest.approx(math.sqrt(0.75))
    assert s100.train_mean == pytest.approx(2.25) and s100.val_std == pytest.approx(math.sqrt(0.03125))
    single = LearningCurve([CurvePoint(5, 0, {"train_nll": 1.0, "val_nll": 2.0})]).summary()[0]
    assert single.val_mean == 2.0 and math.isnan(single.val_std)
    with pytest.raises(ConfigError, match="available: nll"):
        _curve().summary("accuracy")


def test_diagnosis_reads_the_numbers():
    text = _curve().diagnosis()
    # gap 2.5 at n=10 (paired se 0.5) shrinks to 0.375: variance; val improves 4.0 -> 2.625 (paired by seed)
    assert "High variance" in text and "More data would still help" in text
    flat = LearningCurve([CurvePoint(n, s, {"train_nll": 3.0 + 0.01 * s, "val_nll": 3.02 + 0.01 * s,
                                             "val_true_nll": 2.8}) for n in (10, 100) for s in (0, 1)])
    text = flat.diagnosis()
    assert "High variance" not in text and "unlikely to help" in text and "High bias" in text
    good = LearningCurve([CurvePoint(n, 0, {"train_nll": 2.85, "val_nll": 2.86, "val_true_nll": 2.82})
                          for n in (10, 100)])
    assert "little bias left" in good.diagnosis() and "High bias" not in good.diagnosis()
    mmd = LearningCurve([CurvePoint(n, 0, {"train_mmd": 0.01, "val_mmd": 0.011}) for n in (10, 100)], "mmd")
    assert "cannot be judged" in mmd.diagnosis()


def test_a_curve_whose_every_trial_diverged_says_so_instead_of_refusing_its_metric():
    """The CLI prints table() and diagnosis() after every run: with all trials diverged (only loss and
    seconds recorded) they raised 'the learning curve has no train_nll/val_nll' and the command exited 2."""
    curve = LearningCurve([CurvePoint(n, 0, {"loss": math.nan, "seconds": 1.0}, 3, "diverged") for n in (10, 100)])
    assert "did the runs diverge" in curve.diagnosis()
    assert [s.n for s in curve.summary()] == [0, 0]
    assert len(curve.table().splitlines()) == 4  # header, rule, one line per size


def test_json_and_csv_round_trip(tmp_path):
    curve = run_learning_curve(_tiny(iterations=5), [32, 64], seeds=(0,))
    curve.points.append(CurvePoint(128, 0, {"loss": math.nan, "seconds": 1.0}, 3, "diverged at iteration 3"))
    json_path, csv_path = curve.save(tmp_path / "out")
    back = LearningCurve.load(json_path)
    assert back.info == json.loads(json.dumps(curve.info)) and back.metric == curve.metric
    for a, b in ((curve, back), (curve, LearningCurve.load(csv_path))):
        assert [(p.size, p.seed, p.iterations, p.diverged) for p in a.points] == \
               [(p.size, p.seed, p.iterations, p.diverged) for p in b.points]
        for p, q in zip(a.points, b.points):
            assert set(q.metrics) >= set(p.metrics)
            for k, v in q.metrics.items():  # CSV gives every row every column (nan where absent)
                assert (math.isnan(v) and math.isnan(p.metrics.get(k, math.nan))) or v == p.metrics[k]
    assert LearningCurve.load(csv_path).summary()[0].val_mean == curve.summary()[0].val_mean


def test_a_file_that_is_not_a_learning_curve_is_a_data_error(tmp_path):
    bad = tmp_path / "learning_curve.json"
    bad.write_text('{"points": [', encoding="utf-8")
    with pytest.raises(DataError, match="learning_curve.json"):
        LearningCurve.load(bad)
    bad.write_text('{"kind": "something else"}', encoding="utf-8")
    with pytest.raises(DataError, match="not a valid learning curve"):
        LearningCurve.load(bad)


def test_bad_sizes_and_seeds_are_config_errors():
    with pytest.raises(ConfigError, match="between 2 and"):
        run_learning_curve(_tiny(), [16, 5000])
    with pytest.raises(ConfigError, match="seeds"):
        run_learning_curve(_tiny(), [16], seeds=())


def test_stop_ends_the_curve_after_the_running_trial():
    stop = threading.Event()
    curve = run_learning_curve(_tiny(iterations=3), [16, 32, 64], on_result=lambda p: stop.set(), stop=stop)
    assert [p.size for p in curve.points] == [16] and not curve.info["complete"]


def test_two_local_workers_give_the_numbers_of_an_inline_run():
    config = _tiny(iterations=8)
    inline = run_learning_curve(config, [32, 128], seeds=(0,))
    pooled = run_learning_curve(config, [32, 128], seeds=(0,), workers=2)
    assert [(p.size, p.seed) for p in pooled.points] == [(p.size, p.seed) for p in inline.points]
    for p, q in zip(inline.points, pooled.points):
        for k in p.metrics:
            if k != "seconds":
                assert q.metrics[k] == pytest.approx(p.metrics[k], rel=1e-9, abs=1e-12), k


def test_cli_learning_curve_end_to_end(tmp_path, capsys):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(dumps_config(_tiny()), encoding="utf-8")
    out = tmp_path / "lc"
    status = cli.main(["learning-curve", str(cfg), "--out", str(out), "--sizes", "32,64", "--seeds", "2",
                       "--iterations", "4"])
    assert status == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert sorted((r["size"], r["seed"]) for r in rows) == [(32, 0), (32, 1), (64, 0), (64, 1)]
    assert all(r["iterations"] == 4 and math.isfinite(r["val_nll"]) for r in rows)
    assert "ETA" in captured.err and "train nll" in captured.err and "gap" in captured.err
    saved = LearningCurve.load(out / "learning_curve.json")
    assert len(saved.points) == 4 and saved.info["iterations"] == 4
    assert (out / "learning_curve.csv").is_file()
    assert cli.main(["learning-curve", str(cfg), "--out", str(out), "--metric", "nope"]) == 2


def test_a_tiny_training_set_overfits_more_than_a_large_one():
    # 16 points: the model puts its mass on them (train NLL far below val); 2048: no gap.
    # Checked with seeds 0-5 at these settings: gap >= 0.32 nats at 16, <= 0.03 at 2048.
    config = ExperimentConfig().replace(
        data={"name": "8gaussians", "n": 3000}, model={"preset": "", "layers": mlp_2d(32, 2)["layers"]},
        train={"iterations": 80, "batch_size": 64, "eval_every": 100000, "lr": 0.01, "alpha": 0.05},
        buffer={"capacity": 512, "init": "data", "reinit_prob": 0.05}, sampler={"n_steps": 10})
    curve = run_learning_curve(config, [16, 2048], seeds=(0, 1))
    for seed in (0, 1):
        (t16, v16), (t2k, v2k) = curve.values("nll", 16)[seed], curve.values("nll", 2048)[seed]
        assert v16 - t16 > (v2k - t2k) + 0.2
    assert "High variance" in curve.diagnosis("nll")


def test_cli_refuses_a_metric_the_data_does_not_offer_before_training(tmp_path, capsys):
    from engine.cli import main

    config = tmp_path / "c.toml"
    config.write_text('[data]\nname = "8gaussians"\n')
    assert main(["learning-curve", str(config), "--out", str(tmp_path / "lc"), "--metric", "accuracy"]) == 2
    err = capsys.readouterr().err
    assert "'accuracy' is not measured on 8gaussians" in err and "nll" in err
    assert not (tmp_path / "lc").exists()  # nothing trained


def test_a_stop_during_an_in_process_trial_ends_it_and_drops_it(monkeypatch):
    stop = threading.Event()
    config = ExperimentConfig().replace(data={"name": "8gaussians", "n": 600}, model={"width": 8},
                                        train={"iterations": 400, "batch_size": 16, "eval_every": 1000},
                                        sampler={"n_steps": 2}, buffer={"capacity": 64})
    real = lc.train_and_evaluate
    calls = []

    def stop_early(*args, **kwargs):  # the user presses Stop during the second trial's 5th iteration
        calls.append(1)

        def on_report(report):
            if len(calls) == 2 and report.iteration == 5:
                stop.set()
        return real(*args, on_report=on_report, **kwargs)

    monkeypatch.setattr(lc, "train_and_evaluate", stop_early)
    curve = lc.run_learning_curve(config, sizes=[64, 128, 256], stop=stop)
    assert len(calls) == 2 and [p.size for p in curve.points] == [64]
    assert curve.info["complete"] is False


def test_a_stop_reaches_trials_in_worker_processes_through_a_file(tmp_path):
    from engine.experiments.executors import FileStop, InlineExecutor, LocalExecutor, stop_token

    stop = threading.Event()
    executor = LocalExecutor(1)
    try:
        token, flag = stop_token(executor, stop, tmp_path)
        assert isinstance(token, FileStop) and token is flag and not token.is_set()
        config = ExperimentConfig().replace(data={"name": "8gaussians", "n": 600}, model={"width": 8},
                                            train={"iterations": 100000, "batch_size": 16, "eval_every": 100000},
                                            sampler={"n_steps": 2}, buffer={"capacity": 64})
        future = executor.submit(lc.run_trial, config.to_dict(), 64, 0, token)
        flag.set()  # what run_learning_curve does once stop is set: the worker ends at its next iteration
        assert future.result(timeout=120) is None
    finally:
        executor.shutdown()
    assert stop_token(InlineExecutor(), stop, tmp_path) == (stop, None)  # in this process: the Event itself
