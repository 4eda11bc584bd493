"""engine.layers: every layer against a naive float64 reference, and float64 gradient checks
with respect to its input and every parameter (spectral norm with u, v held fixed)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ConfigError
from engine.layers import LAYER_TYPES, build_layer
from tests.engine import reference as ref
from tests.engine.reference import make_layer
from tests.gradcheck import check_layer_gradients, forward_tolerance, parameterize, product_cases


def sn_sigma(layer):
    """u^T W v from the layer's own buffers, computed here in float64."""
    w2 = np.asarray(layer.params["weight"], np.float64).reshape(layer.params["weight"].shape[0], -1)
    return float(layer.buffers["sn_u"] @ w2 @ layer.buffers["sn_v"])


def effective_weight_ref(layer):
    w = np.asarray(layer.params["weight"], np.float64)
    return w / sn_sigma(layer) if layer.config["spectral_norm"] else w


def bias_ref(layer):
    b = layer.params.get("bias")
    return None if b is None else np.asarray(b, np.float64)


# --- Conv2d ------------------------------------------------------------------------------------

CONV_LAYER_CASES = [
    dict(N=1, C=1, H=5, W=5, O=2, k=1, s=1, p=0),
    dict(N=2, C=3, H=7, W=5, O=4, k=3, s=1, p=1),
    dict(N=1, C=2, H=8, W=6, O=3, k=3, s=2, p=0),
    dict(N=3, C=2, H=9, W=7, O=2, k=4, s=2, p=1),
    dict(N=2, C=2, H=6, W=9, O=2, k=5, s=2, p=2),
    dict(N=2, C=1, H=7, W=7, O=3, k=5, s=2, p=4),
    dict(N=2, C=3, H=4, W=4, O=1, k=4, s=1, p=0),
]


def conv_spec(C, O, k, s, p, bias, sn):
    return {"type": "conv2d", "in_channels": C, "out_channels": O, "kernel_size": k, "stride": s,
            "padding": p, "bias": bias, "spectral_norm": sn}


@parameterize(*product_cases(CONV_LAYER_CASES, bias=[True, False], sn=[False, True],
                             dtype=[np.float32, np.float64]))
def test_conv2d_layer_forward(N, C, H, W, O, k, s, p, bias, sn, dtype):
    layer = make_layer(conv_spec(C, O, k, s, p, bias, sn), dtype, seed=1)
    assert layer.params["weight"].shape == (O, C, k, k) and layer.params["weight"].dtype == dtype
    assert ("bias" in layer.params) == bias
    assert set(layer.buffers) == ({"sn_u", "sn_v"} if sn else set())
    x = np.random.default_rng(2).standard_normal((N, C, H, W))
    y = layer.forward(ref.to_internal(x).astype(dtype))
    expected = ref.conv2d(x, effective_weight_ref(layer), bias_ref(layer), s, p)
    assert y.dtype == dtype
    assert y.shape == ref.internal_shape(N, *layer.output_shape((C, H, W)))
    np.testing.assert_allclose(ref.from_internal(y), expected, **forward_tolerance(dtype))


@parameterize(*product_cases(CONV_LAYER_CASES, bias=[True, False], sn=[False, True]))
def test_conv2d_layer_gradcheck(N, C, H, W, O, k, s, p, bias, sn):
    layer = make_layer(conv_spec(C, O, k, s, p, bias, sn), seed=3)
    x = ref.to_internal(np.random.default_rng(4).standard_normal((N, C, H, W)))
    worst = check_layer_gradients(layer, x, max_entries=60)
    assert set(worst) == {"x", "params['weight']"} | ({"params['bias']"} if bias else set())


# --- Linear ------------------------------------------------------------------------------------

LINEAR_LAYER_CASES = [
    dict(N=1, fin=1, fout=1),
    dict(N=1, fin=6, fout=3),
    dict(N=3, fin=4, fout=7),
    dict(N=2, fin=10, fout=1),
]


def linear_spec(fin, fout, bias, sn):
    return {"type": "linear", "in_features": fin, "out_features": fout, "bias": bias, "spectral_norm": sn}


@parameterize(*product_cases(LINEAR_LAYER_CASES, bias=[True, False], sn=[False, True],
                             dtype=[np.float32, np.float64]))
