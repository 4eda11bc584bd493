"""Image experiments on the built-in digits: a ConvNet energy and JEM run a few tiny iterations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.errors import ConfigError
from engine.models.io import load_model
from engine.models.jem import JEM
from engine.training.trainer import Trainer

from .helpers import digits_config, toy_config


def _assert_finite(report):
    for name in ("loss", "e_pos", "e_neg", "grad_norm", "lr"):
        assert math.isfinite(getattr(report, name)), name


def test_convnet_energy_on_digits_runs(tmp_path):
    trainer = Trainer(digits_config(train={"samples_every": 1}), tmp_path / "run")
    assert trainer.train_set.input_shape == (1, 28, 28)
    reports = list(trainer.run())
    assert [r.iteration for r in reports] == [1, 2, 3]
    for r in reports:
        _assert_finite(r)
        assert r.accuracy is None
        assert r.samples.shape == (8, 1, 28, 28) and r.samples.dtype == np.float32
        assert r.samples.min() >= 0.0 and r.samples.max() <= 1.0  # sampler.clamp
    metrics = reports[-1].metrics
    assert set(metrics) == {"e_data", "mmd", "nn_distance", "ood_auroc_noise"}  # images: no grid likelihood
    assert metrics["nn_distance"] > 0 and 0.0 <= metrics["ood_auroc_noise"] <= 1.0
    assert math.isfinite(reports[-1].metrics["mmd"])
    net = load_model(tmp_path / "run" / "model.safetensors", xp=np)
    np.testing.assert_array_equal(net.energy(reports[-1].samples), trainer.model.energy(reports[-1].samples))


def test_jem_on_digits_reports_accuracy(tmp_path):
    config = digits_config(model={"kind": "jem", "preset": "jem_digits", "n_classes": 10},
                           train={"iterations": 2, "jem_gen_weight": 0.5})
    trainer = Trainer(config, tmp_path / "run")
    assert isinstance(trainer.model, JEM)
    reports = list(trainer.run())
    assert [r.iteration for r in reports] == [1, 2]
    for r in reports:
        _assert_finite(r)
        assert 0.0 <= r.accuracy <= 1.0  # on the training batch of 8: a multiple of 1/8
        assert r.accuracy * 8 == pytest.approx(round(r.accuracy * 8))
        assert "accuracy" in r.scalars()
    assert set(reports[-1].metrics) == {"accuracy", "e_data", "mmd", "nn_distance", "ood_auroc_noise"}
    assert 0.0 <= reports[-1].metrics["accuracy"] <= 1.0
    # the saved model is the classifier network (10 logits), which load_model reads back
    net = load_model(tmp_path / "run" / "model.safetensors", xp=np)
    assert net.output_size == 10


def test_jem_needs_labelled_data():
    config = toy_config(model={"kind": "jem", "preset": "",
                               "layers": [{"type": "linear", "in_features": 2, "out_features": 4}]})
    with pytest.raises(ConfigError) as info:
        Trainer(config)
    assert "model.kind = 'jem'" in str(info.value) and "labels" in str(info.value)


def test_a_model_that_does_not_fit_the_data_is_a_config_error():
    with pytest.raises(ConfigError, match="expects inputs of shape"):
        Trainer(digits_config(model={"preset": "mlp_2d"}))
