"""The shared gradient-check helper (tests/gradcheck.py) catches wrong gradients and says where."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.reference import make_layer
from tests.gradcheck import (
    case_id,
    check_gradients,
    check_layer_gradients,
    parameterize,
    product,
    product_cases,
    sample_indices,
)


def _quadratic(a, wrong_at=None, factor=1.0):
    """y = a**2 (elementwise) with an analytic gradient that may be wrong at one index."""

    def backward(gy):
        g = 2 * a * gy
        if wrong_at is not None:
            g[wrong_at] *= factor
        return {"a": g}

    return (lambda: a**2), backward


def test_correct_gradient_passes_and_reports_small_errors():
    a = np.random.default_rng(0).standard_normal((3, 4))
    forward, backward = _quadratic(a)
    worst = check_gradients(forward, backward, {"a": a})
    assert set(worst) == {"a"} and worst["a"] < 1e-8


def test_wrong_entry_is_named_and_arrays_are_restored():
    a = np.random.default_rng(1).standard_normal((3, 4))
    a0 = a.copy()
    forward, backward = _quadratic(a, wrong_at=(2, 1), factor=1.001)
    with pytest.raises(AssertionError, match=r"'a'.*1 of 12.*index \(2, 1\)"):
        check_gradients(forward, backward, {"a": a})
    np.testing.assert_array_equal(a, a0)


def test_subset_still_finds_a_globally_wrong_gradient():
    a = np.random.default_rng(2).standard_normal(5000)
    forward = lambda: np.sin(a)  # noqa: E731
    with pytest.raises(AssertionError, match="200 checked entries"):
        check_gradients(forward, lambda gy: {"a": -np.cos(a) * gy}, {"a": a})  # sign error


def test_missing_or_misshaped_gradients_fail():
    a = np.ones(3)
    with pytest.raises(AssertionError, match="expected"):
        check_gradients(lambda: a * 2, lambda gy: {}, {"a": a})
    with pytest.raises(AssertionError, match="shape"):
        check_gradients(lambda: a * 2, lambda gy: {"a": np.ones(4)}, {"a": a})


def test_needs_writable_float64():
    a = np.ones(3, np.float32)
    with pytest.raises(TypeError, match="float64"):
        check_gradients(lambda: a, lambda gy: {"a": gy}, {"a": a})


def test_sample_indices():
    rng = np.random.default_rng(3)
    assert sample_indices((2, 3), 200, rng) == [(i, j) for i in range(2) for j in range(3)]
    idx = sample_indices((100, 100), 50, np.random.default_rng(4))
    assert len(idx) == len(set(idx)) == 50
    assert idx == sample_indices((100, 100), 50, np.random.default_rng(4))  # deterministic


def test_layer_check_catches_a_broken_parameter_gradient(monkeypatch):
    layer = make_layer({"type": "linear", "in_features": 3, "out_features": 2}, seed=5)
    x = np.random.default_rng(6).standard_normal((4, 3))
    check_layer_gradients(layer, x)
    original = type(layer).backward

    def broken(self, gy, param_grads=False):
        gx = original(self, gy, param_grads)
        if param_grads:
            self.grads["bias"] = self.grads["bias"] * 1.01
        return gx

    monkeypatch.setattr(type(layer), "backward", broken)
    with pytest.raises(AssertionError, match=r"params\['bias'\]"):
        check_layer_gradients(layer, x)


def test_parametrisation_helpers():
    cases = product(a=[1, 2], dtype=[np.float32, np.float64])
    assert cases == [{"a": 1, "dtype": np.float32}, {"a": 1, "dtype": np.float64},
                     {"a": 2, "dtype": np.float32}, {"a": 2, "dtype": np.float64}]
    assert product_cases([{"k": 3}, {"k": 5}], s=[1, 2]) == [{"k": 3, "s": 1}, {"k": 3, "s": 2},
                                                             {"k": 5, "s": 1}, {"k": 5, "s": 2}]
    assert case_id({"shape": (2, 3), "dtype": np.float32}) == "shape=2x3-dtype=float32"
    with pytest.raises(ValueError):
        parameterize({"a": 1}, {"b": 2})


@parameterize(*product(n=[1, 3], dtype=[np.float32, np.float64]))
def test_parameterize_passes_arguments(n, dtype):
    assert n in (1, 3) and dtype in (np.float32, np.float64)
