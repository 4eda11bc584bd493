"""Independent, naive float64 references for the engine ops, and the image layout in one place.

Everything here works on PyTorch's (N, C, H, W) layout with explicit Python
loops over output pixels or plain formulas, so it shares no code with the
engine. The engine passes image activations between layers in its own
layout; :data:`IMAGE_LAYOUT` names it (letters of "NCHW" in axis order) and
:func:`to_internal` / :func:`from_internal` convert. If the engine changes its
layout, this one line changes (``test_layout_matches_energy_net`` says so).
"""

from __future__ import annotations

import numpy as np

IMAGE_LAYOUT = "CHWN"  # see engine/ops/conv.py: activations travel as (C, H, W, N)

_TO_INTERNAL = tuple("NCHW".index(a) for a in IMAGE_LAYOUT)
_FROM_INTERNAL = tuple(IMAGE_LAYOUT.index(a) for a in "NCHW")


def to_internal(x_nchw: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> the engine's layout, as a contiguous (writable) copy."""
    return np.ascontiguousarray(x_nchw.transpose(_TO_INTERNAL))


def to_internal_view(x_nchw: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> the engine's layout as a strided view (not contiguous in general)."""
    return x_nchw.transpose(_TO_INTERNAL)


def from_internal(x: np.ndarray) -> np.ndarray:
    """The engine's layout -> (N, C, H, W)."""
    return np.ascontiguousarray(np.asarray(x).transpose(_FROM_INTERNAL))


def internal_shape(n: int, c: int, h: int, w: int) -> tuple[int, int, int, int]:
    dims = {"N": n, "C": c, "H": h, "W": w}
    return tuple(dims[a] for a in IMAGE_LAYOUT)


# --- convolution -----------------------------------------------------------------------------


def out_size(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


def _pad(x: np.ndarray, p: int) -> np.ndarray:
    N, C, H, W = x.shape
    xp = np.zeros((N, C, H + 2 * p, W + 2 * p))
    xp[:, :, p : p + H, p : p + W] = x
    return xp


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: int, padding: int) -> np.ndarray:
    """x: (N, C, H, W), w: (O, C, k, k) -> (N, O, OH, OW), one output pixel at a time."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    N, C, H, W = x.shape
    O, _, kh, kw = w.shape
    oh, ow = out_size(H, kh, stride, padding), out_size(W, kw, stride, padding)
    xp = _pad(x, padding)
    y = np.zeros((N, O, oh, ow))
    for n in range(N):
        for i in range(oh):
            for j in range(ow):
                patch = xp[n, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
                for o in range(O):
                    y[n, o, i, j] = np.sum(patch * w[o]) + (0.0 if b is None else float(b[o]))
    return y


def conv2d_grad_input(gy: np.ndarray, w: np.ndarray, x_shape: tuple, stride: int, padding: int) -> np.ndarray:
    """The transpose of :func:`conv2d` in x: scatter each output pixel's gradient over its window."""
    N, C, H, W = x_shape
    O, _, kh, kw = w.shape
    _, _, oh, ow = gy.shape
    gxp = np.zeros((N, C, H + 2 * padding, W + 2 * padding))
    for n in range(N):
        for i in range(oh):
            for j in range(ow):
                for o in range(O):
                    gxp[n, :, i * stride : i * stride + kh, j * stride : j * stride + kw] += gy[n, o, i, j] * w[o]
    return gxp[:, :, padding : padding + H, padding : padding + W]


def conv2d_grad_params(gy: np.ndarray, x: np.ndarray, w_shape: tuple, stride: int,
                       padding: int) -> tuple[np.ndarray, np.ndarray]:
    """(dL/dw, dL/db) of L = sum(gy * conv2d(x, w, b))."""
    O, C, kh, kw = w_shape
    N, _, oh, ow = gy.shape
    xp = _pad(np.asarray(x, np.float64), padding)
    gw = np.zeros(w_shape)
    for n in range(N):
        for i in range(oh):
            for j in range(ow):
                patch = xp[n, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
                for o in range(O):
                    gw[o] += gy[n, o, i, j] * patch
    return gw, gy.sum(axis=(0, 2, 3))


def avg_pool2d(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """x: (N, C, H, W) -> (N, C, OH, OW), the mean over each window (no padding)."""
    N, C, H, W = x.shape
    oh, ow = out_size(H, k, s, 0), out_size(W, k, s, 0)
    y = np.zeros((N, C, oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = x[:, :, i * s : i * s + k, j * s : j * s + k].mean(axis=(2, 3))
    return y


def avg_pool2d_grad_input(gy: np.ndarray, x_shape: tuple, k: int, s: int) -> np.ndarray:
    gx = np.zeros(x_shape)
    _, _, oh, ow = gy.shape
    for i in range(oh):
        for j in range(ow):
            gx[:, :, i * s : i * s + k, j * s : j * s + k] += gy[:, :, i, j][:, :, None, None] / (k * k)
    return gx


# --- dense -------------------------------------------------------------------------------------


def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """x: (N, in), w: (out, in) -> (N, out), one dot product per output."""
    N, O = x.shape[0], w.shape[0]
    y = np.zeros((N, O))
    for n in range(N):
        for o in range(O):
            y[n, o] = np.dot(np.asarray(x[n], np.float64), np.asarray(w[o], np.float64)) + (
                0.0 if b is None else float(b[o]))
    return y


# --- activations (plain formulas, float64) -----------------------------------------------------


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def swish(x: np.ndarray) -> np.ndarray:
    return x * sigmoid(x)


def swish_grad(x: np.ndarray) -> np.ndarray:
    s = sigmoid(x)
    return s * (1.0 + x * (1.0 - s))


def relu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, 0.0)


def relu_grad(x: np.ndarray) -> np.ndarray:
    return (x > 0).astype(np.float64)


def leaky_relu(x: np.ndarray, slope: float) -> np.ndarray:
    return np.where(x > 0, x, slope * x)


def leaky_relu_grad(x: np.ndarray, slope: float) -> np.ndarray:
    return np.where(x > 0, 1.0, slope)


def softplus(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def softplus_grad(x: np.ndarray) -> np.ndarray:
    return sigmoid(x)


def elu(x: np.ndarray, alpha: float) -> np.ndarray:
    return np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0.0)) - 1.0))


def elu_grad(x: np.ndarray, alpha: float) -> np.ndarray:
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))


def away_from_zero(rng: np.random.Generator, shape: tuple, margin: float = 0.05) -> np.ndarray:
    """Standard normal values with |x| >= margin (kinks stay far from the finite-difference steps)."""
    x = rng.standard_normal(shape)
    return np.where(x >= 0, x + margin, x - margin)


# --- building engine layers for a test ------------------------------------------------------------


def make_layer(spec: dict, dtype=np.float64, seed: int = 0):
    """An engine layer from its spec with parameters drawn (NumPy backend) in ``dtype``."""
    from engine.layers import build_layer  # noqa: PLC0415 - the references above need no engine

    layer = build_layer(dict(spec))
    layer.init_params(np.random.default_rng(seed), np, np.dtype(dtype))
    return layer
