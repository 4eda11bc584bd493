"""Which convolution path is chosen, and gemm matches matmul (both paths are checked in test_ops_conv)."""

import numpy as np
import pytest

from engine.ops import blas, conv_rows


def test_row_window_path_is_chosen_where_it_saves_memory_traffic():
    if not blas.has_direct_blas():
        pytest.skip("NumPy is not linked to an OpenBLAS with cblas symbols")
    # W2's layers at 32 images: 64 and 128 channels in, 16x16 and 8x8 out; 256 in, 4x4 out
    assert conv_rows.pays_off(out_channels=128, kernel=4, stride=2, oh=16, ow=16, n=32)
    assert conv_rows.pays_off(out_channels=256, kernel=4, stride=2, oh=8, ow=8, n=32)
    assert not conv_rows.pays_off(out_channels=512, kernel=4, stride=2, oh=4, ow=4, n=32)
    assert not conv_rows.pays_off(out_channels=64, kernel=3, stride=2, oh=16, ow=16, n=32)  # k not a multiple of s
    assert not conv_rows.pays_off(out_channels=64, kernel=2, stride=2, oh=16, ow=16, n=32)  # one row offset
    assert not conv_rows.pays_off(out_channels=64, kernel=3, stride=1, oh=32, ow=32, n=32)


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
