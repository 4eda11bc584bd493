"""Export: ONNX graphs checked against EnergyNet with onnxruntime; PNG grids (Pillow and built-in); .npy; CSV."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from engine import export
from engine.errors import ConfigError, EBMError
from engine.layers.base import Layer
from engine.metrics import CurveLog
from engine.models.energy_net import EnergyNet
from engine.models.presets import PRESETS

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _check_parity(net, path, seed=0):
    sess = _session(path)
    rng = np.random.default_rng(seed)
    for n in (1, 5):  # one graph, two batch sizes: the batch dimension is dynamic
        x = rng.uniform(-1, 1, (n, *net.input_shape)).astype(np.float32)
        (got,) = sess.run(["energy"], {"x": x})
        want = net.energy(x)
        assert got.shape == (n,) and got.dtype == np.float32
        scale = float(np.abs(want).max())
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale + 1e-7)


@pytest.mark.parametrize("name", ["W0", "W1", "W2"])
def test_presets_match_onnxruntime(name, tmp_path):
    net = EnergyNet(PRESETS[name](), seed=1)
    path = export.export_onnx(net, tmp_path / f"{name}.onnx")
    _check_parity(net, path)
    model = onnx.load(str(path))
    assert model.ir_version == 8
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "x" and out.name == "energy"
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ["N", *net.input_shape]
    assert [d.dim_param for d in out.type.tensor_type.shape.dim] == ["N"]
    assert [p.name for p in tmp_path.iterdir()] == [f"{name}.onnx"]  # no temporary file left


def _sn_config():
    sn = {"spectral_norm": True}
    return {"input_shape": [3, 12, 12], "layers": [
        {"type": "conv2d", "in_channels": 3, "out_channels": 8, "kernel_size": 3, "stride": 1, "padding": 1, **sn},
        {"type": "elu", "alpha": 0.7},
        {"type": "avg_pool2d", "kernel_size": 2},
        {"type": "conv2d", "in_channels": 8, "out_channels": 16, "kernel_size": 3, "stride": 2, "padding": 0,
         "bias": False},
        {"type": "softplus"},
        {"type": "avg_pool2d", "kernel_size": 2, "stride": 1},
        {"type": "leaky_relu", "slope": 0.1},
        {"type": "flatten"},
        {"type": "linear", "in_features": 16, "out_features": 12, **sn},
        {"type": "relu"},
        {"type": "linear", "in_features": 12, "out_features": 6, "bias": False},
        {"type": "swish"},
        {"type": "linear", "in_features": 6, "out_features": 1, **sn},
    ]}


def test_spectral_norm_pool_elu_softplus_net_matches(tmp_path):
    net = EnergyNet(_sn_config(), seed=2)
    for layer in net.layers:  # move u, v away from their initial state, and make sigma matter
        if "weight" in layer.params:
            layer.params["weight"] *= 3.0
    net.power_iteration()
    sigmas = [layer.effective_weight()[1] for layer in net.layers if layer.config.get("spectral_norm")]
    assert len(sigmas) == 3 and all(abs(s - 1.0) > 0.1 for s in sigmas)
    _check_parity(net, export.export_onnx(net, tmp_path / "sn.onnx"), seed=3)
    ops = {n.op_type for n in onnx.load(str(tmp_path / "sn.onnx")).graph.node}
    assert {"Conv", "Elu", "AveragePool", "Softplus", "LeakyRelu", "Flatten", "Gemm", "Relu",
            "Sigmoid", "Mul", "Reshape"} <= ops


def test_float64_net_exports_float32_and_other_opsets(tmp_path):
    net = EnergyNet(PRESETS["W0"](), seed=4, dtype=np.float64)
    path = export.export_onnx(net, tmp_path / "w0.onnx", opset=13)
    model = onnx.load(str(path))
    assert model.opset_import[0].version == 13 and model.ir_version == 7
    x = np.random.default_rng(0).uniform(-1, 1, (5, 2))
    (got,) = _session(path).run(None, {"x": x.astype(np.float32)})
    np.testing.assert_allclose(got, net.energy(x), rtol=1e-4, atol=1e-6)
    with pytest.raises(ConfigError, match="opset"):
        export.export_onnx(net, tmp_path / "bad.onnx", opset=7)


def test_fully_convolutional_net_with_global_sum_matches(tmp_path):
    net = EnergyNet({"input_shape": [1, 11, 9], "layers": [
        {"type": "conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 0},
        {"type": "swish"},
        {"type": "conv2d", "in_channels": 4, "out_channels": 1, "kernel_size": 1, "stride": 1, "padding": 0},
        {"type": "global_sum"},
    ]}, seed=2)
    _check_parity(net, export.export_onnx(net, tmp_path / "sum.onnx"))


class _Mystery(Layer):
    kind = "mystery"

    def forward(self, x, save=False, param_grads=False):
        return x


def test_refuses_unknown_layers_and_multi_output(tmp_path):
    net = EnergyNet(PRESETS["W0"](), seed=0)
    net.layers.insert(2, _Mystery())
    with pytest.raises(EBMError, match=r"layer 2 \('mystery'\)"):
        export.export_onnx(net, tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())
    logits = EnergyNet({"input_shape": [2], "layers": [{"type": "linear", "in_features": 2, "out_features": 3}]})
    with pytest.raises(ConfigError, match="3 outputs"):
        export.export_onnx(logits, tmp_path / "l.onnx")
    assert set(export.onnx_layer_support()) == {"conv2d", "linear", "swish", "relu", "leaky_relu", "softplus",
                                                "elu", "avg_pool2d", "flatten", "global_sum"}


def test_refuses_diverged_weights(tmp_path):
    net = EnergyNet(PRESETS["W0"](), seed=0)
    net.layers[2].params["weight"][0, 0] = np.nan
    with pytest.raises(EBMError, match="layer 2"):
        export.export_onnx(net, tmp_path / "nan.onnx")


# --------------------------------------------------------------------------- images


def _decode_png(data: bytes) -> np.ndarray:
    """A tiny decoder for 8-bit gray/RGB PNGs with filter 0 (what the built-in writer emits)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    w, h, depth, color, _, _, interlace = header
    assert depth == 8 and interlace == 0 and color in (0, 2)
    ch = 1 if color == 0 else 3
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, 1 + w * ch)
    assert (raw[:, 0] == 0).all()
    px = raw[:, 1:].reshape(h, w, ch)
    return px[..., 0] if ch == 1 else px


