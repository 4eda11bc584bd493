"""engine.ops.blas: gemm and matmul on strided views, on each library (OpenBLAS, and MKL where installed)."""

import numpy as np
import pytest

from engine.ops import blas


@pytest.fixture(autouse=True, params=["openblas", "mkl"])
def library(request, monkeypatch):
    """Every test runs on NumPy's OpenBLAS and, where the mkl package loads, on MKL, for any size."""
    monkeypatch.setattr(blas, "_SMALL", 0)
    if request.param == "openblas":
        monkeypatch.setattr(blas, "_mkl", {})
    elif not blas._mkl_gemms():
        pytest.skip(f"MKL is not used here: {blas.gemm_library()}")
    return request.param


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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_matches_numpy_on_views(dtype):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((40, 33)).astype(dtype)
    b = rng.standard_normal((50, 40)).astype(dtype)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    for x, y in ((a.T, b.T), (a[::2].T, b.T[:20]), (a.T[:, 1:7], b.T[:40, 3:9])):
        out = blas.matmul(x, y) if x.shape[1] == y.shape[0] else None
        if out is not None:
            assert out.dtype == dtype and out.shape == (x.shape[0], y.shape[1])
            np.testing.assert_allclose(out, x.astype(np.float64) @ y.astype(np.float64), rtol=tol, atol=tol)
    assert blas.matmul(a.T.astype(np.float32), b.T.astype(np.float64)).dtype == np.float64  # mixed: NumPy rules


def test_results_do_not_depend_on_where_the_operands_sit_in_memory(library):
    """Runs repeat bit for bit: the same product from copies at other alignments is identical."""
    rng = np.random.default_rng(4)
    for m, k, n in ((500, 128, 128), (37, 129, 61), (256, 512, 300)):
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        first = blas.matmul(a, b)
        for offset in (1, 3, 8, 15):
            a2 = np.empty(a.size + offset, np.float32)[offset:].reshape(a.shape)
            b2 = np.empty(b.size + offset, np.float32)[offset:].reshape(b.shape)
            a2[...], b2[...] = a, b
            np.testing.assert_array_equal(blas.matmul(a2, b2), first)


@pytest.mark.parametrize(("setting", "intel", "why"), [
    ("openblas", True, "EBM_BLAS=openblas"),
    ("gpu", True, "EBM_BLAS='gpu' is not one of auto, mkl, openblas"),
    ("auto", False, "not an Intel CPU"),
])
def test_mkl_is_not_used_when_told_or_on_other_cpus(monkeypatch, setting, intel, why):
    monkeypatch.setenv("EBM_BLAS", setting)
    monkeypatch.setattr(blas, "_intel_cpu", lambda: intel)
    fns, note = blas._load_mkl()
    assert fns == {} and why in note


def test_a_missing_mkl_package_is_reported(monkeypatch):
    monkeypatch.setenv("EBM_BLAS", "mkl")
    monkeypatch.setattr(blas, "_mkl_paths", lambda: ["/nonexistent/libmkl_rt.so.3"])
    assert blas._load_mkl() == ({}, "the mkl package is not installed")
    monkeypatch.setattr(blas, "_mkl", None)
    assert "OpenBLAS" in blas.gemm_library() and "not installed" in blas.gemm_library()


def test_gemm_goes_to_mkl_when_it_is_loaded(library, monkeypatch):
    calls = []
    lib = dict(blas._mkl_gemms())
    if library == "mkl":
        real = lib[np.dtype(np.float32)]
        lib[np.dtype(np.float32)] = lambda *args: calls.append(args[3:6]) or real(*args)
        monkeypatch.setattr(blas, "_mkl", lib)
    a = np.ones((4, 3), np.float32)
    out = blas.matmul(a, a.T)
    np.testing.assert_array_equal(out, np.full((4, 4), 3.0, np.float32))
    assert calls == ([(4, 4, 3)] if library == "mkl" else [])