def test_linear_layer_forward(N, fin, fout, bias, sn, dtype):
    layer = make_layer(linear_spec(fin, fout, bias, sn), dtype, seed=5)
    assert layer.params["weight"].shape == (fout, fin)
    x = np.random.default_rng(6).standard_normal((N, fin))
    y = layer.forward(x.astype(dtype))
    assert y.dtype == dtype and y.shape == (N, *layer.output_shape((fin,)))
    np.testing.assert_allclose(y, ref.linear(x, effective_weight_ref(layer), bias_ref(layer)),
                               **forward_tolerance(dtype))


@parameterize(*product_cases(LINEAR_LAYER_CASES, bias=[True, False], sn=[False, True]))
def test_linear_layer_gradcheck(N, fin, fout, bias, sn):
    layer = make_layer(linear_spec(fin, fout, bias, sn), seed=7)
    x = np.random.default_rng(8).standard_normal((N, fin))
    check_layer_gradients(layer, x)


def test_weight_init_matches_pytorch_default_bounds():
    """Kaiming-uniform(a=sqrt(5)) as in PyTorch: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias."""
    conv = make_layer(conv_spec(4, 64, 3, 1, 1, True, False), seed=9)
    lin = make_layer(linear_spec(50, 200, True, False), seed=9)
    for layer, fan_in in ((conv, 36), (lin, 50)):
        bound = 1 / np.sqrt(fan_in)
        for p in layer.params.values():
            assert np.abs(p).max() <= bound
            assert np.abs(p).max() > 0.9 * bound  # really spread over the interval
    again = make_layer(conv_spec(4, 64, 3, 1, 1, True, False), seed=9)
    np.testing.assert_array_equal(conv.params["weight"], again.params["weight"])


# --- parameter-free layers -----------------------------------------------------------------------

ACTIVATION_LAYERS = [
    ({"type": "swish"}, ref.swish),
    ({"type": "silu"}, ref.swish),
    ({"type": "relu"}, ref.relu),
    ({"type": "leaky_relu"}, lambda x: ref.leaky_relu(x, 0.2)),  # the default slope
    ({"type": "leaky_relu", "slope": 0.05}, lambda x: ref.leaky_relu(x, 0.05)),
    ({"type": "lrelu", "slope": 0.0}, lambda x: ref.leaky_relu(x, 0.0)),
    ({"type": "softplus"}, ref.softplus),
    ({"type": "elu"}, lambda x: ref.elu(x, 1.0)),
    ({"type": "elu", "alpha": 0.5}, lambda x: ref.elu(x, 0.5)),
]
ACT_SHAPES = [(3, 4), ref.internal_shape(2, 3, 5, 4), ref.internal_shape(1, 2, 3, 3)]


def _act_id(spec):
    return "-".join(str(v) for v in spec.values())


