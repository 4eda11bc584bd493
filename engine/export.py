"""Export: a model as ONNX, samples as PNG grids and .npy, curves as CSV. All writes are atomic.

ONNX
    :func:`export_onnx` writes the energy function E(x) of an EnergyNet as an
    ONNX graph built directly with ``onnx.helper`` (no torch): input ``"x"`` of
    shape (N, *input_shape) float32 with a dynamic batch dimension ``N``, output
    ``"energy"`` of shape (N,). Weights are frozen as initializers in float32;
    spectrally normalised layers export their effective weight W / sigma with
    the current power-iteration vectors, which is exactly what the network applies.
    ``onnx`` is imported only when exporting (it is a test/optional dependency).

Images
    :func:`save_image_grid` writes (N, C, H, W) samples as one PNG, with Pillow
    when it is installed and otherwise with a minimal zlib PNG writer
    (:func:`encode_png`); both give identical pixels.
"""

from __future__ import annotations

import io
import math
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from . import backend
from .errors import ConfigError, EBMError
from .metrics import CurveLog, _write_atomic
from .models.energy_net import EnergyNet

DEFAULT_OPSET = 17
MIN_OPSET = 13  # Gemm without C, Softplus/Elu/LeakyRelu, AveragePool, Reshape: all stable from here

__all__ = ["export_onnx", "build_onnx_model", "onnx_layer_support", "save_image_grid", "image_grid", "encode_png",
           "save_samples_npy", "save_metrics_csv"]


# --------------------------------------------------------------------------- ONNX


def onnx_layer_support() -> list[str]:
    """Layer kinds that :func:`export_onnx` can map."""
    return sorted(_ONNX_BUILDERS)


class _GraphBuilder:
    """Accumulates nodes and initializers with unique names."""

    def __init__(self, helper: Any, numpy_helper: Any):
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def const(self, stem: str, value: np.ndarray) -> str:
        name = self.name(stem)
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(value), name=name))
        return name

    def node(self, op: str, inputs: list[str], stem: str, **attrs: Any) -> str:
        out = self.name(stem)
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=f"{out}_{op}", **attrs))
        return out


def _weights(layer: Any, index: int) -> tuple[np.ndarray, np.ndarray | None]:
    w, _sigma = layer.effective_weight()
    w = np.asarray(backend.to_numpy(w), dtype=np.float32)
    b = layer.params.get("bias")
    b = None if b is None else np.asarray(backend.to_numpy(b), dtype=np.float32)
    if not np.isfinite(w).all() or (b is not None and not np.isfinite(b).all()):
        raise EBMError(f"cannot export layer {index} ({layer.kind}): its weights hold NaN or inf "
                       "(training diverged); export an earlier checkpoint")
    return w, b


def _conv(g: _GraphBuilder, h: str, layer: Any, i: int) -> str:
    c = layer.config
    w, b = _weights(layer, i)
    k, s, p = c["kernel_size"], c["stride"], c["padding"]
    inputs = [h, g.const(f"l{i}_weight", w)] + ([g.const(f"l{i}_bias", b)] if b is not None else [])
    return g.node("Conv", inputs, f"l{i}_conv", kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p],
                  dilations=[1, 1], group=1)


def _linear(g: _GraphBuilder, h: str, layer: Any, i: int) -> str:
    w, b = _weights(layer, i)
    inputs = [h, g.const(f"l{i}_weight", w)] + ([g.const(f"l{i}_bias", b)] if b is not None else [])
    return g.node("Gemm", inputs, f"l{i}_linear", transB=1)


def _swish(g: _GraphBuilder, h: str, layer: Any, i: int) -> str:
    s = g.node("Sigmoid", [h], f"l{i}_sigmoid")
    return g.node("Mul", [h, s], f"l{i}_swish")


def _relu(g: _GraphBuilder, h: str, layer: Any, i: int) -> str:
    return g.node("Relu", [h], f"l{i}_relu")


def _leaky_relu(g: _GraphBuilder, h: str, layer: Any, i: int) -> str:
    return g.node("LeakyRelu", [h], f"l{i}_leaky_relu", alpha=float(layer.config["slope"]))


def _softplus(g: _GraphBuilder, h: str, layer: Any, i: int) -> str:
    return g.node("Softplus", [h], f"l{i}_softplus")


def _elu(g: _GraphBuilder, h: str, layer: Any, i: int) -> str:
    return g.node("Elu", [h], f"l{i}_elu", alpha=float(layer.config["alpha"]))


def _avg_pool(g: _GraphBuilder, h: str, layer: Any, i: int) -> str:
    k, s = layer.config["kernel_size"], layer.stride
    return g.node("AveragePool", [h], f"l{i}_avg_pool", kernel_shape=[k, k], strides=[s, s],
                  pads=[0, 0, 0, 0], ceil_mode=0)


