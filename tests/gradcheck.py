"""Float64 central-difference gradient checks, shared by the engine tests.

The check works on any forward/backward pair:

    check_gradients(forward, backward, wrt)

``forward()`` computes an output from the *current contents* of the arrays in
``wrt`` (a dict name -> float64 array; the check perturbs them in place and
restores them). ``backward(gy)`` returns the analytic gradients of the scalar
``L = sum(gy * forward())`` as a dict with the same names, for a fixed random
``gy``. Each entry (or a random subset of at most ``max_entries`` entries per
array) is perturbed by +-eps and the central difference is compared with the
analytic value under ``|analytic - numeric| <= atol + rtol * |numeric|``; a
failure names the array, the index and the value of the worst entry.

Layers and networks have ready-made wrappers (:func:`check_layer_gradients`,
:func:`check_net_gradients`) that check the input and every parameter.

For one test case over many shapes and dtypes (chainer's
``testing.parameterize(*testing.product(...))``) use :func:`parameterize` with
:func:`product` / :func:`product_cases`::

    @parameterize(*product_cases(CONV_CASES, dtype=[np.float32, np.float64]))
    def test_conv(N, C, H, W, k, s, p, dtype): ...
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Callable, Mapping

import numpy as np
import pytest

EPS = 1e-6
RTOL = 1e-6
ATOL = 1e-8
MAX_ENTRIES = 200


# --- parametrisation (chainer style) ---------------------------------------------------------


def product(**axes: list[Any]) -> list[dict[str, Any]]:
    """Every combination of the given axes, as a list of dicts (chainer's testing.product)."""
    keys = list(axes)
    return [dict(zip(keys, values)) for values in itertools.product(*(axes[k] for k in keys))]


def product_cases(cases: list[dict[str, Any]], **axes: list[Any]) -> list[dict[str, Any]]:
    """Explicit cases crossed with extra axes: each case once per combination of the axes."""
    return [{**case, **extra} for case in cases for extra in (product(**axes) if axes else [{}])]


def _id_part(value: Any) -> str:
    if isinstance(value, type) and issubclass(value, np.generic):
        return np.dtype(value).name
    if isinstance(value, np.dtype):
        return value.name
    if isinstance(value, (tuple, list)):
        return "x".join(_id_part(v) for v in value)
    return str(value)


def case_id(case: Mapping[str, Any]) -> str:
    return "-".join(f"{k}={_id_part(v)}" for k, v in case.items())


def parameterize(*cases: dict[str, Any]) -> Any:
    """pytest.mark.parametrize over dicts with the same keys; the keys become arguments."""
    if not cases:
        raise ValueError("parameterize needs at least one case")
    keys = list(cases[0])
    for case in cases:
        if list(case) != keys:
            raise ValueError(f"all cases need the keys {keys}, got {list(case)}")
    values = [tuple(case[k] for k in keys) for case in cases]
    if len(keys) == 1:  # pytest takes bare values for a single argument name
        values = [v[0] for v in values]
    return pytest.mark.parametrize(",".join(keys), values, ids=[case_id(c) for c in cases])


def forward_tolerance(dtype: Any) -> dict[str, float]:
    """rtol/atol for comparing a forward in ``dtype`` with a float64 reference."""
    if np.dtype(dtype) == np.float64:
        return {"rtol": 1e-10, "atol": 1e-12}
    if np.dtype(dtype) == np.float32:
        return {"rtol": 2e-5, "atol": 2e-5}
    raise ValueError(f"no tolerance for {dtype}")


# --- the check ------------------------------------------------------------------------------


def sample_indices(shape: tuple[int, ...], max_entries: int | None, rng: np.random.Generator) -> list[tuple]:
    """All indices of ``shape``, or a sorted random subset of ``max_entries`` of them."""
    size = math.prod(shape)
    if max_entries is None or size <= max_entries:
        flat = np.arange(size)
    else:
        flat = np.sort(rng.choice(size, size=max_entries, replace=False))
    return [tuple(int(i) for i in np.unravel_index(f, shape)) for f in flat]


def numerical_gradient(loss: Callable[[], float], array: np.ndarray, indices: list[tuple],
                       eps: float = EPS) -> np.ndarray:
    """Central differences of ``loss()`` with respect to ``array[idx]`` for each idx (in place, restored)."""
    out = np.empty(len(indices))
    for k, idx in enumerate(indices):
        old = float(array[idx])
        try:
            array[idx] = old + eps
            plus = loss()
            array[idx] = old - eps
            minus = loss()
        finally:
            array[idx] = old
        out[k] = (plus - minus) / (2.0 * eps)
    return out


def check_gradients(
    forward: Callable[[], Any],
    backward: Callable[[np.ndarray], Mapping[str, Any]],
    wrt: Mapping[str, np.ndarray],
    *,
    eps: float = EPS,
    rtol: float = RTOL,
    atol: float = ATOL,
    max_entries: int | None = MAX_ENTRIES,
    seed: int = 0,
    max_entries_for: Mapping[str, int | None] | None = None,
) -> dict[str, float]:
    """Compare ``backward`` with central differences of ``forward``; returns the worst error per name.

    ``max_entries_for`` overrides ``max_entries`` for single arrays by name.
    Raises AssertionError naming the worst entry of the first array that fails.
    """
    rng = np.random.default_rng(seed)
    for name, array in wrt.items():
        if not isinstance(array, np.ndarray) or array.dtype != np.float64:
            raise TypeError(f"gradient check of {name!r}: needs a float64 NumPy array, got "
                            f"{type(array).__name__} {getattr(array, 'dtype', '')}")
        if not array.flags.writeable:
            raise TypeError(f"gradient check of {name!r}: the array must be writable")
    y0 = np.asarray(forward())
    gy = rng.standard_normal(y0.shape)
    analytic = dict(backward(gy.copy()))
    if set(analytic) != set(wrt):
        raise AssertionError(f"backward returned gradients for {sorted(analytic)}, expected {sorted(wrt)}")

    def loss() -> float:
        return float(np.sum(np.asarray(forward(), dtype=np.float64) * gy))

    worst: dict[str, float] = {}
    for name, array in wrt.items():
        grad = np.asarray(analytic[name])
        if grad.shape != array.shape:
            raise AssertionError(f"gradient of {name!r} has shape {grad.shape}, the array has {array.shape}")
        if not np.all(np.isfinite(grad)):
            raise AssertionError(f"gradient of {name!r} is not finite")
        limit = (max_entries_for or {}).get(name, max_entries)
        indices = sample_indices(array.shape, limit, rng)
        numeric = numerical_gradient(loss, array, indices, eps)
        exact = np.array([grad[idx] for idx in indices], dtype=np.float64)
        err = np.abs(exact - numeric)
        excess = err - (atol + rtol * np.abs(numeric))
        k = int(np.argmax(excess)) if len(indices) else 0
        worst[name] = float(err.max()) if len(indices) else 0.0
        if len(indices) and excess[k] > 0:
            bad = int(np.sum(excess > 0))
            raise AssertionError(
                f"gradient of {name!r} (shape {array.shape}) is wrong at {bad} of {len(indices)} checked "
                f"entries; worst at index {indices[k]}: analytic {exact[k]:.10g}, numeric {numeric[k]:.10g}, "
                f"|diff| {err[k]:.3g} > atol {atol:g} + rtol {rtol:g} * |numeric|"
            )
    # the check must leave the inputs as they were and the output reproducible
    np.testing.assert_allclose(np.asarray(forward()), y0, rtol=1e-13, atol=1e-13)
    return worst


# --- layers and networks ----------------------------------------------------------------------


def check_layer_gradients(layer: Any, x: np.ndarray, *, check_input: bool = True, **kwargs: Any) -> dict[str, float]:
    """Check d/dx and d/d(every entry of layer.params) of one engine layer on input x.

    The layer must hold float64 parameters; spectral-norm vectors stay fixed.
    """
    names = {f"params[{key!r}]": key for key in layer.params}

    def forward() -> Any:
        return layer.forward(x)

    def backward(gy: np.ndarray) -> dict[str, Any]:
        layer.grads.clear()
        layer.forward(x, save=True, param_grads=True)
        gx = layer.backward(gy, param_grads=True)
        grads = {name: layer.grads[key] for name, key in names.items()}
        if check_input:
            grads["x"] = gx
        return grads

    wrt = {name: layer.params[key] for name, key in names.items()}
    if check_input:
        wrt["x"] = x
    return check_gradients(forward, backward, wrt, **kwargs)


def check_net_gradients(net: Any, x: np.ndarray, **kwargs: Any) -> dict[str, float]:
    """Check dE/dx and dE/d(every parameter) of an EnergyNet (float64) on x: (N, *input_shape).

    Analytic values come from net.forward + net.backward(g) and net.gradients(),
    which must be aligned with net.parameters().
    """
    names = [name for name, _, _ in net.named_params()]
    params = net.parameters()

    def forward() -> Any:
        return net.energy(x)

    def backward(gy: np.ndarray) -> dict[str, Any]:
        for layer in net.layers:
            layer.grads.clear()
        net.forward(x, param_grads=True)
        gx = net.backward(gy, param_grads=True)
        grads = net.gradients()
        assert len(grads) == len(params) == len(names)
        for name, g, p in zip(names, grads, params):
            assert g.shape == p.shape, f"{name}: gradient shape {g.shape} != parameter shape {p.shape}"
        return {"x": gx, **dict(zip(names, grads))}

    return check_gradients(forward, backward, {"x": x, **dict(zip(names, params))}, **kwargs)
