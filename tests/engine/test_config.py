"""Model configs: architectures that cannot work raise ConfigError naming the layer; configs round-trip
through JSON."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from engine.errors import ConfigError, EBMError
from engine.models import PRESETS, EnergyNet


def conv(cin, cout, k, s=1, p=0, **extra):
    return {"type": "conv2d", "in_channels": cin, "out_channels": cout, "kernel_size": k, "stride": s,
            "padding": p, **extra}


def linear(fin, fout, **extra):
    return {"type": "linear", "in_features": fin, "out_features": fout, **extra}


SWISH, FLATTEN = {"type": "swish"}, {"type": "flatten"}


def build(config):
    return EnergyNet(config, seed=0, xp=np)


# (config, index of the offending layer, fragments the message must contain)
BAD_ARCHITECTURES = {
    "linear_after_conv_without_flatten": (
        {"input_shape": [1, 8, 8], "layers": [conv(1, 4, 3), SWISH, linear(144, 1)]}, 2, ["flatten"]),
    "wrong_in_channels": (
        {"input_shape": [1, 8, 8], "layers": [conv(1, 4, 3), SWISH, conv(3, 4, 3)]}, 2, ["3 channels", "(4, 6, 6)"]),
    "wrong_in_channels_first_layer": (
        {"input_shape": [3, 8, 8], "layers": [conv(1, 4, 3)]}, 0, ["1 channels"]),
    "kernel_larger_than_input": (
        {"input_shape": [1, 8, 8], "layers": [conv(1, 4, 3), SWISH, conv(4, 4, 9)]}, 2, ["kernel 9", "6x6"]),
    "wrong_in_features_after_flatten": (
        {"input_shape": [1, 8, 8], "layers": [conv(1, 4, 3), FLATTEN, linear(100, 1)]}, 2, ["100", "(144,)"]),
    "wrong_in_features_vector": (
        {"input_shape": [2], "layers": [linear(2, 8), SWISH, linear(7, 1)]}, 2, ["7 features", "(8,)"]),
    "conv_on_vectors": (
        {"input_shape": [4], "layers": [conv(4, 1, 1)]}, 0, ["(4,)"]),
    "conv_after_flatten": (
        {"input_shape": [1, 3, 3], "layers": [FLATTEN, conv(1, 1, 1)]}, 1, ["(9,)"]),
    "pool_on_vectors": (
        {"input_shape": [4], "layers": [{"type": "avg_pool2d", "kernel_size": 1}]}, 0, ["(4,)"]),
    "pool_larger_than_input": (
        {"input_shape": [1, 3, 3], "layers": [{"type": "avg_pool2d", "kernel_size": 4}]}, 0, ["kernel 4", "3x3"]),
    "w1_missing_flatten": (
        {"input_shape": [1, 28, 28],
         "layers": [layer for layer in PRESETS["W1"]()["layers"] if layer["type"] != "flatten"]}, 8, ["flatten"]),
}


@pytest.mark.parametrize("name", list(BAD_ARCHITECTURES))
def test_shape_errors_name_the_layer(name):
    config, index, fragments = BAD_ARCHITECTURES[name]
    kind = config["layers"][index]["type"]
    with pytest.raises(ConfigError) as info:
        build(config)
    message = str(info.value)
    assert f"layer {index}" in message and kind in message, message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize("spec,fragment", [
    ({"type": "swosh"}, "swosh"),
    ({"type": "swish", "beta": 1.0}, "beta"),
    (conv(4, 4, 3, strides=2), "strides"),
    ({"type": "linear", "in_features": 4}, "out_features"),
    ("swish", "type"),
    ({"kind": "swish"}, "type"),
    ({"type": "leaky_relu", "slope": -1}, "slope"),
    (conv(4, 4, 3, bias="no"), "bias"),  # a truthy string must not silently mean True
    (linear(144, 1, spectral_norm=1), "spectral_norm"),
    ({"type": "linear", "in_features": np.int64(144), "out_features": 1}, "in_features"),
])
def test_bad_layer_specs_are_refused_naming_the_layer(spec, fragment):
    before = FLATTEN if isinstance(spec, dict) and spec.get("type") == "linear" else SWISH
    config = {"input_shape": [1, 8, 8], "layers": [conv(1, 4, 3), before, spec]}
    with pytest.raises(ConfigError) as info:
        build(config)
    message = str(info.value)
    assert fragment in message and "layer 2" in message, message


@pytest.mark.parametrize("config,fragment", [
    ({"input_shape": [2], "layers": [linear(2, 1)], "seed": 3}, "seed"),
    ({"layers": [linear(2, 1)]}, "input_shape"),
    ({"input_shape": [2]}, "layers"),
    ({"input_shape": [2], "layers": []}, "layers"),
    ({"input_shape": [2], "layers": linear(2, 1)}, "layers"),
    ({"input_shape": [2, 3], "layers": [SWISH]}, "input_shape"),
    ({"input_shape": [0], "layers": [SWISH]}, "input_shape"),
    ({"input_shape": [2.0], "layers": [SWISH]}, "input_shape"),
    ({"input_shape": [True], "layers": [SWISH]}, "input_shape"),
    ({"input_shape": "2", "layers": [SWISH]}, "input_shape"),
    ({"input_shape": [np.int64(2)], "layers": [SWISH]}, "input_shape"),
    ([2, [linear(2, 1)]], "table"),
])
def test_bad_model_configs_are_refused(config, fragment):
    with pytest.raises(ConfigError, match=fragment):
        build(config)


def test_config_error_is_a_user_error_and_a_value_error():
    with pytest.raises(EBMError):
        build({"input_shape": [2], "layers": [linear(3, 1)]})
    with pytest.raises(ValueError):
        build({"input_shape": [2], "layers": [linear(3, 1)]})


def test_good_edge_cases_are_accepted():
    build({"input_shape": [1, 3, 3], "layers": [FLATTEN, FLATTEN, linear(9, 1)]})  # flatten twice
    build({"input_shape": (2,), "layers": (linear(2, 1),)})  # tuples are fine
    build({"input_shape": [3, 4, 4], "layers": [conv(3, 1, 4)]})  # one output pixel, no flatten
    build({"input_shape": [2], "layers": [{"type": "dense", "in_features": 2, "out_features": 1}]})  # alias


ROUND_TRIP = {name: make() for name, make in PRESETS.items()} | {
    "aliases_and_sn": {"input_shape": [2, 6, 5], "layers": [
        {"type": "conv", "in_channels": 2, "out_channels": 3, "kernel_size": 3, "padding": 1,
         "spectral_norm": True},
        {"type": "lrelu", "slope": 0.1}, {"type": "avgpool2d", "kernel_size": 2}, {"type": "silu"},
        {"type": "flatten"}, {"type": "dense", "in_features": 18, "out_features": 4, "bias": False},
        {"type": "elu", "alpha": 0.5}, {"type": "softplus"}, {"type": "relu"},
        {"type": "linear", "in_features": 4, "out_features": 1, "spectral_norm": True}]},
}


@pytest.mark.parametrize("name", list(ROUND_TRIP))
def test_config_round_trips_through_json(name):
    config = ROUND_TRIP[name]
    net = EnergyNet(config, seed=5, xp=np)
    text = net.to_json()
    again = EnergyNet(json.loads(text), seed=5, xp=np)
    assert again.to_json() == text
    assert json.loads(text) == json.loads(json.dumps(config))
    assert again.shapes == net.shapes
    for a, b in zip(net.state_dict().values(), again.state_dict().values()):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(6).standard_normal((2, *net.input_shape)).astype(np.float32)
    np.testing.assert_array_equal(again.outputs(x), net.outputs(x))
    other = EnergyNet(json.loads(text), seed=7, xp=np)
    assert not np.array_equal(other.outputs(x), net.outputs(x))


def test_net_keeps_its_own_copy_of_the_config():
    config = PRESETS["W1"]()
    original = copy.deepcopy(config)
    net = EnergyNet(config, xp=np)
    config["layers"][0]["out_channels"] = 99
    config["layers"].append(SWISH)
    assert net.config == original
    assert json.loads(net.to_json()) == original