def test_image_grid_layout():
    x = np.stack([np.full((1, 2, 3), v) for v in (-1.0, 0.0, 1.0)])  # 3 gray 2x3 images
    g = export.image_grid(x, nrow=2, pad=1)
    assert g.shape == (2 * 3 + 1, 2 * 4 + 1) and g.dtype == np.uint8
    assert (g[1:3, 1:4] == 0).all() and (g[1:3, 5:8] == 128).all() and (g[4:6, 1:4] == 255).all()
    assert (g[0] == 0).all() and (g[4:6, 5:8] == 0).all()  # padding and the empty cell
    big = export.image_grid(x, nrow=2, pad=1, scale=3, pad_value=1.0)
    assert big.shape == (21, 27) and (big[0] == 255).all()
    np.testing.assert_array_equal(big[3:9:3, 3:12:3], g[1:3, 1:4])
    rgb = export.image_grid(np.random.default_rng(0).uniform(-1, 1, (5, 3, 4, 4)))
    assert rgb.shape == (2 * 6 + 2, 3 * 6 + 2, 3)
    odd = export.image_grid(np.array([[[[np.nan, 7.0, -7.0, 0.5]]]]), value_range=(0, 1), pad=0)
    np.testing.assert_array_equal(odd, [[0, 255, 0, 128]])
    with pytest.raises(ConfigError, match="C = 1 or 3"):
        export.image_grid(np.zeros((2, 2, 4, 4)))


@pytest.mark.parametrize("channels", [1, 3])
def test_png_writers_agree(channels, tmp_path):
    x = np.random.default_rng(channels).uniform(-1.2, 1.2, (7, channels, 9, 5)).astype(np.float32)
    want = export.image_grid(x, nrow=3, scale=2)
    builtin = export.save_image_grid(x, tmp_path / "b.png", nrow=3, scale=2, writer="builtin")
    np.testing.assert_array_equal(_decode_png(builtin.read_bytes()), want)
    pil = pytest.importorskip("PIL.Image")
    pillow = export.save_image_grid(x, tmp_path / "p.png", nrow=3, scale=2, writer="pillow")
    auto = export.save_image_grid(x, tmp_path / "a.png", nrow=3, scale=2)
    for path in (builtin, pillow, auto):
        with pil.open(path) as im:
            assert im.mode == ("L" if channels == 1 else "RGB")
            np.testing.assert_array_equal(np.asarray(im), want)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "p.png"]


def test_save_samples_npy_and_csv(tmp_path):
    x = np.random.default_rng(0).normal(size=(4, 1, 3, 3)).astype(np.float32)
    path = export.save_samples_npy(x, tmp_path / "samples.npy")
    back = np.load(path, allow_pickle=False)
    assert back.dtype == np.float32 and np.array_equal(back, x)
    log = CurveLog()
    log.append(1, loss=0.25)
    export.save_metrics_csv(log, tmp_path / "metrics.csv")
    assert CurveLog.read_csv(tmp_path / "metrics.csv").rows == [{"iteration": 1, "loss": 0.25}]
    with pytest.raises(EBMError, match="could not write"):
        export.save_samples_npy(x, tmp_path / "missing" / "s.npy")
    with pytest.raises(EBMError, match="could not write"):
        export.save_image_grid(x, tmp_path / "missing" / "s.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv", "samples.npy"]
