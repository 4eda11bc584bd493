"""Property tests (hypothesis) for every loader and writer a user points at a file:
valid inputs round-trip exactly, invalid ones raise an EBMError naming the file, and
nothing else ever escapes. Derandomized and database-free, so every run is the same."""

from __future__ import annotations

import gzip
import io
import math
import pickle
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from engine.data.images import load_cifar_binary, load_cifar_pickle, load_image_array, read_idx
from engine.data.points import load_points
from engine.errors import ConfigError, DataError, EBMError, ModelFileError
from engine.metrics import CurveLog
from engine.training.config import ExperimentConfig, dumps_config, load_config

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _scratch() -> Path:
    """A fresh folder per example (hypothesis reuses function-scoped fixtures across examples)."""
    return Path(tempfile.mkdtemp(prefix="ebm-prop-"))


# --- IDX ---------------------------------------------------------------------------------------

@SETTINGS
@given(arr=hnp.arrays(np.uint8, hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=9)),
       gz=st.booleans())
def test_idx_images_round_trip(arr, gz):
    raw = struct.pack(">I3I", 0x803, *arr.shape) + arr.tobytes()
    path = _scratch() / ("x.gz" if gz else "x")
    path.write_bytes(gzip.compress(raw, mtime=0) if gz else raw)
    np.testing.assert_array_equal(read_idx(path, "images"), arr)


@SETTINGS
@given(data=st.binary(max_size=300), kind=st.sampled_from(["images", "labels"]), gz=st.booleans())
def test_idx_reader_loads_or_refuses_any_bytes(data, kind, gz):
    path = _scratch() / "any-idx"
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    try:
        out = read_idx(path, kind)
    except DataError as exc:
        assert str(path) in str(exc)
    else:
        assert out.dtype == np.uint8 and out.ndim == (3 if kind == "images" else 1)


# --- CIFAR -------------------------------------------------------------------------------------

@SETTINGS
@given(labels=st.lists(st.integers(0, 9), min_size=1, max_size=4), seed=st.integers(0, 2**32 - 1))
def test_cifar_binary_round_trip(labels, seed):
    pix = np.random.default_rng(seed).integers(0, 256, (len(labels), 3072), dtype=np.uint8)
    path = _scratch() / "data_batch_1.bin"
    path.write_bytes(b"".join(bytes([lab]) + row.tobytes() for lab, row in zip(labels, pix)))
    out = load_cifar_binary(path, variant="cifar10")
    np.testing.assert_array_equal(out.y, labels)
    np.testing.assert_array_equal(((out.x + 1) * 127.5).round().astype(np.uint8).reshape(len(labels), -1), pix)


_plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.binary(max_size=20) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.binary(max_size=8) | st.text(max_size=8),
                                                                inner, max_size=5),
    max_leaves=20)


@SETTINGS
@given(obj=_plain | st.dictionaries(st.sampled_from([b"data", b"labels", "data", "labels", b"fine_labels"]),
                                    _plain | hnp.arrays(hnp.scalar_dtypes(), hnp.array_shapes(max_side=4)),
                                    max_size=3),
       protocol=st.sampled_from([2, 4, 5]))
def test_cifar_pickle_loader_loads_or_refuses_any_plain_pickle(obj, protocol):
    path = _scratch() / "data_batch_1"
    try:
        path.write_bytes(pickle.dumps(obj, protocol=protocol))
    except Exception:  # noqa: BLE001 - hypothesis made something pickle itself refuses
        return
    try:
        out = load_cifar_pickle(path)
    except DataError as exc:
        assert str(path) in str(exc)
    else:
        assert out.x.shape[1:] == (3, 32, 32) and out.y.shape == (len(out.x),)


# --- arrays and CSV points --------------------------------------------------------------------

_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


@SETTINGS
@given(points=st.lists(st.tuples(_floats, _floats), min_size=1, max_size=20),
       sep=st.sampled_from([",", ";", "\t", " "]), header=st.booleans())
def test_csv_points_load_exactly_when_finite_and_are_refused_otherwise(points, sep, header):
    path = _scratch() / "p.csv"
    lines = (["x" + sep + "y"] if header else []) + [f"{a!r}{sep}{b!r}" for a, b in points]
    path.write_text("\n".join(lines) + "\n")
    arr = np.array(points, dtype=np.float64)
    f32max = float(np.finfo(np.float32).max)
    if not np.isfinite(arr).all() or np.abs(arr).max() > f32max:
        with pytest.raises(DataError, match="p.csv"):
            load_points(path)
    else:
        np.testing.assert_array_equal(load_points(path), arr.astype(np.float32))


@SETTINGS
@given(arr=hnp.arrays(st.sampled_from([np.uint8, np.int32, np.float32, np.float64, np.bool_]),
                      st.tuples(st.integers(1, 30), st.integers(1, 3)), elements=None))
