"""ExperimentConfig: defaults, TOML round trips, and errors that name the key and what is allowed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.training.config import (
    ExperimentConfig,
    TrainConfig,
    dumps_config,
    load_config,
)

from .helpers import TINY_MLP, digits_config, toy_config

PRESET_DIR = Path(__file__).resolve().parents[3] / "resources" / "presets"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiment.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- defaults ---------------------------------------------------------------------------------


def test_defaults_are_a_valid_2d_experiment():
    c = ExperimentConfig()
    assert (c.data.name, c.model.kind, c.model.preset, c.sampler.kind) == ("8gaussians", "energy", "mlp_2d",
                                                                          "langevin")
    assert ExperimentConfig.from_dict({}) == c
    assert ExperimentConfig.from_dict(c.to_dict()) == c  # every default passes its own checks


def test_empty_file_is_the_default_experiment(tmp_path):
    assert load_config(write(tmp_path, "")) == ExperimentConfig()


@pytest.mark.parametrize("path", sorted(PRESET_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_every_preset_file_loads_and_round_trips(path, tmp_path):
    config = load_config(path)
    assert load_config(write(tmp_path, dumps_config(config))) == config


def test_int_is_accepted_for_a_float_setting():
    c = ExperimentConfig.from_dict({"train": {"lr": 1}})
    assert c.train.lr == 1.0 and isinstance(c.train.lr, float)


# --- TOML round trip ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    ExperimentConfig,
    toy_config,
    digits_config,
    lambda: digits_config(model={"kind": "jem", "preset": "jem_digits", "n_classes": 10},
                          sampler={"kind": "mala", "clamp": [-1.0, 1.0]},
                          buffer={"storage": "uint8", "init": "data"},
                          train={"optimizer": "adamw", "betas": [0.5, 0.99], "schedule": "cosine",
                                 "on_divergence": "rollback", "dtype": "float64", "jem_gen_weight": 0.5}),
    lambda: ExperimentConfig(name="from a file").replace(
        data={"name": "file", "path": "some/folder", "format": "folder", "size": 16, "mode": "rgb"}),
], ids=["defaults", "toy_with_layers", "digits", "jem_everything_changed", "data_file"])
def test_dumps_then_load_gives_an_equal_config(make, tmp_path):
    config = make()
    loaded = load_config(write(tmp_path, dumps_config(config)))
    assert loaded == config
    assert loaded.to_dict() == config.to_dict()


def test_round_trip_keeps_an_empty_preset_next_to_layers(tmp_path):
    # preset "" means "use model.layers"; leaving it out of the file would read back as "mlp_2d"
    config = toy_config()
    assert config.model.preset == "" and config.model.layers == TINY_MLP
    assert load_config(write(tmp_path, dumps_config(config))).model.preset == ""


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("data, key, allowed", [
    ({"trian": {}}, "trian", ["buffer", "data", "model", "name", "sampler", "train"]),
    ({"train": {"learning_rate": 0.1}}, "train.learning_rate", ["lr", "batch_size", "iterations", "optimizer"]),
    ({"sampler": {"steps": 3}}, "sampler.steps", ["n_steps", "step_size", "noise", "clamp"]),
])
def test_unknown_key_names_the_key_and_lists_the_allowed_ones(data, key, allowed):
    with pytest.raises(ConfigError) as info:
        ExperimentConfig.from_dict(data)
    msg = str(info.value)
    assert key in msg and "allowed" in msg
    listed = msg.split("allowed:")[1]
    for name in allowed:
        assert name in listed


def test_unknown_key_in_a_file_names_the_file_and_the_key(tmp_path):
    path = write(tmp_path, "[train]\nlr = 0.01\nbatchsize = 8\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and "train.batchsize" in str(info.value)
    assert "batch_size" in str(info.value).split("allowed:")[1]


@pytest.mark.parametrize("data, fragments", [
    # wrong type
    ({"train": {"iterations": "ten"}}, ["train.iterations", "int", "'ten'"]),
    ({"train": {"iterations": 2.5}}, ["train.iterations", "int"]),
    ({"train": {"iterations": True}}, ["train.iterations", "int"]),
    ({"train": {"lr": "fast"}}, ["train.lr", "float"]),
    ({"model": {"layers": "linear"}}, ["model.layers", "list"]),
    ({"train": 3}, ["train", "table"]),
    # out of range
    ({"train": {"lr": 0.0}}, ["train.lr", "> 0"]),
    ({"train": {"batch_size": 0}}, ["train.batch_size", ">= 1"]),
    ({"buffer": {"reinit_prob": 1.5}}, ["buffer.reinit_prob", "<= 1.0"]),
    ({"data": {"val_fraction": 0.95}}, ["data.val_fraction", "<= 0.9"]),
    ({"sampler": {"step_size": -0.1}}, ["sampler.step_size", "> 0"]),
    # bad choice
    ({"train": {"optimizer": "rmsprop"}}, ["train.optimizer", "'rmsprop'", "'adam'", "'adamw'", "'sgd'"]),
    ({"sampler": {"kind": "gibbs"}}, ["sampler.kind", "'langevin'", "'mala'", "'hmc'"]),
    ({"train": {"on_divergence": "ignore"}}, ["train.on_divergence", "'stop'", "'rollback'"]),
    ({"model": {"kind": "gan"}}, ["model.kind", "'energy'", "'jem'"]),
    # settings that only fail together
    ({"sampler": {"clamp": [1.0, -1.0]}}, ["sampler.clamp", "low < high"]),
    ({"train": {"betas": [0.9]}}, ["train.betas", "[0, 1)"]),
    ({"model": {"preset": ""}}, ["model.preset", "model.layers"]),
    ({"data": {"name": "file"}}, ["data.path"]),
])
def test_bad_value_names_the_key_and_what_is_allowed(data, fragments):
    with pytest.raises(ConfigError) as info:
        ExperimentConfig.from_dict(data)
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize("text, fragment", [
    ("[train\nlr = 1", "not valid TOML"),
    ("[train]\noptimizer = 'lion'\n", "train.optimizer"),
])
def test_bad_file_raises_config_error_with_the_path(tmp_path, text, fragment):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and fragment in str(info.value)


def test_missing_file_raises_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml")


# --- replace -----------------------------------------------------------------------------------


def test_replace_changes_only_what_is_asked_and_leaves_the_original_alone():
    c = ExperimentConfig()
    d = c.replace(train={"lr": 1e-4, "iterations": 7}, sampler={"kind": "hmc"})
    assert (d.train.lr, d.train.iterations, d.sampler.kind) == (1e-4, 7, "hmc")
    assert (c.train.lr, c.train.iterations, c.sampler.kind) == (1e-3, 2000, "langevin")
    assert d.data == c.data and d.model == c.model and d.buffer == c.buffer
    assert dataclasses.replace(d.train, lr=1e-3, iterations=2000) == c.train


def test_replace_does_not_share_lists_with_the_original():
    c = toy_config()
    d = c.replace(train={"lr": 0.5})
    d.model.layers.append({"type": "swish"})
    d.train.betas[0] = 0.5
    assert c.model.layers == TINY_MLP and c.train.betas == TrainConfig().betas


@pytest.mark.parametrize("sections, fragment", [
    ({"train": {"lr": -1.0}}, "train.lr"),
    ({"train": {"lrr": 1.0}}, "train.lrr"),
    ({"optimizer": {"lr": 1.0}}, "optimizer"),
])
def test_replace_checks_like_loading(sections, fragment):
    with pytest.raises(ConfigError) as info:
        ExperimentConfig().replace(**sections)
    assert fragment in str(info.value)
