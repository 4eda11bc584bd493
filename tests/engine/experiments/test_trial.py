import math

from engine.experiments.trial import TrialResult, is_minimized, train_and_evaluate
from engine.training.config import ExperimentConfig


def _tiny(**train):
    return ExperimentConfig().replace(train={"iterations": 12, "batch_size": 32, "eval_every": 1000, **train},
                                      buffer={"capacity": 128}, sampler={"n_steps": 5})


def test_trial_reports_val_and_train_metrics_and_the_loss_curve():
    r = train_and_evaluate(_tiny(), train_metrics=True)
    assert r.iterations == 12 and len(r.curve) == 12 and not r.diverged
    for name in ("val_nll", "train_nll", "val_kl", "val_mmd", "loss", "seconds"):
        assert math.isfinite(r.metrics[name]), name
    # the same model on the training set and on held-out data: close, but two different sets
    assert r.metrics["train_nll"] != r.metrics["val_nll"]
    assert abs(r.metrics["train_nll"] - r.metrics["val_nll"]) < 0.5


def test_trial_continues_from_its_run_folder(tmp_path):
    first = train_and_evaluate(_tiny(iterations=8), iterations=4, run_dir=tmp_path)
    assert first.iterations == 4
    more = train_and_evaluate(_tiny(iterations=8), iterations=4, run_dir=tmp_path, resume=True)
    assert more.iterations == 8


def test_a_diverged_trial_ranks_last():
    r = train_and_evaluate(_tiny(lr=1e6, max_energy=1e-3))
    assert r.diverged and r.score("val_nll") == math.inf


def test_direction_of_metrics():
    assert is_minimized("val_nll") and is_minimized("loss") and not is_minimized("val_accuracy")
    r = TrialResult({"val_accuracy": 0.9, "val_nll": 2.0})
    assert r.score("val_accuracy") == -0.9 and r.score("val_nll") == 2.0


def test_a_stop_request_ends_the_trial_within_an_iteration_and_marks_it_stopped():
    import threading

    stop = threading.Event()
    seen = []

    def on_report(report):
        seen.append(report.iteration)
        if report.iteration == 3:
            stop.set()

    r = train_and_evaluate(_tiny(iterations=50), on_report=on_report, stop=stop)
    assert r.stopped and r.iterations == 3 and seen == [1, 2, 3]
    assert "val_nll" not in r.metrics  # a cut-short run is not evaluated as if it were a result
    untouched = train_and_evaluate(_tiny(), stop=threading.Event())
    assert not untouched.stopped and untouched.iterations == 12
