"""engine.ops.activations, engine.ops.dense and engine.ops.pooling against plain float64 formulas."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from engine.ops import activations as act
from engine.ops import dense, pooling
from tests.engine import reference as ref
from tests.gradcheck import check_gradients, forward_tolerance, parameterize, product, product_cases

# name -> (forward(x) -> (y, saved), backward(gy, saved) -> gx, reference f, reference f')
ACTIVATIONS = {
    "swish": (act.swish_forward, act.swish_backward, ref.swish, ref.swish_grad),
    "relu": (act.relu_forward, act.relu_backward, ref.relu, ref.relu_grad),
    "leaky_relu_0.2": (lambda x: act.leaky_relu_forward(x, 0.2), lambda g, s: act.leaky_relu_backward(g, s, 0.2),
                       lambda x: ref.leaky_relu(x, 0.2), lambda x: ref.leaky_relu_grad(x, 0.2)),
    "leaky_relu_0": (lambda x: act.leaky_relu_forward(x, 0.0), lambda g, s: act.leaky_relu_backward(g, s, 0.0),
                     lambda x: ref.leaky_relu(x, 0.0), lambda x: ref.leaky_relu_grad(x, 0.0)),
    "leaky_relu_1": (lambda x: act.leaky_relu_forward(x, 1.0), lambda g, s: act.leaky_relu_backward(g, s, 1.0),
                     lambda x: ref.leaky_relu(x, 1.0), lambda x: ref.leaky_relu_grad(x, 1.0)),
    "leaky_relu_2.5": (lambda x: act.leaky_relu_forward(x, 2.5), lambda g, s: act.leaky_relu_backward(g, s, 2.5),
                       lambda x: ref.leaky_relu(x, 2.5), lambda x: ref.leaky_relu_grad(x, 2.5)),
    "softplus": (act.softplus_forward, act.softplus_backward, ref.softplus, ref.softplus_grad),
    "elu_1": (lambda x: act.elu_forward(x, 1.0), lambda g, s: act.elu_backward(g, s, 1.0),
              lambda x: ref.elu(x, 1.0), lambda x: ref.elu_grad(x, 1.0)),
    "elu_0.3": (lambda x: act.elu_forward(x, 0.3), lambda g, s: act.elu_backward(g, s, 0.3),
                lambda x: ref.elu(x, 0.3), lambda x: ref.elu_grad(x, 0.3)),
}

SHAPES = [(1,), (7,), (3, 5), ref.internal_shape(2, 3, 4, 5), ref.internal_shape(1, 1, 3, 3)]


@parameterize(*product(name=list(ACTIVATIONS), shape=SHAPES, dtype=[np.float32, np.float64]))
def test_activation_forward_backward_match_formulas(name, shape, dtype):
    fwd, bwd, f, df = ACTIVATIONS[name]
    rng = np.random.default_rng(0)
    x = (3.0 * ref.away_from_zero(rng, shape, 0.01)).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    x_before, gy_before = x.copy(), gy.copy()
    y, saved = fwd(x)
    assert y.shape == x.shape and y.dtype == dtype
    tol = forward_tolerance(dtype)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(y, f(x64), **tol)
    gx = bwd(gy, saved)
    assert gx.shape == x.shape and gx.dtype == dtype
    np.testing.assert_allclose(gx, gy.astype(np.float64) * df(x64), **tol)
    np.testing.assert_array_equal(x, x_before)  # nothing in place on the caller's arrays
    np.testing.assert_array_equal(gy, gy_before)


@parameterize(*product(name=list(ACTIVATIONS), shape=[(2, 3), ref.internal_shape(2, 2, 3, 5)]))
def test_activation_gradcheck(name, shape):
    fwd, bwd, _, _ = ACTIVATIONS[name]
    x = ref.away_from_zero(np.random.default_rng(1), shape, 0.05)
    check_gradients(lambda: fwd(x)[0], lambda gy: {"x": bwd(gy, fwd(x)[1])}, {"x": x})


@parameterize(*product(name=list(ACTIVATIONS)))
def test_activation_accepts_strided_views(name):
    """Layers may hand over transposed views; results must equal those on a contiguous copy."""
    fwd, bwd, f, df = ACTIVATIONS[name]
    rng = np.random.default_rng(2)
    base = ref.away_from_zero(rng, (3, 4, 5, 2))
    x = base.transpose(3, 0, 1, 2)  # not contiguous
    gy = rng.standard_normal((2, 5, 4, 3)).transpose(0, 3, 2, 1)  # not contiguous either
    y, saved = fwd(x)
    np.testing.assert_allclose(y, f(x), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(bwd(gy, saved), gy * df(x), rtol=1e-12, atol=1e-14)


@parameterize(*product(name=list(ACTIVATIONS), dtype=[np.float32, np.float64]))
def test_activation_extreme_inputs_are_finite_and_quiet(name, dtype):
    """Langevin chains can push inputs far out: no overflow warnings, no inf/nan, exact limits."""
    fwd, bwd, f, df = ACTIVATIONS[name]
    x = np.array([-1e30, -1e4, -100.0, -30.0, -1e-3, 0.0, 1e-3, 30.0, 100.0, 1e4, 1e30], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y, saved = fwd(x)
        gx = bwd(np.ones_like(x), saved)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(gx))
    x64 = x.astype(np.float64)
    atol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(y, f(x64), rtol=1e-6, atol=atol)
    np.testing.assert_allclose(gx[x != 0], df(x64)[x != 0], rtol=1e-6, atol=atol)


# --- dense ---------------------------------------------------------------------------------------

LINEAR_CASES = [
    dict(N=1, fin=1, fout=1, bias=True),
    dict(N=1, fin=5, fout=3, bias=False),
    dict(N=3, fin=2, fout=7, bias=True),
    dict(N=4, fin=9, fout=1, bias=True),
]


@parameterize(*product_cases(LINEAR_CASES, dtype=[np.float32, np.float64]))
def test_linear_matches_loops(N, fin, fout, bias, dtype):
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((N, fin)), rng.standard_normal((fout, fin))
    b = rng.standard_normal(fout) if bias else None
    gy = rng.standard_normal((N, fout))
    cast = lambda a: None if a is None else a.astype(dtype)  # noqa: E731
    tol = forward_tolerance(dtype)
    y = dense.linear_forward(cast(x), cast(w), cast(b))
    assert y.shape == (N, fout) and y.dtype == dtype
    np.testing.assert_allclose(y, ref.linear(x, w, b), **tol)
    gx = dense.linear_backward_input(cast(gy), cast(w))
    assert gx.shape == (N, fin)
    np.testing.assert_allclose(gx, [[sum(gy[n, o] * w[o, i] for o in range(fout)) for i in range(fin)]
                                    for n in range(N)], **tol)
    gw, gb = dense.linear_backward_params(cast(gy), cast(x), bias)
    assert gw.shape == (fout, fin)
    np.testing.assert_allclose(gw, [[sum(gy[n, o] * x[n, i] for n in range(N)) for i in range(fin)]
                                    for o in range(fout)], **tol)
    if bias:
        np.testing.assert_allclose(gb, gy.sum(axis=0), **tol)
    else:
        assert gb is None


@parameterize(*LINEAR_CASES)
def test_linear_gradcheck(N, fin, fout, bias):
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((N, fin)), rng.standard_normal((fout, fin))
    b = rng.standard_normal(fout) if bias else None
    wrt = {"x": x, "w": w} | ({"b": b} if bias else {})

    def backward(gy):
        gw, gb = dense.linear_backward_params(gy, x, bias)
        return {"x": dense.linear_backward_input(gy, w), "w": gw} | ({"b": gb} if bias else {})

    check_gradients(lambda: dense.linear_forward(x, w, b), backward, wrt)


def test_linear_forward_leaves_inputs_alone():
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((2, 4)), rng.standard_normal(2)
    copies = [a.copy() for a in (x, w, b)]
    dense.linear_forward(x, w, b)
    for a, c in zip((x, w, b), copies):
        np.testing.assert_array_equal(a, c)


# --- pooling -------------------------------------------------------------------------------------

POOL_CASES = [
    dict(N=1, C=1, H=4, W=4, k=2, s=2),
    dict(N=2, C=3, H=5, W=7, k=2, s=2),  # odd sizes: last row/col dropped
    dict(N=1, C=2, H=6, W=5, k=3, s=1),  # overlapping windows
    dict(N=3, C=2, H=7, W=9, k=3, s=2),
    dict(N=2, C=1, H=5, W=5, k=5, s=5),  # one window
    dict(N=2, C=2, H=4, W=6, k=1, s=1),  # identity
    dict(N=1, C=2, H=9, W=8, k=4, s=3),
]


@parameterize(*product_cases(POOL_CASES, dtype=[np.float32, np.float64]))
def test_avg_pool2d_matches_loops(N, C, H, W, k, s, dtype):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((N, C, H, W))
    xi = ref.to_internal(x).astype(dtype)
    y = pooling.avg_pool2d_forward(xi, k, s)
    expected = ref.avg_pool2d(x, k, s)
    assert y.dtype == dtype and y.shape == ref.internal_shape(*expected.shape)
    tol = forward_tolerance(dtype)
    np.testing.assert_allclose(ref.from_internal(y), expected, **tol)
    gy = rng.standard_normal(expected.shape)
    gx = pooling.avg_pool2d_backward(ref.to_internal(gy).astype(dtype), xi.shape, k, s)
    assert gx.shape == xi.shape and gx.dtype == dtype
    np.testing.assert_allclose(ref.from_internal(gx), ref.avg_pool2d_grad_input(gy, x.shape, k, s), **tol)


@parameterize(*POOL_CASES)
def test_avg_pool2d_matches_torch(N, C, H, W, k, s):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(7).standard_normal((N, C, H, W))
    expected = torch.nn.functional.avg_pool2d(torch.tensor(x), k, s).numpy()
    y = pooling.avg_pool2d_forward(ref.to_internal_view(x), k, s)
    np.testing.assert_allclose(ref.from_internal(y), expected, rtol=1e-12, atol=1e-14)


@parameterize(*POOL_CASES)
def test_avg_pool2d_gradcheck(N, C, H, W, k, s):
    xi = ref.to_internal(np.random.default_rng(8).standard_normal((N, C, H, W)))
    check_gradients(lambda: pooling.avg_pool2d_forward(xi, k, s),
                    lambda gy: {"x": pooling.avg_pool2d_backward(gy, xi.shape, k, s)}, {"x": xi})
