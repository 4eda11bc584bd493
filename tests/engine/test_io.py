"""Model files: bit-exact round trips, atomic writes, and a clear refusal for every broken file."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from engine.backend import to_numpy
from engine.errors import ModelFileError
from engine.models import PRESETS, EnergyNet
from engine.models import io as model_io
from engine.models.io import load_model, save_model
from engine.models.presets import mlp_2d


def _small_net(dtype=np.float32) -> EnergyNet:
    return EnergyNet(mlp_2d(width=8, depth=2), seed=3, dtype=dtype, xp=np)


def _sn_config() -> dict:
    return {"input_shape": [1, 8, 8], "layers": [
        {"type": "conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1,
         "spectral_norm": True},
        {"type": "swish"}, {"type": "flatten"},
        {"type": "linear", "in_features": 64, "out_features": 8, "spectral_norm": True},
        {"type": "swish"}, {"type": "linear", "in_features": 8, "out_features": 1}]}


def _assert_same(a: EnergyNet, b: EnergyNet) -> None:
    assert a.config == b.config and a.dtype == b.dtype
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for name in sa:
        x, y = to_numpy(sa[name]), to_numpy(sb[name])
        assert x.dtype == y.dtype == a.dtype, name
        assert x.shape == y.shape and x.tobytes() == y.tobytes(), name  # bit-exact


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


# --- round trips ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("preset", ["W0", "W1"])
def test_round_trip_presets(tmp_path, preset, dtype):
    net = EnergyNet(PRESETS[preset](), seed=7, dtype=dtype, xp=np)
    path = save_model(tmp_path / "model.safetensors", net)
    loaded = load_model(path, xp=np)
    _assert_same(net, loaded)
    assert _no_temp_files(tmp_path)
    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata()
    assert meta["format"] == "ebm-studio-model" and meta["version"] == "1"
    assert meta["dtype"] == np.dtype(dtype).name
    assert json.loads(meta["architecture"]) == net.config


def test_round_trip_gives_same_energies(tmp_path):
    net = _small_net(np.float64)
    loaded = load_model(save_model(tmp_path / "m.safetensors", net), xp=np)
    x = np.random.default_rng(0).standard_normal((5, 2))
    assert np.array_equal(net.energy(x), loaded.energy(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_spectral_norm(tmp_path, dtype):
    net = EnergyNet(_sn_config(), seed=1, dtype=dtype, xp=np)
    state = net.state_dict()
    assert {"0.sn_u", "0.sn_v", "3.sn_u", "3.sn_v"} <= set(state)
    state["0.sn_u"][...] *= -1.0  # buffers must come back as saved, not re-initialised
    loaded = load_model(save_model(tmp_path / "sn.safetensors", net), xp=np)
    _assert_same(net, loaded)


def test_save_overwrites_atomically(tmp_path):
    path = tmp_path / "model.safetensors"
    save_model(path, _small_net())
    net2 = EnergyNet(mlp_2d(width=8, depth=2), seed=99, dtype=np.float32, xp=np)
    save_model(str(path), net2)
    _assert_same(net2, load_model(path, xp=np))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    old = _small_net()
    save_model(path, old)
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model_io.os, "replace", boom)
    with pytest.raises(ModelFileError, match="could not write the model file .*No space left"):
        save_model(path, EnergyNet(mlp_2d(width=8, depth=2), seed=5, xp=np))
    assert path.read_bytes() == before
    assert _no_temp_files(tmp_path)


def test_save_into_missing_folder(tmp_path):
    with pytest.raises(ModelFileError, match="could not write the model file"):
        save_model(tmp_path / "nope" / "m.safetensors", _small_net())


def test_save_refuses_nonfinite(tmp_path):
    net = _small_net()
    net.state_dict()["2.weight"][0, 0] = np.nan
    with pytest.raises(ModelFileError, match=r"\['2.weight'\] contain NaN or inf"):
        save_model(tmp_path / "m.safetensors", net)
    assert not list(tmp_path.iterdir())


# --- refusals ------------------------------------------------------------------


def _good(tmp_path: Path, dtype=np.float32) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors and metadata of a valid file, to be broken one way at a time."""
    path = save_model(tmp_path / "good.safetensors", _small_net(dtype))
    with safe_open(str(path), framework="numpy") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())


def _write(tmp_path: Path, tensors, metadata, name="bad.safetensors") -> Path:
    path = tmp_path / name
    save_file(tensors, str(path), metadata=metadata)
    return path


def _refused(path: Path, *patterns: str) -> str:
    with pytest.raises(ModelFileError) as info:
        load_model(path, xp=np)
    message = str(info.value)
    assert str(path) in message
    for pattern in patterns:
        assert pattern in message, message
    return message


def test_missing_file(tmp_path):
    _refused(tmp_path / "absent.safetensors", "does not exist", "check the path")


def test_directory_is_not_a_model(tmp_path):
    _refused(tmp_path, "is not a file")


@pytest.mark.parametrize("content", [
    b"", b"abc", b"this is plain text and certainly not a safetensors file\n" * 3,
    struct.pack("<Q", 10 ** 12) + b"{}",
], ids=["empty", "tiny", "text", "huge-header-length"])
def test_not_a_safetensors_file(tmp_path, content):
    path = tmp_path / "x.safetensors"
    path.write_bytes(content)
    _refused(path, "not a valid safetensors model file", "truncated or corrupt")


