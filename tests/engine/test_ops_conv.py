"""engine.ops.conv: forward and both backwards against naive loops, torch, and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from engine.ops import conv, conv_rows
from tests.engine import reference as ref
from tests.gradcheck import check_gradients, forward_tolerance, parameterize, product_cases

# N, C, H, W: input; O outputs; k kernel; s stride; p padding.
CONV_CASES = [
    dict(N=1, C=1, H=5, W=5, O=1, k=1, s=1, p=0, bias=True),  # 1x1 kernel, batch 1
    dict(N=2, C=3, H=4, W=6, O=2, k=1, s=2, p=0, bias=True),  # 1x1 kernel with stride
    dict(N=2, C=3, H=7, W=5, O=4, k=3, s=1, p=1, bias=True),  # odd, non-square, "same" padding
    dict(N=1, C=2, H=8, W=6, O=3, k=3, s=2, p=0, bias=False),  # stride 2, last row/col unused
    dict(N=3, C=2, H=9, W=7, O=2, k=4, s=2, p=1, bias=True),  # k4 s2 p1 (W2's downsampling)
    dict(N=2, C=3, H=6, W=10, O=2, k=5, s=2, p=2, bias=True),  # k5 s2 p2
    dict(N=1, C=2, H=7, W=7, O=3, k=5, s=1, p=0, bias=True),  # k5 valid
    dict(N=2, C=1, H=11, W=9, O=3, k=5, s=2, p=4, bias=True),  # padding > k // 2 (W1's first layer)
    dict(N=2, C=3, H=4, W=4, O=1, k=4, s=1, p=0, bias=True),  # one output pixel (W2's last layer)
    dict(N=1, C=2, H=5, W=6, O=3, k=3, s=3, p=1, bias=False),  # stride 3
    dict(N=2, C=2, H=3, W=2, O=2, k=3, s=1, p=2, bias=True),  # input smaller than the kernel
    dict(N=1, C=2, H=5, W=8, O=2, k=2, s=2, p=1, bias=True),  # even kernel with padding
    dict(N=2, C=3, H=10, W=7, O=2, k=4, s=2, p=0, bias=False),  # k4 s2 valid, odd width
    dict(N=1, C=2, H=6, W=9, O=3, k=4, s=2, p=2, bias=True),  # k4 s2 p2, batch 1
    dict(N=2, C=2, H=11, W=8, O=2, k=6, s=3, p=1, bias=True),  # k6 s3: two row offsets of three phases
]


@pytest.fixture(autouse=True, params=["im2col", "row_windows"])
def conv_path(request, monkeypatch):
    """Every test runs on both paths: plain im2col, and row windows wherever k is a multiple of s > 1."""
    if request.param == "row_windows":
        monkeypatch.setattr(conv_rows, "pays_off", lambda o, k, s, *sizes: conv_rows.applies(k, s))
    else:
        monkeypatch.setattr(conv_rows, "pays_off", lambda *args: False)
    return request.param


def _data(N, C, H, W, O, k, bias, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((O, C, k, k)) / np.sqrt(C * k * k)
    b = rng.standard_normal(O) if bias else None
    return x, w, b


def test_layout_is_documented_in_conv():
    """The tests' idea of the activation layout (reference.IMAGE_LAYOUT) is what conv says it takes."""
    doc = " ".join(conv.conv2d_forward.__doc__.split())
    assert f"x: ({', '.join(ref.IMAGE_LAYOUT)})" in doc, (
        f"conv2d_forward's docstring no longer says x: ({', '.join(ref.IMAGE_LAYOUT)}); "
        "update tests/engine/reference.py IMAGE_LAYOUT"
    )


@parameterize(*product_cases(CONV_CASES, dtype=[np.float32, np.float64]))
def test_conv2d_forward_matches_naive_loops(N, C, H, W, O, k, s, p, bias, dtype):
    x, w, b = _data(N, C, H, W, O, k, bias)
    expected = ref.conv2d(x, w, b, s, p)
    xi = ref.to_internal(x).astype(dtype)
    y, _ = conv.conv2d_forward(xi, w.astype(dtype), None if b is None else b.astype(dtype), s, p)
    assert y.dtype == dtype
    assert y.shape == ref.internal_shape(N, O, ref.out_size(H, k, s, p), ref.out_size(W, k, s, p))
    np.testing.assert_allclose(ref.from_internal(y), expected, **forward_tolerance(dtype))