@pytest.mark.parametrize("shape", ACT_SHAPES, ids=str)
@pytest.mark.parametrize("spec,f", ACTIVATION_LAYERS, ids=[_act_id(s) for s, _ in ACTIVATION_LAYERS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_activation_layer_forward(spec, f, shape, dtype):
    layer = make_layer(spec, dtype)
    assert layer.params == {}
    x = ref.away_from_zero(np.random.default_rng(10), shape)
    y = layer.forward(x.astype(dtype))
    assert y.shape == x.shape and y.dtype == dtype
    np.testing.assert_allclose(y, f(x.astype(dtype).astype(np.float64)), **forward_tolerance(dtype))
    assert layer.output_shape((3, 5, 4)) == (3, 5, 4)


@pytest.mark.parametrize("shape", ACT_SHAPES, ids=str)
@pytest.mark.parametrize("spec,f", ACTIVATION_LAYERS, ids=[_act_id(s) for s, _ in ACTIVATION_LAYERS])
def test_activation_layer_gradcheck(spec, f, shape):
    layer = make_layer(spec)
    check_layer_gradients(layer, ref.away_from_zero(np.random.default_rng(11), shape))


POOL_LAYER_CASES = [
    dict(N=1, C=1, H=4, W=4, k=2, stride=None),
    dict(N=2, C=3, H=7, W=5, k=2, stride=None),
    dict(N=2, C=2, H=6, W=7, k=3, stride=1),
    dict(N=3, C=1, H=9, W=6, k=3, stride=2),
    dict(N=1, C=2, H=8, W=8, k=4, stride=None),
]


@parameterize(*product_cases(POOL_LAYER_CASES, dtype=[np.float32, np.float64]))
def test_avg_pool2d_layer_forward(N, C, H, W, k, stride, dtype):
    layer = make_layer({"type": "avg_pool2d", "kernel_size": k, "stride": stride}, dtype)
    x = np.random.default_rng(12).standard_normal((N, C, H, W))
    y = layer.forward(ref.to_internal(x).astype(dtype))
    expected = ref.avg_pool2d(x, k, stride or k)  # stride None means the kernel size, as in PyTorch
    assert y.dtype == dtype and y.shape == ref.internal_shape(N, *layer.output_shape((C, H, W)))
    np.testing.assert_allclose(ref.from_internal(y), expected, **forward_tolerance(dtype))


@parameterize(*POOL_LAYER_CASES)
def test_avg_pool2d_layer_gradcheck(N, C, H, W, k, stride):
    layer = make_layer({"type": "avg_pool2d", "kernel_size": k, "stride": stride})
    check_layer_gradients(layer, ref.to_internal(np.random.default_rng(13).standard_normal((N, C, H, W))))


@pytest.mark.parametrize("N,C,H,W", [(1, 1, 1, 1), (2, 3, 4, 5), (3, 2, 5, 3), (1, 4, 2, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_flatten_layer_uses_pytorch_order(N, C, H, W, dtype):
    layer = make_layer({"type": "flatten"}, dtype)
    x = np.random.default_rng(14).standard_normal((N, C, H, W)).astype(dtype)
    y = layer.forward(ref.to_internal(x), save=True)
    assert layer.output_shape((C, H, W)) == (C * H * W,)
    np.testing.assert_array_equal(y, x.reshape(N, -1))  # torch.flatten(x, 1)
    gy = np.random.default_rng(15).standard_normal((N, C * H * W)).astype(dtype)
    gx = layer.backward(gy)
    np.testing.assert_array_equal(ref.from_internal(gx), gy.reshape(N, C, H, W))


@pytest.mark.parametrize("N,C,H,W", [(1, 1, 2, 3), (2, 3, 4, 5)])
def test_flatten_layer_gradcheck(N, C, H, W):
    layer = make_layer({"type": "flatten"})
    check_layer_gradients(layer, ref.to_internal(np.random.default_rng(16).standard_normal((N, C, H, W))))


def test_flatten_passes_vectors_through():
    layer = make_layer({"type": "flatten"})
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(layer.forward(x, save=True), x)
    np.testing.assert_array_equal(layer.backward(x + 1), x + 1)
    assert layer.output_shape((3,)) == (3,)


# --- the layer protocol --------------------------------------------------------------------------

ALL_LAYER_SPECS = [
    conv_spec(2, 3, 3, 1, 1, True, False),
    conv_spec(2, 3, 3, 2, 0, True, True),
    {"type": "avg_pool2d", "kernel_size": 2},
    {"type": "flatten"},
    {"type": "global_sum"},  # gradient checks in test_layer_global_sum.py
    linear_spec(4, 3, True, False),
    linear_spec(4, 3, False, True),
    {"type": "swish"}, {"type": "relu"}, {"type": "leaky_relu"}, {"type": "softplus"}, {"type": "elu"},
]


def test_every_registered_layer_type_is_tested():
    assert {build_layer(s).kind for s in ALL_LAYER_SPECS} == set(LAYER_TYPES)


def _input_for(layer, rng):
    if layer.kind in ("linear",):
        return rng.standard_normal((2, layer.config["in_features"]))
    channels = layer.config.get("in_channels", 2)
    return ref.to_internal(rng.standard_normal((2, channels, 6, 6)))


@pytest.mark.parametrize("spec", ALL_LAYER_SPECS, ids=[s["type"] for s in ALL_LAYER_SPECS])
def test_backward_needs_a_saving_forward_and_consumes_it(spec):
    layer = make_layer(spec)
    x = _input_for(layer, np.random.default_rng(17))
    y = layer.forward(x)  # save=False keeps nothing
    with pytest.raises(RuntimeError):
        layer.backward(np.ones_like(y))
    y = layer.forward(x, save=True)
    layer.backward(np.ones_like(y))
    with pytest.raises(RuntimeError):  # the saved state is used once
        layer.backward(np.ones_like(y))


@pytest.mark.parametrize("spec", ALL_LAYER_SPECS, ids=[s["type"] for s in ALL_LAYER_SPECS])
def test_forward_and_backward_leave_inputs_alone(spec):
    layer = make_layer(spec)
    rng = np.random.default_rng(18)
    x = _input_for(layer, rng)
    x0 = x.copy()
    y = layer.forward(x, save=True, param_grads=True)
    y0 = y.copy()
    gy = rng.standard_normal(y.shape)
    gy0 = gy.copy()
    layer.backward(gy, param_grads=True)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(gy, gy0)
    np.testing.assert_array_equal(y, y0)  # the output (which may be saved) is not reused as scratch


@pytest.mark.parametrize("spec", [s for s in ALL_LAYER_SPECS if s["type"] in ("conv2d", "linear")],
                         ids=lambda s: f"{s['type']}-sn={s['spectral_norm']}")
def test_parameter_gradients_need_param_grads_forward(spec):
    layer = make_layer(spec)
    x = _input_for(layer, np.random.default_rng(19))
    y = layer.forward(x, save=True, param_grads=False)
    with pytest.raises(RuntimeError, match="param_grads"):
        layer.backward(np.ones_like(y), param_grads=True)


@pytest.mark.parametrize("spec", [s for s in ALL_LAYER_SPECS if s["type"] in ("conv2d", "linear")],
                         ids=lambda s: f"{s['type']}-sn={s['spectral_norm']}")
def test_input_gradient_is_the_same_with_and_without_param_grads(spec):
    layer = make_layer(spec)
    x = _input_for(layer, np.random.default_rng(20))
    y = layer.forward(x, save=True, param_grads=False)
    gy = np.random.default_rng(21).standard_normal(y.shape)
    gx1 = layer.backward(gy, param_grads=False)
    assert layer.grads == {}  # no parameter gradients were asked for
    layer.forward(x, save=True, param_grads=True)
    gx2 = layer.backward(gy, param_grads=True)
    np.testing.assert_allclose(gx1, gx2, rtol=1e-14, atol=1e-15)
    assert set(layer.grads) == set(layer.params)


@pytest.mark.parametrize("spec", ALL_LAYER_SPECS, ids=[s["type"] for s in ALL_LAYER_SPECS])
def test_spec_round_trips(spec):
    layer = build_layer(dict(spec))
    again = build_layer(layer.spec())
    assert again.spec() == layer.spec() and type(again) is type(layer)


@pytest.mark.parametrize("spec,message", [
    ({"type": "leaky_relu", "slope": -0.1}, "slope"),
    ({"type": "leaky_relu", "slope": "0.2"}, "slope"),
    ({"type": "elu", "alpha": 0.0}, "alpha"),
    ({"type": "elu", "alpha": True}, "alpha"),
    (conv_spec(2, 3, 0, 1, 0, True, False), "kernel_size"),
    (conv_spec(2, 3, 3, 0, 0, True, False), "stride"),
    (conv_spec(2, 3, 3, 1, -1, True, False), "padding"),
    (conv_spec(2, 3, 3.0, 1, 0, True, False), "kernel_size"),
    (conv_spec(True, 3, 3, 1, 0, True, False), "in_channels"),
    (linear_spec(0, 3, True, False), "in_features"),
    ({"type": "linear", "in_features": 3}, "out_features"),  # missing required
    ({"type": "avg_pool2d", "kernel_size": 2, "stride": 0}, "stride"),
    ({"type": "avg_pool2d"}, "kernel_size"),
    ({"type": "swish", "beta": 2.0}, "beta"),  # unknown key
    ({"type": "conv2d", "in_channels": 1, "out_channels": 1, "kernel_size": 3, "dilation": 2}, "dilation"),
    ({"type": "maxout"}, "maxout"),  # unknown type
    ({"kind": "linear"}, "type"),
    ("linear", "type"),
])
def test_bad_layer_specs_raise_config_error(spec, message):
    with pytest.raises(ConfigError, match=message):
        build_layer(spec)
