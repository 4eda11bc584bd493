"""The two input-gradient paths of the convolution agree, and gemm matches matmul."""

import numpy as np
import pytest

from engine.ops import blas, conv, conv_windows


def _naive_input_grad(gy, w, in_shape, s, p):
    """gx[c, h, w, n] = sum over o, i, j of w[o, c, i, j] gy[o, oh, ow, n] with h = s*oh + i - p."""
    O, oh, ow, N = gy.shape
    gx = np.zeros(in_shape)
    C, H, W, _ = in_shape
    k = w.shape[2]
    for a in range(oh):
        for b in range(ow):
            for i in range(k):
                for j in range(k):
                    h, v = s * a + i - p, s * b + j - p
                    if 0 <= h < H and 0 <= v < W:
                        gx[:, h, v, :] += np.einsum("oc,on->cn", w[:, :, i, j], gy[:, a, b, :])
    return gx


@pytest.mark.parametrize("shape", [
    # C, H, W, N, O, k, s, p
    (3, 7, 9, 2, 4, 3, 1, 1), (4, 8, 8, 3, 5, 4, 2, 1), (2, 9, 7, 1, 3, 5, 2, 4),
    (2, 5, 5, 2, 3, 2, 2, 0), (2, 7, 6, 2, 3, 2, 2, 0), (2, 11, 8, 2, 3, 3, 3, 2), (3, 6, 7, 2, 2, 1, 1, 0),
])
def test_window_and_col2im_input_gradients_match_the_naive_sum(shape):
    C, H, W, N, O, k, s, p = shape
    rng = np.random.default_rng(1)
    x = rng.standard_normal((C, H, W, N))
    w = rng.standard_normal((O, C, k, k))
    y, _ = conv.conv2d_forward(x, w, None, s, p)
    gy = rng.standard_normal(y.shape)
    ref = _naive_input_grad(gy, w, x.shape, s, p)
    np.testing.assert_allclose(conv_windows.backward_input(gy, w, x.shape, s, p), ref, atol=1e-12)
    np.testing.assert_allclose(conv.conv2d_backward_input(gy, w, x.shape, s, p), ref, atol=1e-12)


def test_window_path_is_chosen_for_wide_stride2_layers_only():
    if not blas.has_direct_blas():
        pytest.skip("NumPy is not linked to an OpenBLAS with cblas symbols")
    assert conv_windows.pays_off(channels=64, kernel=4, stride=2, out_width=16)
    assert not conv_windows.pays_off(channels=64, kernel=3, stride=2, out_width=16)  # odd kernel wastes taps
    assert not conv_windows.pays_off(channels=64, kernel=4, stride=2, out_width=8)
    assert not conv_windows.pays_off(channels=3, kernel=3, stride=1, out_width=32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("beta", [0.0, 1.0, 0.5])
def test_gemm_on_strided_and_transposed_views(dtype, beta):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((30, 70)).astype(dtype)[:, 5:45]  # rows not packed
    b_buf = rng.standard_normal((50, 90)).astype(dtype)
    b = b_buf[:40, 10:60]
    out_buf = rng.standard_normal((30, 80)).astype(dtype)
    out = out_buf[:, 3:53]
    expected = beta * out.astype(np.float64) + a.astype(np.float64) @ b.astype(np.float64)
    blas.gemm(a, b, out, beta=beta)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)
    # transposed operands: (K, M).T and (N, K).T views
    at = np.ascontiguousarray(a.T)
    bt = b_buf[:50, :40]
    res = np.empty((30, 50), dtype)
    blas.gemm(at.T, bt.T, res)
    np.testing.assert_allclose(res, a @ bt.T, rtol=tol, atol=tol)


def test_gemm_leaves_the_rest_of_the_buffer_alone():
    rng = np.random.default_rng(2)
    buf = rng.standard_normal((8, 20)).astype(np.float32)
    before = buf.copy()
    a = rng.standard_normal((8, 5)).astype(np.float32)
    b = rng.standard_normal((5, 10)).astype(np.float32)
    blas.gemm(a, b, buf[:, 4:14], beta=1.0)
    np.testing.assert_array_equal(buf[:, :4], before[:, :4])
    np.testing.assert_array_equal(buf[:, 14:], before[:, 14:])
    np.testing.assert_allclose(buf[:, 4:14], before[:, 4:14] + a @ b, rtol=1e-5)