@parameterize(*CONV_CASES)
def test_conv2d_forward_accepts_strided_views(N, C, H, W, O, k, s, p, bias):
    """A non-contiguous input (a transposed view of (N, C, H, W)) gives the same result."""
    x, w, b = _data(N, C, H, W, O, k, bias, seed=1)
    y_view, _ = conv.conv2d_forward(ref.to_internal_view(x), w, b, s, p)
    np.testing.assert_allclose(ref.from_internal(y_view), ref.conv2d(x, w, b, s, p), rtol=1e-10, atol=1e-12)


@parameterize(*CONV_CASES)
def test_conv2d_matches_torch_float64(N, C, H, W, O, k, s, p, bias):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, w, b = _data(N, C, H, W, O, k, bias, seed=2)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True) if bias else None
    yt = F.conv2d(xt, wt, bt, stride=s, padding=p)
    gy = np.random.default_rng(3).standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(gy))

    xi = ref.to_internal(x)
    y, col = conv.conv2d_forward(xi, w, b, s, p)
    np.testing.assert_allclose(ref.from_internal(y), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    gyi = ref.to_internal(gy)
    gx = conv.conv2d_backward_input(gyi, w, xi.shape, s, p)
    assert gx.shape == xi.shape
    np.testing.assert_allclose(ref.from_internal(gx), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    gw, gb = conv.conv2d_backward_params(gyi, col, w.shape, bias)
    np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=1e-10, atol=1e-12)
    if bias:
        np.testing.assert_allclose(gb, bt.grad.numpy(), rtol=1e-10, atol=1e-12)
    else:
        assert gb is None


@parameterize(*product_cases(CONV_CASES, dtype=[np.float32, np.float64]))
def test_conv2d_backwards_match_naive_loops(N, C, H, W, O, k, s, p, bias, dtype):
    x, w, b = _data(N, C, H, W, O, k, bias, seed=4)
    oh, ow = ref.out_size(H, k, s, p), ref.out_size(W, k, s, p)
    gy = np.random.default_rng(5).standard_normal((N, O, oh, ow))
    xi = ref.to_internal(x).astype(dtype)
    _, col = conv.conv2d_forward(xi, w.astype(dtype), None if b is None else b.astype(dtype), s, p)
    gyi = ref.to_internal(gy).astype(dtype)
    tol = forward_tolerance(dtype)

    gx = conv.conv2d_backward_input(gyi, w.astype(dtype), xi.shape, s, p)
    assert gx.shape == xi.shape and gx.dtype == dtype
    np.testing.assert_allclose(ref.from_internal(gx), ref.conv2d_grad_input(gy, w, x.shape, s, p), **tol)

    gw, gb = conv.conv2d_backward_params(gyi, col, w.shape, bias)
    gw_ref, gb_ref = ref.conv2d_grad_params(gy, x, w.shape, s, p)
    assert gw.shape == w.shape and gw.dtype == dtype
    np.testing.assert_allclose(gw, gw_ref, **tol)
    if bias:
        assert gb.shape == (O,)
        np.testing.assert_allclose(gb, gb_ref, **tol)
    else:
        assert gb is None


@parameterize(*CONV_CASES)
def test_conv2d_gradcheck(N, C, H, W, O, k, s, p, bias):
    """float64 central differences w.r.t. x, w and b of the forward op."""
    x, w, b = _data(N, C, H, W, O, k, bias, seed=6)
    xi = ref.to_internal(x)
    wrt = {"x": xi, "w": w} | ({"b": b} if bias else {})

    def forward():
        return conv.conv2d_forward(xi, w, b, s, p)[0]

    def backward(gy):
        _, col = conv.conv2d_forward(xi, w, b, s, p)
        gw, gb = conv.conv2d_backward_params(gy, col, w.shape, bias)
        grads = {"x": conv.conv2d_backward_input(gy, w, xi.shape, s, p), "w": gw}
        if bias:
            grads["b"] = gb
        return grads

    check_gradients(forward, backward, wrt)


def test_conv2d_rejects_channel_mismatch():
    x = np.zeros(ref.internal_shape(1, 3, 5, 5))
    with pytest.raises(ValueError, match="channels"):
        conv.conv2d_forward(x, np.zeros((2, 4, 3, 3)), None, 1, 0)


def test_conv2d_does_not_modify_its_inputs():
    x, w, b = _data(2, 3, 6, 5, 2, 3, True, seed=7)
    xi = ref.to_internal(x)
    copies = [a.copy() for a in (xi, w, b)]
    y, col = conv.conv2d_forward(xi, w, b, 2, 1)
    gy = np.ones_like(y)
    conv.conv2d_backward_input(gy, w, xi.shape, 2, 1)
    conv.conv2d_backward_params(gy, col, w.shape, True)
    for a, c in zip((xi, w, b), copies):
        np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(gy, 1.0)


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(
    N=st.integers(1, 3), C=st.integers(1, 3), O=st.integers(1, 3),
    H=st.integers(1, 9), W=st.integers(1, 9),
    k=st.integers(1, 5), s=st.integers(1, 3), p=st.integers(0, 3),
)
def test_conv2d_random_shapes_match_torch(N, C, O, H, W, k, s, p):
    """Property: for any shape that fits, forward and both backwards equal torch's in float64."""
    torch = pytest.importorskip("torch")
    if H + 2 * p < k or W + 2 * p < k:
        return
    x, w, b = _data(N, C, H, W, O, k, True, seed=N * 1000 + H * 10 + W)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.conv2d(xt, wt, bt, stride=s, padding=p)
    gy = np.random.default_rng(8).standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(gy))
    xi = ref.to_internal(x)
    y, col = conv.conv2d_forward(xi, w, b, s, p)
    np.testing.assert_allclose(ref.from_internal(y), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    gyi = ref.to_internal(gy)
    np.testing.assert_allclose(ref.from_internal(conv.conv2d_backward_input(gyi, w, xi.shape, s, p)),
                               xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    gw, gb = conv.conv2d_backward_params(gyi, col, w.shape, True)
    np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gb, bt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_conv2d_empty_batch_forward_and_input_gradient():
    w, b = np.ones((2, 3, 3, 3)), np.zeros(2)
    x = np.zeros(ref.internal_shape(0, 3, 5, 5))
    y, _ = conv.conv2d_forward(x, w, b, 2, 1)
    assert y.shape == ref.internal_shape(0, 2, 3, 3)
    assert conv.conv2d_backward_input(np.zeros(y.shape), w, x.shape, 2, 1).shape == x.shape


def test_conv2d_empty_batch_parameter_gradient_is_zero():
    w, b = np.ones((2, 3, 3, 3)), np.zeros(2)
    x = np.zeros(ref.internal_shape(0, 3, 5, 5))
    y, col = conv.conv2d_forward(x, w, b, 2, 1)
    gw, gb = conv.conv2d_backward_params(np.zeros(y.shape), col, w.shape, True)
    assert gw.shape == w.shape and not np.any(gw)
    assert gb.shape == (2,) and not np.any(gb)


@parameterize(*CONV_CASES[2:6])
def test_conv2d_backwards_accept_strided_gradients(N, C, H, W, O, k, s, p, bias):
    """EnergyNet hands the last layer a transposed view as dL/dy; both backwards must read it right."""
    x, w, b = _data(N, C, H, W, O, k, bias, seed=9)
    oh, ow = ref.out_size(H, k, s, p), ref.out_size(W, k, s, p)
    gy = np.random.default_rng(10).standard_normal((N, O, oh, ow))
    xi = ref.to_internal(x)
    _, col = conv.conv2d_forward(xi, w, b, s, p)
    gx = conv.conv2d_backward_input(ref.to_internal_view(gy), w, xi.shape, s, p)
    np.testing.assert_allclose(ref.from_internal(gx), ref.conv2d_grad_input(gy, w, x.shape, s, p),
                               rtol=1e-10, atol=1e-12)
    gw, _ = conv.conv2d_backward_params(ref.to_internal_view(gy), col, w.shape, bias)
    np.testing.assert_allclose(gw, ref.conv2d_grad_params(gy, x, w.shape, s, p)[0], rtol=1e-10, atol=1e-12)


def test_each_path_keeps_its_own_col(conv_path):
    """Row windows gather s row phases over OH + k/s - 1 rows; im2col all k*k taps over OH rows."""
    x = np.zeros((2, 9, 7, 3))
    w = np.zeros((4, 2, 4, 4))
    y, col = conv.conv2d_forward(x, w, None, 2, 1)
    assert y.shape == (4, 4, 3, 3)
    expected = (2, 2, 4, 5, 3, 3) if conv_path == "row_windows" else (2, 4, 4, 4, 3, 3)
    assert col.shape == expected