@pytest.mark.parametrize("cut", ["data", "header"])
def test_truncated_file(tmp_path, cut):
    raw = save_model(tmp_path / "good.safetensors", _small_net()).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    path = tmp_path / "cut.safetensors"
    path.write_bytes(raw[:-16] if cut == "data" else raw[: 8 + n // 2])
    _refused(path, "not a valid safetensors model file")


def test_corrupt_header(tmp_path):
    raw = save_model(tmp_path / "good.safetensors", _small_net()).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    path = tmp_path / "corrupt.safetensors"
    path.write_bytes(raw[:8] + b"#" * n + raw[8 + n:])
    _refused(path, "not a valid safetensors model file")


def test_no_architecture_metadata(tmp_path):
    tensors, meta = _good(tmp_path)
    del meta["architecture"]
    _refused(_write(tmp_path, tensors, meta), "no 'architecture' metadata")
    _refused(_write(tmp_path, tensors, None, "bare.safetensors"), "no 'architecture' metadata")


def test_architecture_not_json(tmp_path):
    tensors, meta = _good(tmp_path)
    meta["architecture"] = '{"input_shape": [2], "layers": ['
    _refused(_write(tmp_path, tensors, meta), "architecture", "not valid JSON")


@pytest.mark.parametrize("arch", [
    {"input_shape": [2], "layers": [{"type": "teleport"}]},
    {"input_shape": [2], "layers": [{"type": "linear", "in_features": 3, "out_features": 1}]},
    [1, 2, 3],
], ids=["unknown-layer", "shape-chain", "not-a-table"])
def test_architecture_not_a_network(tmp_path, arch):
    tensors, meta = _good(tmp_path)
    meta["architecture"] = json.dumps(arch)
    _refused(_write(tmp_path, tensors, meta), "not a valid network")


def test_foreign_format_and_newer_version(tmp_path):
    tensors, meta = _good(tmp_path)
    _refused(_write(tmp_path, tensors, {**meta, "format": "pt"}), "not an EBM Studio model")
    _refused(_write(tmp_path, tensors, {**meta, "version": "2"}, "v2.safetensors"), "version '2'", "update")


def test_missing_tensor(tmp_path):
    tensors, meta = _good(tmp_path)
    del tensors["0.bias"]
    _refused(_write(tmp_path, tensors, meta), "missing tensor(s) ['0.bias']")


def test_unexpected_tensor(tmp_path):
    tensors, meta = _good(tmp_path)
    tensors["9.weight"] = np.zeros((2, 2), np.float32)
    _refused(_write(tmp_path, tensors, meta), "unexpected tensor(s) ['9.weight']")


def test_shape_mismatch(tmp_path):
    tensors, meta = _good(tmp_path)
    assert tensors["2.weight"].shape == (8, 8)
    tensors["2.weight"] = np.zeros((8, 7), np.float32)
    _refused(_write(tmp_path, tensors, meta), "tensor 2.weight has shape (8, 7)", "expects (8, 8)")


@pytest.mark.parametrize("dtype, code", [(np.float16, "F16"), (np.int32, "I32")])
def test_unsupported_dtype(tmp_path, dtype, code):
    tensors, meta = _good(tmp_path)
    tensors = {k: v.astype(dtype) for k, v in tensors.items()}
    del meta["dtype"]
    _refused(_write(tmp_path, tensors, meta), code, "float32 (F32) or float64 (F64)")


def test_mixed_or_inconsistent_dtype(tmp_path):
    tensors, meta = _good(tmp_path)
    mixed = {**tensors, "0.bias": tensors["0.bias"].astype(np.float64)}
    _refused(_write(tmp_path, mixed, meta), "mixes tensor dtypes")
    doubles = {k: v.astype(np.float64) for k, v in tensors.items()}
    _refused(_write(tmp_path, doubles, meta, "declared.safetensors"), "declares dtype 'float32'", "F64")


def test_dtype_from_tensors_without_declaration(tmp_path):
    tensors, meta = _good(tmp_path, np.float64)
    del meta["dtype"]
    net = load_model(_write(tmp_path, tensors, meta), xp=np)
    assert net.dtype == np.float64
    assert net.state_dict()["0.weight"].tobytes() == tensors["0.weight"].tobytes()


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nonfinite_weights(tmp_path, value):
    tensors, meta = _good(tmp_path)
    tensors["4.weight"][0, 3] = value
    _refused(_write(tmp_path, tensors, meta), "NaN or inf", "['4.weight']", "earlier checkpoint")



def test_json_safe_turns_what_json_cannot_hold_into_plain_values():
    import json
    import math
    from pathlib import Path

    import numpy as np

    from engine.fileio import json_safe

    value = {"a": [1.0, math.nan, (math.inf, -math.inf)], 2: np.float32(0.5), "n": np.int64(3),
             "ok": np.bool_(True), "zero_d": np.array(2.5), "path": Path("x/y"), "none": None, "s": "t"}
    out = json_safe(value)
    assert out == {"a": [1.0, None, [None, None]], "2": 0.5, "n": 3, "ok": True, "zero_d": 2.5,
                   "path": str(Path("x/y")), "none": None, "s": "t"}
    assert type(out["n"]) is int and type(out["ok"]) is bool
    json.dumps(out, allow_nan=False)  # strict JSON
