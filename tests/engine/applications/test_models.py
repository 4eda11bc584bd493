"""open_model: shipped names, run folders and files; JEM stays JEM; clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.applications import models as app_models
from engine.applications.models import OpenedModel, open_model, shipped_models
from engine.errors import ModelFileError
from engine.fileio import atomic_write_text
from engine.models import EnergyNet
from engine.models.io import save_model
from engine.models.jem import JEM
from engine.models.presets import mlp_2d
from engine.training.config import ExperimentConfig, dumps_config

JEM_ARCH = {"input_shape": [1, 6, 6], "layers": [
    {"type": "flatten"}, {"type": "linear", "in_features": 36, "out_features": 8}, {"type": "swish"},
    {"type": "linear", "in_features": 8, "out_features": 3}]}


def _energy_net() -> EnergyNet:
    return EnergyNet(mlp_2d(width=8, depth=2), seed=1, xp=np)


def test_file_opens_as_energy_with_defaults(tmp_path):
    net = _energy_net()
    path = save_model(tmp_path / "toy.safetensors", net)
    opened = open_model(path, xp=np)
    assert isinstance(opened, OpenedModel) and not opened.is_jem
    assert opened.input_shape == (2,) and opened.config is None and opened.name == "toy"
    assert opened.value_range == app_models.POINTS_RANGE
    x = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    np.testing.assert_array_equal(opened.model.energy(x), net.energy(x))
    assert open_model(opened) is opened  # an OpenedModel passes through


def test_classifier_file_comes_back_as_jem(tmp_path):
    net = EnergyNet(JEM_ARCH, seed=2, xp=np)
    opened = open_model(save_model(tmp_path / "clf.safetensors", net), xp=np)
    assert opened.is_jem and isinstance(opened.model, JEM) and opened.num_classes == 3
    x = np.random.default_rng(0).uniform(-1, 1, size=(4, 1, 6, 6)).astype(np.float32)
    f = net.outputs(x).astype(np.float64)
    expected = -np.log(np.exp(f).sum(axis=1))  # independent logsumexp
    np.testing.assert_allclose(opened.model.energy(x), expected, rtol=1e-5, atol=1e-5)
    assert opened.value_range == (-1.0, 1.0) and opened.is_image


def test_run_folder_reads_its_config(tmp_path):
    config = ExperimentConfig.from_dict({
        "name": "r", "data": {"name": "builtin_digits"},
        "model": {"kind": "jem", "preset": "", "input_shape": [1, 6, 6], "layers": JEM_ARCH["layers"],
                  "n_classes": 3},
        "sampler": {"clamp": [-0.5, 0.5], "step_size": 2.0, "n_steps": 7}})
    run = tmp_path / "run"
    run.mkdir()
    atomic_write_text(run / "config.toml", dumps_config(config))
    save_model(run / "model.safetensors", EnergyNet(JEM_ARCH, seed=2, xp=np))
    for ref in (run, run / "model.safetensors"):
        opened = open_model(ref, xp=np)
        assert opened.is_jem and opened.name == "run" and opened.dataset == "builtin_digits"
        assert opened.value_range == (-0.5, 0.5) and opened.config.sampler.n_steps == 7
        s = opened.sampler_settings()
        assert s["n_steps"] == 7 and s["step_size"] == 2.0 and s["clamp"] == (-0.5, 0.5)


def test_shipped_name_and_record(tmp_path, monkeypatch):
    monkeypatch.setattr(app_models, "MODELS_DIR", tmp_path)
    save_model(tmp_path / "tiny.safetensors", _energy_net())
    config = ExperimentConfig.from_dict({"data": {"name": "two_moons"}})
    (tmp_path / "tiny.json").write_text(json.dumps({"preset": "tiny", "config": config.to_dict()}))
    assert shipped_models() == ["tiny"]
    opened = open_model("tiny", xp=np)
    assert opened.dataset == "two_moons" and opened.info["preset"] == "tiny" and opened.name == "tiny"


@pytest.mark.parametrize("ref", ["no_such_model", "missing/dir", ""])
def test_missing_reference_lists_shipped_names(ref):
    with pytest.raises(ModelFileError) as err:
        open_model(ref)
    for name in shipped_models():
        assert name in str(err.value)
    assert "run folder" in str(err.value)


def test_bad_files_are_refused(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelFileError):
        open_model(bad)
    other = tmp_path / "x.npy"
    other.write_bytes(b"x")
    with pytest.raises(ModelFileError, match="not a .safetensors"):
        open_model(other)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.toml").write_text("")
    with pytest.raises(ModelFileError, match="no final model"):
        open_model(tmp_path / "run")


def test_shipped_models_open_with_their_training_settings():
    assert {"digits_convnet", "jem_digits"} <= set(shipped_models())
    energy = open_model("digits_convnet")
    assert not energy.is_jem and energy.input_shape == (1, 28, 28) and energy.dataset == "builtin_digits"
    assert energy.value_range == (-1.0, 1.0) and energy.info["iterations"] == energy.config.train.iterations
    jem = open_model("jem_digits")
    assert jem.is_jem and jem.num_classes == 10 and jem.config.model.kind == "jem"
    assert jem.info["metrics"]["val_accuracy"] > 0.9  # the record of its training run
    for name in ("digits_convnet", "jem_digits"):  # small enough to ship
        assert (app_models.MODELS_DIR / f"{name}.safetensors").stat().st_size < 1_000_000


def test_a_real_run_folder_opens_as_the_trainer_left_it(tmp_path):
    from engine.training.trainer import Trainer  # noqa: PLC0415

    config = ExperimentConfig.from_dict({
        "data": {"name": "two_moons", "n": 200}, "model": {"preset": "mlp_2d"},
        "sampler": {"n_steps": 2, "step_size": 0.01}, "buffer": {"capacity": 64},
        "train": {"iterations": 2, "batch_size": 16, "backend": "numpy", "eval_every": 100}})
    trainer = Trainer(config, run_dir=tmp_path / "run")
    list(trainer.run())
    opened = open_model(tmp_path / "run", xp=np)
    assert opened.dataset == "two_moons" and opened.config.train.iterations == 2 and not opened.is_jem
    x = np.random.default_rng(0).normal(size=(7, 2)).astype(np.float32)
    np.testing.assert_array_equal(opened.model.energy(x), trainer.model.energy(x))
