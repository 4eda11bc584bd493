"""Hyperparameter search: spaces, the ASHA scheduler, and tiny real searches (2D toy, MLP width 16)."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import threading
from pathlib import Path

import numpy as np
import pytest

from engine import cli
from engine.errors import ConfigError
from engine.experiments.asha import Scheduler, rungs
from engine.experiments.search import Search, SearchSettings, load_results, run_search
from engine.experiments.search_results import LOG_NAME, read_log
from engine.experiments.space import SearchSpace, apply_params
from engine.training.checkpoint import list_checkpoints
from engine.training.config import dumps_config, load_config
from engine.training.factory import model_arch
from tests.engine.training.helpers import toy_config

ROOT = Path(__file__).resolve().parents[3]


def tiny(**train):
    """8 Gaussians, mlp_2d of width 16, batch 32, 5 Langevin steps from data-initialised chains."""
    return toy_config(model={"preset": "mlp_2d", "layers": [], "width": 16}, buffer={"init": "data"},
                      data={"n": 1024}, train={"iterations": 27, "lr": 1e-2, **train})


def _comparable(records):
    """Log records without what differs between two runs of the same search (wall time)."""
    out = []
    for r in records:
        r = dict(r)
        r.pop("time")
        r["metrics"] = {k: v for k, v in r["metrics"].items() if k != "seconds"}
        out.append(r)
    return out


# --- spaces -----------------------------------------------------------------------------


def test_grid_enumerates_the_product_exactly():
    space = SearchSpace.from_dict({
        "sampler.n_steps": {"values": [10, 20, 40]},
        "train.alpha": {"uniform": [0, 1], "points": 5},
        "train.lr": {"log_uniform": [1e-4, 1e-2]},
        "buffer.capacity": {"int_uniform": [100, 200]},
    }, tiny())
    axes = [[10, 20, 40], [0.0, 0.25, 0.5, 0.75, 1.0], [1e-4, 1e-3, 1e-2], [100, 150, 200]]
    grid = space.grid(points=3)
    assert len(grid) == space.grid_size(3) == 3 * 5 * 3 * 3
    for point, combo in zip(grid, itertools.product(*axes)):  # same order: the last key varies fastest
        assert list(point) == ["sampler.n_steps", "train.alpha", "train.lr", "buffer.capacity"]
        assert point["sampler.n_steps"] == combo[0] and point["buffer.capacity"] == combo[3]
        assert point["train.alpha"] == pytest.approx(combo[1]) and point["train.lr"] == pytest.approx(combo[2])
    assert len({tuple(p.values()) for p in grid}) == len(grid)
    # the config's own types: an int stays an int, a float setting given as int becomes a float
    assert all(isinstance(p["buffer.capacity"], int) and isinstance(p["train.alpha"], float) for p in grid)


def test_random_is_seeded_in_range_and_log_uniform_in_log_space():
    space = SearchSpace.from_dict({"train.lr": {"log_uniform": [1e-4, 1e-2]}, "train.alpha": {"uniform": [0, 1]},
                                   "sampler.n_steps": {"int_log_uniform": [4, 64]},
                                   "sampler.kind": {"values": ["langevin", "mala"]}}, tiny())
    draws = [space.sample(seed=7, index=i) for i in range(2000)]
    assert draws == [space.sample(seed=7, index=i) for i in range(2000)]  # seeded
    assert space.sample(seed=7, index=5) == draws[5]  # trial i's draw does not depend on the others
    assert draws != [space.sample(seed=8, index=i) for i in range(2000)]
    lr = np.array([d["train.lr"] for d in draws])
    alpha = np.array([d["train.alpha"] for d in draws])
    steps = np.array([d["sampler.n_steps"] for d in draws])
    assert lr.min() >= 1e-4 and lr.max() <= 1e-2 and alpha.min() >= 0 and alpha.max() <= 1
    assert steps.min() >= 4 and steps.max() <= 64 and all(isinstance(d["sampler.n_steps"], int) for d in draws)
    # log-uniform: each decade [1e-4, 1e-3), [1e-3, 1e-2) gets half the draws (a plain uniform would put 9% below 1e-3)
    assert abs(np.mean(lr < 1e-3) - 0.5) < 0.05
    # uniform in log space: the quartiles of log10(lr) sit at -3.5, -3, -2.5
    assert np.quantile(np.log10(lr), [0.25, 0.5, 0.75]) == pytest.approx([-3.5, -3.0, -2.5], abs=0.06)
    assert abs(np.mean(alpha) - 0.5) < 0.03
    assert abs(np.mean(steps < 16) - 0.5) < 0.05  # 16 = the geometric middle of [4, 64]
    assert {d["sampler.kind"] for d in draws} == {"langevin", "mala"}


@pytest.mark.parametrize("spec, key", [
    ({"trainer.lr": {"values": [1e-3]}}, "trainer.lr"),
    ({"train.lrate": {"values": [1e-3]}}, "train.lrate"),
    ({"train.lr": {"values": [1e-3, -1.0]}}, "train.lr"),
    ({"train.lr": {"log_uniform": [0.0, 1e-2]}}, "train.lr"),
    ({"train.alpha": {"uniform": [1.0, 0.5]}}, "train.alpha"),
    ({"buffer.reinit_prob": {"uniform": [0.0, 2.0]}}, "buffer.reinit_prob"),
    ({"sampler.n_steps": {"uniform": [1, 10]}}, "sampler.n_steps"),
    ({"sampler.kind": {"values": ["euler"]}}, "sampler.kind"),
    ({"sampler.step_size": 0.01}, "sampler.step_size"),
    ({"sampler.step_size": {"uniform": [0.01, 0.1], "log_uniform": [0.01, 0.1]}}, "sampler.step_size"),
    ({"train.iterations": {"values": [10, 20]}}, "train.iterations"),
    ({"train": {"seed": {"values": [1, 1]}}}, "train.seed"),
])
def test_bad_keys_and_values_are_refused_naming_the_key(spec, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        SearchSpace.from_dict(spec, tiny())


def test_model_width_is_searchable_and_refused_where_the_preset_has_none():
    space = SearchSpace.from_dict({"model.width": {"values": [8, 32]}}, tiny())
    widths = []
    for point in space.grid():
        arch = model_arch(apply_params(tiny(), point).model)
        widths.append(arch["layers"][0]["out_features"])
    assert widths == [8, 32]
    digits = tiny().replace(model={"preset": "convnet_small", "width": 0})
    with pytest.raises(ConfigError, match="model.width"):
        SearchSpace.from_dict({"model.width": {"values": [8, 32]}}, digits)


def test_space_files_read_dotted_and_table_keys(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text('"train.lr" = {log_uniform = [1e-4, 1e-2]}\n[sampler]\nn_steps = {values = [10, 20]}\n'
                    'step_size = {uniform = [0.01, 0.1], points = 4}\n', encoding="utf-8")
    space = SearchSpace.load(path, tiny())
    assert space.to_dict() == {"train.lr": {"log_uniform": [1e-4, 1e-2]}, "sampler.n_steps": {"values": [10, 20]},
                               "sampler.step_size": {"uniform": [0.01, 0.1], "points": 4}}
    assert space.grid_size(3) == 3 * 2 * 4
    shipped = SearchSpace.load(ROOT / "resources/search/8gaussians.toml",
                               load_config(ROOT / "resources/presets/8gaussians.toml"))
    assert set(shipped.keys) >= {"sampler.step_size", "sampler.noise", "train.lr", "train.alpha"}


# --- the scheduler on made-up scores ------------------------------------------------------


def test_rungs():
    assert rungs(100, 1000, 3) == [100, 300, 900, 1000]
    assert rungs(1, 9, 3) == [1, 3, 9]
    assert rungs(50, 40, 2) == [40]


def test_asha_promotes_the_top_third_so_far_hand_worked():
    # rung 0 scores arrive in trial order; each decision sees only the results so far:
    #  t0 5   -> 1 result, keep 1: best           -> promoted; at rung 1: 4  (alone)         -> promoted
    #  t1 3   -> 2 results, keep 1: best          -> promoted; at rung 1: 3.5 (best of 2)     -> promoted
    #  t2 4   -> 3 results, keep 1: 3 is better   -> stopped
    #  t3 1   -> 4 results, keep 1: best          -> promoted; at rung 1: 5 (3 results: worst) -> stopped
    #  t4 6   -> 5 results, keep 1                -> stopped
    #  t5 2   -> 6 results, keep 2: only 1 better -> promoted; at rung 1: 2 (best of 4)       -> promoted
    #  t6 2.5 -> 7 results, keep 2: 1, 2 better   -> stopped
    scores = {0: [5, 4, 9], 1: [3, 3.5, 9], 2: [4], 3: [1, 5], 4: [6], 5: [2, 2, 9], 6: [2.5]}
    s = Scheduler([1, 3, 9], eta=3, max_trials=7)
    assert s.expected_iterations() == pytest.approx(7 * (1 + 2 / 3 + 6 / 9))
    jobs = []
    while (job := s.next_job()) is not None:
        jobs.append((job.trial, job.rung, job.target))
        s.report(job.trial, job.rung, scores[job.trial][job.rung])
    assert s.status == {0: "completed", 1: "completed", 2: "stopped", 3: "stopped", 4: "stopped",
                        5: "completed", 6: "stopped"}
    # a promoted trial goes on before any new trial starts
    assert jobs == [(0, 0, 1), (0, 1, 3), (0, 2, 9), (1, 0, 1), (1, 1, 3), (1, 2, 9), (2, 0, 1), (3, 0, 1),
                    (3, 1, 3), (4, 0, 1), (5, 0, 1), (5, 1, 3), (5, 2, 9), (6, 0, 1)]
    assert s.expected_iterations() == 0


def test_asha_in_flight_jobs_diverged_runs_and_restore():
    s = Scheduler([2, 4], eta=2, max_trials=3)
    a, b = s.next_job(), s.next_job()  # two workers: two new trials at once
    assert (a.trial, a.rung, b.trial, b.rung) == (0, 0, 1, 0)
    assert s.report(1, 0, math.inf) == "stopped"  # a diverged score stops even the first result
    assert s.report(0, 0, 3.0) == "promoted"  # 2 results, keep 1: 3 beats inf
    assert (s.next_job().trial, s.started) == (0, 2)  # the promotion before trial 2
    # a new scheduler that replays the log is in the same state
    r = Scheduler([2, 4], eta=2, max_trials=3)
    r.restore(1, 0, math.inf, "stopped")
    r.restore(0, 0, 3.0, "promoted")
    job = r.next_job()
    assert (job.trial, job.rung) == (0, 1) and r.next_job().trial == 2 and r.next_job() is None


# --- real searches (tiny) ----------------------------------------------------------------


def test_asha_search_stops_a_hopeless_setting_at_the_first_rung(tmp_path):
    config = tiny(iterations=90)
    space = {"train.lr": {"values": [1e-2, 3e-3, 1e-6]}}
    lines = []
    results = run_search(tmp_path / "s", config, space,
                         SearchSettings(method="grid", asha=True, min_iterations=10, eta=3), progress=lines.append)
    by_lr = {t.params["train.lr"]: t for t in results.trials}
    hopeless = by_lr[1e-6]
    assert hopeless.status == "stopped" and hopeless.iteration == 10 and hopeless.rung == 0
    trial, best_config = results.best()
    assert trial.params["train.lr"] != 1e-6 and trial.status == "completed" and trial.iteration == 90
    assert trial.value < hopeless.value - 0.1  # it learned something; lr 1e-6 stays at the start
    assert best_config.train.lr == trial.params["train.lr"] and best_config.train.iterations == 90
    assert load_config(tmp_path / "s" / "best.toml") == best_config
    # the trial's run folder holds its model, checkpointed at the end of its last rung
    assert list_checkpoints(trial.run_dir / "checkpoints")[-1].name == "ckpt-00000090.safetensors"
    # every trial's loss curve is whole, its objective curve has one point per rung
    for t in results.trials:
        assert len(t.curve) == t.iteration
        assert [it for it, _ in t.objective_curve] == [10, 30, 90][: t.rung + 1]
    # one log line per rung result, as the progress callback saw them
    records = read_log(tmp_path / "s" / LOG_NAME)
    assert len(records) == len(lines) == sum(t.rung + 1 for t in results.trials)
    assert [p.record for p in lines] == records[: len(lines)]
    assert lines[-1].trials_done == 3 and lines[-1].eta_seconds == pytest.approx(0.0, abs=1e-9)
    # sortable by any column
    assert {"id", "status", "iteration", "train.lr", "value", "best_value", "val_nll", "val_kl"} <= set(results.columns())
    ids = [t.id for t in results.sorted("train.lr")]
    assert [by_lr[lr].id for lr in sorted(by_lr)] == ids
    assert results.sorted("val_nll")[0].value == min(t.value for t in results.trials)
    assert load_results(tmp_path / "s").best()[0].id == trial.id


def _random_search(folder, **kw):
    space = {"train.lr": {"log_uniform": [1e-3, 3e-2]}, "sampler.step_size": {"log_uniform": [3e-3, 3e-2]},
             "sampler.kind": {"values": ["langevin", "mala"]}}
    settings = SearchSettings(method="random", trials=5, asha=True, min_iterations=3, eta=3, seed=1)
    return Search.create(folder, tiny(iterations=27), space, settings)


class _StopAfter(threading.Event):
    """A stop request that comes on its n-th check: mid-rung, at a reproducible iteration."""

    def __init__(self, n):
        super().__init__()
        self.n = n

    def is_set(self):
        self.n -= 1
        if self.n <= 0:
            self.set()
        return super().is_set()


def test_resume_reruns_no_finished_rung_and_ends_like_an_uninterrupted_search(tmp_path):
    whole = _random_search(tmp_path / "whole").run()
    reference = _comparable(read_log(tmp_path / "whole" / LOG_NAME))
    assert len({r["status"] for r in reference} & {"stopped", "completed"}) == 2  # ASHA did stop some

    # stop after 4 rung results, then a crash leaves half a line in the log
    stop = threading.Event()
    first = _random_search(tmp_path / "cut").run(
        stop=stop, progress=lambda p: stop.set() if p.results == 4 else None)
    assert len(read_log(tmp_path / "cut" / LOG_NAME)) == 4 and len(first.trials) < 5
    with open(tmp_path / "cut" / LOG_NAME, "a", encoding="utf-8") as f:
        f.write('{"trial": 3, "rung"')
    seen = []
    resumed = Search.open(tmp_path / "cut").run(progress=lambda p: seen.append((p.record["trial"],
                                                                                p.record["rung"])))
    done_before = [(r["trial"], r["rung"]) for r in reference[:4]]
    assert seen == [(r["trial"], r["rung"]) for r in reference[4:]] and not set(seen) & set(done_before)
    assert _comparable(read_log(tmp_path / "cut" / LOG_NAME)) == reference

    # a stop in the middle of a rung: that rung reruns from the checkpoint it left, exactly
    cut = _random_search(tmp_path / "mid").run(stop=_StopAfter(30))
    n_cut = len(read_log(tmp_path / "mid" / LOG_NAME))
    assert 0 < n_cut < len(reference)
    saved = {int(p.stem.split("-")[1]) for p in (tmp_path / "mid" / "trials").glob("*/checkpoints/*.safetensors")}
    assert saved - {3, 9, 27}, "the stop should have come in the middle of a rung"
    Search.open(tmp_path / "mid").run()
    assert _comparable(read_log(tmp_path / "mid" / LOG_NAME)) == reference
    assert [t.params for t in resumed.trials] == [t.params for t in whole.trials]
    assert [t.value for t in load_results(tmp_path / "mid").trials] == [t.value for t in whole.trials]
    assert len(cut.trials) <= len(whole.trials)


def test_a_time_budget_ends_the_search_and_resume_goes_on(tmp_path):
    search = _random_search(tmp_path / "t")
    search.settings.minutes = 1e-9  # already spent when the search starts
    assert search.run().trials == []
    results = Search.open(tmp_path / "t", minutes=0, trials=2).run()
    assert [t.id for t in results.trials] == [0, 1]


def test_a_process_pool_gives_the_same_results_as_inline(tmp_path):
    space = {"train.lr": {"values": [1e-2, 3e-3]}, "sampler.step_size": {"values": [0.01, 0.003]}}
    settings = SearchSettings(method="grid", asha=False)
    inline = run_search(tmp_path / "inline", tiny(iterations=15), space, settings)
    pool = run_search(tmp_path / "pool", tiny(iterations=15), space, settings, workers=2)
    assert [t.status for t in pool.trials] == ["completed"] * 4
    assert _by_trial(tmp_path / "pool") == _by_trial(tmp_path / "inline")
    assert [t.value for t in pool.trials] == [t.value for t in inline.trials]


def _by_trial(folder):
    return sorted(_comparable(read_log(folder / LOG_NAME)), key=lambda r: (r["trial"], r["rung"]))


def test_ray_local_gives_the_same_results_as_inline(tmp_path):
    ray = pytest.importorskip("ray")
    space = {"train.lr": {"values": [1e-2, 3e-3]}}
    settings = SearchSettings(method="grid")
    inline = run_search(tmp_path / "inline", tiny(iterations=10), space, settings)
    try:
        on_ray = run_search(tmp_path / "ray", tiny(iterations=10), space, settings, workers=2, ray_address="local")
        assert not ray.is_initialized()  # the local instance the search started ended with it
    finally:
        ray.shutdown()
    assert _by_trial(tmp_path / "ray") == _by_trial(tmp_path / "inline")
    assert [t.value for t in on_ray.trials] == [t.value for t in inline.trials]


def test_an_objective_the_experiment_lacks_is_refused_and_leaves_the_folder_usable(tmp_path):
    space = {"train.lr": {"values": [1e-2]}}
    with pytest.raises(ConfigError, match="val_accuracy.*val_nll"):
        run_search(tmp_path / "s", tiny(iterations=3), space, SearchSettings(method="grid", objective="val_accuracy"))
    with pytest.raises(ConfigError, match="objective"):
        run_search(tmp_path / "s", tiny(iterations=3), space, SearchSettings(objective="val_bogus"))
    results = run_search(tmp_path / "s", tiny(iterations=3), space, SearchSettings(method="grid", objective="val_kl"))
    assert results.objective == "val_kl" and results.best()[0].value == results.trials[0].metrics["val_kl"]


def test_a_trial_whose_setting_cannot_train_fails_alone_and_says_why(tmp_path):
    base = tiny(iterations=3).replace(model={"width": 0})
    space = {"model.preset": {"values": ["convnet_small", "mlp_2d"]}}  # an image model for 2D points
    results = run_search(tmp_path / "s", base, space, SearchSettings(method="grid"))
    failed, good = results.trials
    assert failed.status == "failed" and "input" in failed.error and failed.value is None
    assert good.status == "completed" and results.best()[0].id == good.id


def test_a_folder_holding_a_search_is_not_overwritten_and_resume_keeps_its_settings(tmp_path):
    space = {"train.lr": {"values": [1e-2, 3e-3]}}
    run_search(tmp_path / "s", tiny(iterations=3), space, SearchSettings(method="grid"))
    with pytest.raises(ConfigError, match="already holds a search"):
        run_search(tmp_path / "s", tiny(iterations=3), space, SearchSettings(method="grid"))
    with pytest.raises(ConfigError, match="another search space"):
        run_search(tmp_path / "s", tiny(iterations=3), {"train.lr": {"values": [1e-2]}},
                   SearchSettings(method="grid"), resume=True)
    with pytest.raises(ConfigError, match="eta"):
        run_search(tmp_path / "s", tiny(iterations=3), space, SearchSettings(method="grid", eta=4), resume=True)


# --- the command line ----------------------------------------------------------------------


def _cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def test_cli_search_prints_rung_results_a_table_and_writes_the_best_config(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(dumps_config(tiny(iterations=9)), encoding="utf-8")
    space = tmp_path / "space.toml"
    space.write_text('[train]\nlr = {values = [1e-2, 1e-6]}\n[sampler]\nstep_size = {values = [0.01, 0.003]}\n',
                     encoding="utf-8")
    out_dir = tmp_path / "search"
    rc, out, err = _cli("search", config, "--space", space, "--out", out_dir, "--method", "grid", "--asha",
                        "--min-iterations", 3, "--eta", 3)
    assert rc == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    rungs_logged = rows[:-1]
    assert rungs_logged == [{k: v for k, v in r.items() if k != "curve"} for r in read_log(out_dir / LOG_NAME)]
    assert {r["trial"] for r in rungs_logged} == {0, 1, 2, 3}
    best = rows[-1]
    assert best["params"]["train.lr"] == 1e-2 and Path(best["config"]) == out_dir / "best.toml"
    assert load_config(out_dir / "best.toml").train.lr == 1e-2
    table = err[err.index("id  status"):].splitlines()
    assert table[1].split()[0] == str(best["best"])  # sorted best first
    assert "ETA" in err
    # resume: everything is done, nothing runs again; a changed setting is refused
    rc, out, err = _cli("search", "--out", out_dir, "--resume")
    assert rc == 0 and [json.loads(line) for line in out.splitlines()] == [best]
    rc, _, err = _cli("search", "--out", out_dir, "--resume", "--eta", 2)
    assert rc == 2 and "eta" in err