def test_npy_points_load_or_are_refused_for_shape_or_non_finite_values(arr):
    path = _scratch() / "p.npy"
    np.save(path, arr)
    ok = arr.shape[1] == 2 and (arr.dtype.kind != "f" or np.isfinite(arr).all()) \
        and (arr.dtype.kind == "b" or np.abs(arr.astype(np.float64)).max() <= np.finfo(np.float32).max)
    if ok:
        np.testing.assert_array_equal(load_points(path), arr.astype(np.float32))
    else:
        with pytest.raises(DataError, match="p.npy"):
            load_points(path)


@SETTINGS
@given(arr=hnp.arrays(hnp.scalar_dtypes(), hnp.array_shapes(min_dims=1, max_dims=5, max_side=5)),
       npz=st.booleans())
def test_image_arrays_of_any_dtype_and_shape_load_in_range_or_are_refused(arr, npz):
    path = _scratch() / ("x.npz" if npz else "x.npy")
    try:
        if npz:
            np.savez(path, x=arr)
        else:
            np.save(path, arr)
    except ValueError:  # dtypes NumPy itself will not save without pickling
        return
    try:
        out = load_image_array(path)
    except DataError as exc:
        assert str(path) in str(exc)
        return
    assert arr.dtype.kind in "biuf" and out.x.dtype == np.float32 and out.x.ndim == 4
    assert np.isfinite(out.x).all() and out.x.min() >= -1 and out.x.max() <= 1


# --- configs, metrics, model files ---------------------------------------------------------------

@SETTINGS
@given(section=st.sampled_from(["train", "sampler", "buffer", "data", "model"]),
       key=st.sampled_from(["lr", "batch_size", "step_size", "capacity", "n", "iterations", "alpha",
                            "max_energy", "noise", "clamp", "betas", "kind", "name", "x"]),
       value=_floats | st.integers() | st.text(max_size=5) | st.booleans() | st.lists(_floats, max_size=3))
def test_any_single_setting_is_accepted_checked_or_refused_with_a_config_error(section, key, value):
    try:
        config = ExperimentConfig().replace(**{section: {key: value}})
    except ConfigError as exc:
        assert key in str(exc) or "section" in str(exc)
        return
    got = getattr(getattr(config, section), key)
    if isinstance(got, float):
        assert math.isfinite(got)  # nan and inf never get in
    path = _scratch() / "c.toml"
    path.write_text(dumps_config(config))
    assert load_config(path) == config  # what is accepted also round-trips


@SETTINGS
@given(text=st.text(max_size=200))
def test_config_loader_loads_or_refuses_any_text(text):
    path = _scratch() / "c.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))  # lone surrogates: bytes that are not UTF-8
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(path) in str(exc)


@SETTINGS
@given(text=st.text(alphabet=st.sampled_from(list("iteration,los1.5e-\n\"x ")), max_size=120))
def test_metrics_csv_reader_loads_or_refuses_any_text(text):
    try:
        CurveLog.from_csv(text, source="m.csv")
    except EBMError as exc:
        assert "m.csv" in str(exc)


@SETTINGS
@given(rows=st.lists(st.tuples(st.integers(0, 10**6), _floats), min_size=1, max_size=10))
def test_metrics_csv_round_trips_exactly_including_nan_and_inf(rows):
    log = CurveLog()
    for it, v in rows:
        log.append(it, loss=v)
    back = CurveLog.from_csv(log.to_csv())
    a, b = log.series("loss"), back.series("loss")
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])  # NaN == NaN here


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(width=st.integers(1, 12), seed=st.integers(0, 1000), cut=st.integers(0, 10**6))
def test_models_round_trip_bit_exactly_and_any_truncation_is_refused(width, seed, cut):
    from engine.models import EnergyNet
    from engine.models.io import load_model, save_model

    net = EnergyNet({"input_shape": [2], "layers": [{"type": "linear", "in_features": 2, "out_features": width},
                                                    {"type": "swish"},
                                                    {"type": "linear", "in_features": width, "out_features": 1}]},
                    seed=seed)
    path = _scratch() / "m.safetensors"
    save_model(path, net)
    back = load_model(path)
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[name], value)
    raw = path.read_bytes()
    path.write_bytes(raw[:cut % len(raw)])
    with pytest.raises(ModelFileError, match="m.safetensors"):
        load_model(path)


# --- ONNX (and every other) export target ---------------------------------------------------------

@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(name=st.text(min_size=0, max_size=300), where=st.sampled_from(["folder", "missing", "is_dir", "file"]))
def test_export_to_any_target_writes_a_valid_file_or_raises_an_ebm_error(name, where):
    onnx = pytest.importorskip("onnx")
    from engine.export import export_onnx
    from engine.models import EnergyNet

    net = EnergyNet({"input_shape": [2], "layers": [{"type": "linear", "in_features": 2, "out_features": 1}]})
    base = _scratch()
    target = {"folder": base / name, "missing": base / "no" / "such" / name, "is_dir": base,
              "file": base / "f.txt" / name}[where]
    (base / "f.txt").write_text("a file, not a folder")
    before = sorted(p.name for p in base.iterdir())
    try:
        path = export_onnx(net, target)
    except EBMError as exc:
        assert "ONNX file" in str(exc)
        assert sorted(p.name for p in base.iterdir()) == before  # no temporary file left behind
    else:
        onnx.checker.check_model(onnx.load(str(path)))
