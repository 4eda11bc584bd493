"""ebm-studio CLI, called in-process through engine.cli.main with tiny configs."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from engine import cli
from engine.models.io import load_model
from engine.training.config import dumps_config, load_config
from tests.engine.training.helpers import digits_config, toy_config

PRESET_DIR = Path(__file__).resolve().parent.parent / "resources" / "presets"


def _strict_json(line: str) -> dict:
    """json.loads that refuses NaN/Infinity, which plain JSON does not have."""
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    obj = json.loads(line, parse_constant=refuse)
    assert isinstance(obj, dict)
    return obj


def _write(tmp_path: Path, config, name: str = "tiny.toml") -> Path:
    path = tmp_path / name
    path.write_text(dumps_config(config), encoding="utf-8")
    return path


def _lines(text: str) -> list[dict]:
    return [_strict_json(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 4-iteration toy run made by `ebm-studio train`, with what it printed."""
    tmp = tmp_path_factory.mktemp("cli")
    config = toy_config(train={"iterations": 4, "checkpoint_every": 2, "eval_every": 4})
    path = _write(tmp, config)
    run_dir = tmp / "run"
    out, err = io.StringIO(), io.StringIO()  # a module-scoped fixture cannot use capsys
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(["train", str(path), "--out", str(run_dir)])
    return config, path, run_dir, rc, out.getvalue(), err.getvalue()


def test_train_prints_one_json_object_per_iteration(trained):
    _, _, _, rc, out, _ = trained
    assert rc == 0
    rows = _lines(out)
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4]
    for r in rows:
        assert {"loss", "e_pos", "e_neg", "grad_norm", "lr", "seconds"} <= set(r)
    assert rows[1]["message"] == "checkpoint saved at iteration 2"
    assert {"val_nll", "val_true_nll", "val_kl", "val_mmd"} <= set(rows[3])
    assert "val_nll" not in rows[2]


def test_train_reports_progress_on_stderr_only(trained):
    _, _, run_dir, _, out, err = trained
    assert "backend: numpy" in err
    assert "4/4" in err and "it/s" in err and f"run saved in {run_dir}" in err
    assert "it/s" not in out and "backend" not in out  # stdout is JSON only


def test_train_writes_the_run_folder(trained):
    config, _, run_dir, _, _, _ = trained
    for name in ("config.toml", "model.safetensors", "model.json", "metrics.csv", "samples.npy", "checkpoints"):
        assert (run_dir / name).exists(), name
    assert load_config(run_dir / "config.toml") == config


def test_evaluate_prints_the_metrics_of_the_run(trained, capsys):
    _, _, run_dir, _, out, _ = trained
    assert cli.main(["evaluate", str(run_dir)]) == 0
    (row,) = _lines(capsys.readouterr().out)
    assert row["iteration"] == 4
    last = _lines(out)[-1]
    for key in ("nll", "true_nll", "kl", "mmd"):
        assert row[key] == pytest.approx(last[f"val_{key}"], rel=1e-12)  # same model, same metrics


def test_sample_writes_npy_for_points(trained, capsys, tmp_path):
    _, _, run_dir, _, _, _ = trained
    out = tmp_path / "points.png"  # not an image model: written as .npy
    assert cli.main(["sample", str(run_dir), "--n", "10", "--steps", "3", "--out", str(out)]) == 0
    (row,) = _lines(capsys.readouterr().out)
    written = Path(row["samples"])
    assert written == out.with_suffix(".npy") and written.is_file()
    x = np.load(written)
    assert x.shape == (10, 2) and np.isfinite(x).all()
    assert row["n"] == 10 and row["steps"] == 3 and np.isfinite(row["mean_energy"])


@pytest.mark.parametrize("fmt, name", [("safetensors", "model.safetensors"), ("onnx", "model.onnx")])
def test_export_writes_a_model_with_the_same_energies(trained, capsys, tmp_path, fmt, name):
    _, _, run_dir, _, _, _ = trained
    out = tmp_path / name
    assert cli.main(["export", str(run_dir), "--format", fmt, "--out", str(out)]) == 0
    assert _lines(capsys.readouterr().out) == [{"exported": str(out), "format": fmt}]
    reference = load_model(run_dir / "model.safetensors", xp=np)
    x = np.random.default_rng(3).uniform(-4, 4, size=(16, 2)).astype(np.float32)
    if fmt == "safetensors":
        np.testing.assert_array_equal(load_model(out, xp=np).energy(x), reference.energy(x))
    else:
        onnx = pytest.importorskip("onnx")
        onnx.checker.check_model(onnx.load(str(out)))
        ort = pytest.importorskip("onnxruntime")
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        (energy,) = session.run(None, {"x": x})
        np.testing.assert_allclose(energy, reference.energy(x), rtol=1e-5, atol=1e-5)


def test_train_resume_continues_the_run(trained, capsys, tmp_path):
    _, path, run_dir, _, _, _ = trained
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    assert cli.main(["train", str(path), "--out", str(copy), "--resume", "--iterations", "6"]) == 0
    assert [r["iteration"] for r in _lines(capsys.readouterr().out)] == [5, 6]