def _flatten(g: _GraphBuilder, h: str, layer: Any, i: int) -> str:
    return g.node("Flatten", [h], f"l{i}_flatten", axis=1)  # NCHW -> (N, C*H*W): PyTorch's order


def _global_sum(g: _GraphBuilder, h: str, layer: Any, i: int) -> str:
    axes = g.const(f"l{i}_axes", np.array([2, 3], dtype=np.int64))  # ReduceSum takes axes as an input from opset 13
    return g.node("ReduceSum", [h, axes], f"l{i}_global_sum", keepdims=0)  # NCHW -> (N, C)


_ONNX_BUILDERS = {
    "conv2d": _conv, "linear": _linear, "swish": _swish, "relu": _relu, "leaky_relu": _leaky_relu,
    "softplus": _softplus, "elu": _elu, "avg_pool2d": _avg_pool, "flatten": _flatten, "global_sum": _global_sum,
}


def _import_onnx() -> Any:
    try:
        import onnx  # noqa: PLC0415 - optional dependency, only needed to export
    except ImportError as exc:
        raise EBMError(f"exporting to ONNX needs the 'onnx' package, which is not installed ({exc}); "
                       "install it with: pip install onnx") from None
    return onnx


def build_onnx_model(net: EnergyNet, opset: int = DEFAULT_OPSET) -> Any:
    """The ``onnx.ModelProto`` of E(x) for ``net`` (checked with onnx.checker); see :func:`export_onnx`."""
    onnx = _import_onnx()
    from onnx import TensorProto, helper, numpy_helper  # noqa: PLC0415

    latest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= latest:
        raise ConfigError(f"ONNX opset must be an integer from {MIN_OPSET} to {latest} "
                          f"(the installed onnx's newest), got {opset!r}; {DEFAULT_OPSET} suits most runtimes")
    if net.output_size != 1:
        raise ConfigError(f"this network has {net.output_size} outputs per sample; export_onnx exports an "
                          "energy, which needs exactly 1")
    for i, layer in enumerate(net.layers):
        if layer.kind not in _ONNX_BUILDERS:
            raise EBMError(f"cannot export layer {i} ({layer.kind!r}) to ONNX: no mapping for this layer type; "
                           f"exportable layers: {onnx_layer_support()}")

    g = _GraphBuilder(helper, numpy_helper)
    h = "x"
    for i, layer in enumerate(net.layers):
        h = _ONNX_BUILDERS[layer.kind](g, h, layer, i)
    shape = g.const("energy_shape", np.array([-1], dtype=np.int64))
    g.nodes.append(helper.make_node("Reshape", [h, shape], ["energy"], name="energy_Reshape"))

    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *net.input_shape])
    e_info = helper.make_tensor_value_info("energy", TensorProto.FLOAT, ["N"])
    graph = helper.make_graph(g.nodes, "energy", [x_info], [e_info], initializer=g.initializers,
                              doc_string="E(x): (N, *input_shape) -> (N,), lower = more likely")
    opset_ids = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opset_ids, producer_name="EBM Studio",
                              producer_version=_version(), doc_string="EBM Studio energy function")
    model.ir_version = helper.find_min_ir_version_for(opset_ids)  # e.g. 8 for opset 17
    helper.set_model_props(model, {"architecture": net.to_json(), "output": "energy"})
    onnx.checker.check_model(model)
    return model


def export_onnx(net: EnergyNet, path: str | os.PathLike[str], opset: int = DEFAULT_OPSET) -> Path:
    """Write the ONNX graph of E(x) for ``net`` to ``path`` atomically; returns the path.

    Graph: input "x" (N, *input_shape) float32 with a dynamic batch N, output "energy" (N,).
    Layer mapping: conv2d -> Conv, linear -> Gemm(transB=1), swish -> x * Sigmoid(x),
    relu -> Relu, leaky_relu -> LeakyRelu, softplus -> Softplus, elu -> Elu,
    avg_pool2d -> AveragePool, flatten -> Flatten, global_sum -> ReduceSum over H, W,
    then Reshape to (N,). The IR version is
    the lowest that carries ``opset`` (8 for opset 17). Raises EBMError for a layer type
    with no mapping, and ConfigError for a network with more than one output.
    """
    model = build_onnx_model(net, opset)
    return _write_atomic(path, model.SerializeToString(), "ONNX file")


def _version() -> str:
    from . import __version__  # noqa: PLC0415

    return __version__


# --------------------------------------------------------------------------- images