def test_train_into_a_folder_holding_a_run_exits_2(trained, capsys):
    _, path, run_dir, _, _, _ = trained
    assert cli.main(["train", str(path), "--out", str(run_dir)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and "already holds a run" in captured.err


def test_sample_of_an_image_run_writes_a_png(tmp_path, capsys):
    path = _write(tmp_path, digits_config(train={"iterations": 1}))
    assert cli.main(["train", str(path), "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    out = tmp_path / "grid.png"
    assert cli.main(["sample", str(tmp_path / "run"), "--n", "4", "--steps", "2", "--out", str(out)]) == 0
    assert _lines(capsys.readouterr().out)[0]["samples"] == str(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- errors: one line on stderr, exit status 2 ------------------------------------------------------


@pytest.mark.parametrize("text, fragments", [
    ("[train]\nlearning_rate = 0.1\n", ["train.learning_rate", "allowed:", "lr"]),
    ("[train]\nlr = -1.0\n", ["train.lr", "> 0"]),
    ("[sampler]\nkind = 'gibbs'\n", ["sampler.kind", "'langevin'", "'mala'", "'hmc'"]),
    ("[train\n", ["not valid TOML"]),
])
def test_bad_config_exits_2_with_an_error_naming_the_key(tmp_path, capsys, text, fragments):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    assert cli.main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0]
    for fragment in fragments:
        assert fragment in lines[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv, fragment", [
    (["train", "{tmp}/missing.toml", "--out", "{tmp}/run"], "no such config file"),
    (["evaluate", "{tmp}/no_run"], "not a run folder"),
    (["sample", "{tmp}/no_run"], "not a run folder"),
    (["export", "{tmp}/no_run", "--out", "{tmp}/m.onnx"], "not a run folder"),
])
def test_missing_file_exits_2(tmp_path, capsys, argv, fragment):
    assert cli.main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and fragment in err


def test_run_folder_without_a_checkpoint_exits_2(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.toml").write_text(dumps_config(toy_config()), encoding="utf-8")
    assert cli.main(["evaluate", str(tmp_path / "run")]) == 2
    assert "holds no checkpoint" in capsys.readouterr().err


def test_divergence_exits_2_with_advice(tmp_path, capsys):
    path = _write(tmp_path, toy_config(train={"optimizer": "sgd", "lr": 1e3, "iterations": 5}))
    with _no_overflow_warnings():
        assert cli.main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    captured = capsys.readouterr()
    assert [r["iteration"] for r in _lines(captured.out)] == [1]
    assert "error: training diverged at iteration 2" in captured.err and "train.lr" in captured.err


def test_rollback_reports_are_strict_json(tmp_path, capsys):
    config = toy_config(train={"optimizer": "sgd", "lr": 2.0, "max_energy": 100.0, "iterations": 8,
                               "checkpoint_every": 2, "on_divergence": "rollback"})
    path = _write(tmp_path, config)
    with _no_overflow_warnings():
        assert cli.main(["train", str(path), "--out", str(tmp_path / "run")]) == 0
    rows = _lines(capsys.readouterr().out)  # NaN would fail here
    rollbacks = [r for r in rows if r.get("message", "").startswith("training diverged")]
    assert rollbacks and all(r["loss"] is None for r in rollbacks)
    assert rows[-1]["iteration"] == 8


def test_json_lines_write_non_finite_numbers_as_null_at_any_depth(capsys):
    """The one JSON-line writer of every subcommand (search, compose, texture and the applications
    use it): NaN/inf inside lists and nested dicts became bare NaN tokens in the compose/texture
    and application commands, which had writers of their own."""
    from engine.applications import cli_texture_compose
    from engine.experiments import search_cli

    obj = {"a": float("nan"), "b": [1.0, float("inf"), {"c": float("-inf")}], "d": (2.0, float("nan")),
           "e": np.float64("nan"), "f": {"g": [np.float32(1.5)]}}
    for emit in (cli._emit, search_cli._emit, cli_texture_compose._emit):
        emit(obj)
    rows = _lines(capsys.readouterr().out)
    assert len(rows) == 3
    for row in rows:
        assert row == {"a": None, "b": [1.0, None, {"c": None}], "d": [2.0, None], "e": None, "f": {"g": [1.5]}}


def test_argparse_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "x.toml"])  # --out is required
    assert info.value.code == 2
    assert "--out" in capsys.readouterr().err


def test_presets_lists_the_preset_files(capsys):
    assert cli.main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    stems = sorted(p.stem for p in PRESET_DIR.glob("*.toml"))
    assert stems and "8gaussians" in stems
    assert [line.split()[0] for line in lines] == stems
    eight = next(line for line in lines if line.startswith("8gaussians"))
    assert "8 Gaussians" in eight  # the file's first comment line


@contextlib.contextmanager
def _no_overflow_warnings():
    """Runs that blow up on purpose: NumPy's overflow warnings are expected."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