def image_grid(x: Any, nrow: int | None = None, value_range: tuple[float, float] = (-1.0, 1.0),
               pad: int = 2, scale: int = 1, pad_value: float = 0.0) -> np.ndarray:
    """Tile images into one uint8 picture.

    x: (N, C, H, W) with C = 1 (grayscale) or 3 (RGB), or (N, H, W) grayscale; NumPy or CuPy.
    nrow: images per row (default ceil(sqrt(N)); at most N). value_range (lo, hi) maps to 0..255 (values
    outside are clipped, NaN becomes lo). ``pad`` pixels of ``pad_value`` (0..1 of the range,
    0 = black) surround every image; ``scale`` repeats each pixel scale x scale times.
    Returns (rows*(H+pad)+pad)*scale x (cols*(W+pad)+pad)*scale, as (h, w) for grayscale
    or (h, w, 3) for RGB.
    """
    a = np.asarray(backend.to_numpy(x), dtype=np.float64)
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4 or a.shape[1] not in (1, 3) or a.shape[0] == 0:
        raise ConfigError(f"an image grid needs images (N, C, H, W) with C = 1 or 3, got shape {a.shape}")
    n, c, h, w = a.shape
    lo, hi = (float(v) for v in value_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ConfigError(f"value_range must be (low, high) with low < high, got {value_range!r}")
    for key, value, minimum in (("pad", pad, 0), ("scale", scale, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ConfigError(f"{key} must be an integer >= {minimum}, got {value!r}")
    cols = int(nrow) if nrow is not None else math.ceil(math.sqrt(n))
    if cols < 1:
        raise ConfigError(f"nrow (images per row) must be >= 1, got {nrow!r}")
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    a = np.nan_to_num(a, nan=lo, posinf=hi, neginf=lo)
    pixels = np.rint(np.clip((a - lo) / (hi - lo), 0.0, 1.0) * 255.0).astype(np.uint8)
    fill = int(round(min(max(float(pad_value), 0.0), 1.0) * 255.0))
    grid = np.full((c, rows * (h + pad) + pad, cols * (w + pad) + pad), fill, dtype=np.uint8)
    for k in range(n):
        r, q = divmod(k, cols)
        top, left = pad + r * (h + pad), pad + q * (w + pad)
        grid[:, top:top + h, left:left + w] = pixels[k]
    if scale > 1:
        grid = grid.repeat(scale, axis=1).repeat(scale, axis=2)
    return grid[0] if c == 1 else np.ascontiguousarray(grid.transpose(1, 2, 0))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(pixels: np.ndarray) -> bytes:
    """A minimal PNG (8-bit, no interlace, filter 0) of uint8 pixels (h, w) grayscale or (h, w, 3) RGB."""
    p = np.ascontiguousarray(pixels, dtype=np.uint8)
    if p.ndim == 2:
        color_type, channels = 0, 1
    elif p.ndim == 3 and p.shape[2] == 3:
        color_type, channels = 2, 3
    else:
        raise ConfigError(f"a PNG needs pixels (h, w) or (h, w, 3), got shape {p.shape}")
    h, w = p.shape[:2]
    raw = np.zeros((h, 1 + w * channels), dtype=np.uint8)  # each scanline: filter byte 0, then pixels
    raw[:, 1:] = p.reshape(h, w * channels)
    header = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + _png_chunk(b"IEND", b""))


def _encode_png_pillow(pixels: np.ndarray) -> bytes | None:
    try:
        from PIL import Image  # noqa: PLC0415 - optional at run time
    except ImportError:
        return None
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def save_image_grid(x: Any, path: str | os.PathLike[str], nrow: int | None = None,
                    value_range: tuple[float, float] = (-1.0, 1.0), pad: int = 2, scale: int = 1,
                    pad_value: float = 0.0, writer: str = "auto") -> Path:
    """Write images x: (N, C, H, W) (C = 1 or 3) as one PNG grid, atomically; returns the path.

    See :func:`image_grid` for the layout. ``writer``: "auto" (Pillow if installed, else the
    built-in zlib writer), "pillow" or "builtin".
    """
    pixels = image_grid(x, nrow=nrow, value_range=value_range, pad=pad, scale=scale, pad_value=pad_value)
    if writer not in ("auto", "pillow", "builtin"):
        raise ConfigError(f"writer must be 'auto', 'pillow' or 'builtin', got {writer!r}")
    data = None if writer == "builtin" else _encode_png_pillow(pixels)
    if data is None:
        if writer == "pillow":
            raise EBMError("the 'pillow' PNG writer needs Pillow, which is not installed; "
                           "install it (pip install pillow) or use writer='auto'")
        data = encode_png(pixels)
    return _write_atomic(path, data, "image file")


def save_samples_npy(x: Any, path: str | os.PathLike[str]) -> Path:
    """Write samples x: (N, ...) (NumPy or CuPy) as a .npy file atomically; returns the path.

    The array is written as given (dtype and shape kept); the path is used as is (no ".npy" added).
    """
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(backend.to_numpy(x)), allow_pickle=False)
    return _write_atomic(path, buf.getvalue(), "samples file")


def save_metrics_csv(log: CurveLog, path: str | os.PathLike[str]) -> Path:
    """Write learning curves as CSV atomically (same as ``log.write_csv(path)``)."""
    return log.write_csv(path)

