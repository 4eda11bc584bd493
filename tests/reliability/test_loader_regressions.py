"""One test per crash or hole the loader fuzzer found (tools/fuzz_loaders.py), plus the
attacks the loaders must refuse: gzip bombs, huge declared sizes, code in pickles,
object arrays, NaN/inf in arrays, CSVs and configs."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest

from engine.data import images
from engine.data.dataset import load_dataset
from engine.data.images import load_cifar, load_cifar_pickle, load_image_array, load_texture_crops, read_idx
from engine.data.points import load_points
from engine.errors import ConfigError, DataError, ModelFileError
from engine.training import checkpoint as ckpt
from engine.training.config import load_config
from engine.training.trainer import Trainer
from tests.engine.training.helpers import checkpoint_iterations, toy_config


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


# --- crashes found by the fuzzer -------------------------------------------------------------------

def test_npy_header_that_breaks_numpys_tokenizer_is_a_data_error(tmp_path):
    # found: an unclosed bracket in the header dict made numpy raise tokenize.TokenError
    raw = bytearray(_npy(np.zeros((2, 3), np.uint8)))
    i = raw.index(b"(2, 3)")
    raw[i:i + 6] = b"(2, 3 "  # same length, the tuple is never closed
    path = tmp_path / "x.npy"
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"x\.npy.*not a valid \.npy"):
        load_image_array(path)


@pytest.mark.parametrize("offset, value, fragment", [
    (8, 99, "zip feature"),  # compression method 99: zipfile raised NotImplementedError
    (6, 1, "zip feature"),  # the "encrypted" flag: zipfile raised RuntimeError
])
def test_npz_with_zip_features_numpy_never_writes_is_a_data_error(tmp_path, offset, value, fragment):
    buf = io.BytesIO()
    np.savez(buf, x=np.zeros((2, 4, 4), np.uint8))
    raw = bytearray(buf.getvalue())
    for header in (b"PK\x03\x04", b"PK\x01\x02"):  # the local header and the central directory
        start = raw.index(header)
        at = start + offset + (2 if header == b"PK\x01\x02" else 0)  # central entries carry one more field
        raw[at:at + 2] = struct.pack("<H", value)
    path = tmp_path / "x.npz"
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=fragment):
        load_image_array(path)


def test_cifar_pickle_with_ragged_data_is_a_data_error(tmp_path):
    # found: np.asarray on a ragged list raised ValueError outside the checks
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": [[1, 2], [3]], b"labels": [0, 1]}, protocol=2))
    with pytest.raises(DataError, match="not an array of pixels"):
        load_cifar_pickle(path)


def test_pickled_array_shell_with_a_huge_shape_is_refused(tmp_path):
    # numpy pickles arrays as _reconstruct(ndarray, (0,), b'b') + __setstate__; a file that asks
    # for a shell of 10**12 elements would allocate before anything is checked
    n = (10**12).to_bytes(6, "little")
    payload = (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"  # two globals
               b"\x8a\x06" + n + b"\x85"  # (10**12,)
               b"C\x01b\x87R.")  # _reconstruct(ndarray, (10**12,), b"b")
    path = tmp_path / "data_batch_1"
    path.write_bytes(payload)
    with pytest.raises(DataError, match="array shell"):
        load_cifar_pickle(path)


def test_image_declaring_a_huge_size_is_refused_before_decoding(tmp_path):
    # found: a JPEG whose header said 9546 x 9546 took seconds to decode from a 1 kB file
    # (and PIL only warns below 89M pixels)
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(buf, format="JPEG")
    raw = bytearray(buf.getvalue())
    sof = raw.index(b"\xff\xc0")
    raw[sof + 5:sof + 9] = struct.pack(">HH", 5000, 5000)
    path = tmp_path / "big.jpg"
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"big\.jpg.*declares 5000 x 5000 pixels, more than a \d+-byte"):
        load_texture_crops(path, n=1, size=4)
    raw[sof + 5:sof + 9] = struct.pack(">HH", 60000, 60000)  # beyond any image this app takes
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="larger than"):
        load_texture_crops(path, n=1, size=4)


def test_checkpoint_missing_a_tensor_is_skipped_for_the_previous_one(tmp_path):
    # found: a checkpoint without "buffer/samples" raised KeyError out of Trainer(resume=True)
    config = toy_config(train={"checkpoint_every": 1, "iterations": 3})
    run = tmp_path / "run"
    list(Trainer(config, run).run(2))
    newest = ckpt.checkpoint_path(run / "checkpoints", 2)
    tensors, meta = ckpt.read_checkpoint(newest)
    del tensors["buffer/samples"]
    ckpt.write_checkpoint(newest, tensors, meta)
    assert Trainer(config, run, resume=True).iteration == 1
    ckpt.checkpoint_path(run / "checkpoints", 1).unlink()
    with pytest.raises(ModelFileError, match="does not fit this run"):
        Trainer(config, run, resume=True)


def test_checkpoint_with_nan_weights_or_a_wrong_iteration_is_skipped(tmp_path):
    config = toy_config(train={"checkpoint_every": 1, "iterations": 3})
    run = tmp_path / "run"
    list(Trainer(config, run).run(3))
    assert checkpoint_iterations(run) == [1, 2, 3]
    p3, p2 = (ckpt.checkpoint_path(run / "checkpoints", i) for i in (3, 2))
    tensors, meta = ckpt.read_checkpoint(p3)
    name = next(k for k in tensors if k.startswith("model/"))
    tensors[name] = tensors[name].copy()
    tensors[name].flat[0] = np.nan
    ckpt.write_checkpoint(p3, tensors, meta)
    tensors, meta = ckpt.read_checkpoint(p2)
    ckpt.write_checkpoint(p2, tensors, {**meta, "iteration": 7})
    with pytest.raises(ModelFileError, match="NaN or inf"):
        ckpt.read_checkpoint(p3)
    with pytest.raises(ModelFileError, match="says iteration 7"):
        ckpt.read_checkpoint(p2)
    assert Trainer(config, run, resume=True).iteration == 1


# --- attacks the loaders must refuse ---------------------------------------------------------------

def _idx(arr: np.ndarray) -> bytes:
    return struct.pack(">I", 0x803) + struct.pack(">3I", *arr.shape) + arr.tobytes()


def test_gzip_bomb_behind_a_small_idx_header_is_refused_before_inflating(tmp_path, monkeypatch):
    # the header promises one 28x28 image; the stream inflates to 64 MB of zeros
    path = tmp_path / "train-images-idx3-ubyte.gz"
    bomb = _idx(np.zeros((1, 28, 28), np.uint8)) + bytes(64 << 20)
    path.write_bytes(gzip.compress(bomb, compresslevel=9, mtime=0))
    assert path.stat().st_size < 100_000
    inflated = []
    real_read = gzip.GzipFile.read

    def counting_read(self, size=-1):
        out = real_read(self, size)
        inflated.append(len(out))
        return out

    monkeypatch.setattr(gzip.GzipFile, "read", counting_read)
    with pytest.raises(DataError, match=r"holds more data than its header describes.*inflates to"):
        read_idx(path, "images")
    assert sum(inflated) < 1 << 20  # it stopped at the trailer check, not after inflating


def test_consistent_gzip_bomb_larger_than_memory_is_refused_before_inflating(tmp_path, monkeypatch):
    # header and stream agree (a "valid" 47 MB file of zeros), but the machine has less room
    arr = np.zeros((60000, 28, 28), np.uint8)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_idx(arr), compresslevel=9, mtime=0))
    monkeypatch.setenv("EBM_MEMORY_LIMIT", str(50 << 20))  # 47 MB of bytes + their float32 copy do not fit
    inflated = []
    real_read = gzip.GzipFile.read
    monkeypatch.setattr(gzip.GzipFile, "read", lambda self, size=-1: inflated.append(size) or real_read(self, size))
    with pytest.raises(DataError, match=r"would need .* of memory, but only 50\.0 MiB is available"):
        read_idx(path, "images")
    assert sum(inflated) < 100  # the 16-byte header, nothing more


def test_huge_declared_idx_size_is_refused_without_allocating(tmp_path, monkeypatch):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(struct.pack(">I3I", 0x803, 0xFFFFFFFF, 0xFFFFFFFF, 28) + bytes(100))
    real = images._read_exact
    monkeypatch.setattr(images, "_read_exact", lambda f, n: real(f, n) if n < 1 << 20 else pytest.fail(f"read {n}"))
    with pytest.raises(DataError, match="is truncated: its header promises"):
        read_idx(path, "images")


def test_npy_larger_than_memory_is_refused_before_loading(tmp_path, monkeypatch):
    path = tmp_path / "x.npy"
    path.write_bytes(_npy(np.zeros((64, 32, 32), np.uint8)))
    monkeypatch.setenv("EBM_MEMORY_LIMIT", "1000")
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("loaded"))
    with pytest.raises(DataError, match="would need 64.0 KiB of memory"):
        load_image_array(path)


def test_object_arrays_are_refused_in_npy_and_npz_and_never_unpickled(tmp_path, monkeypatch):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    obj = np.array([Evil(), 1], dtype=object)
    np.save(tmp_path / "o.npy", obj, allow_pickle=True)
    np.savez(tmp_path / "o.npz", x=obj)
    for name in ("o.npy", "o.npz"):
        with pytest.raises(DataError, match="object"):
            load_image_array(tmp_path / name)
        with pytest.raises(DataError, match="object"):
            load_points(tmp_path / name)
    assert not marker.exists()


def test_cifar_pickle_that_would_run_code_is_refused_and_does_not_run(tmp_path):
    marker = tmp_path / "created-by-the-payload"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    good = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}
    (folder / "data_batch_1").write_bytes(pickle.dumps(good, protocol=2))
    (folder / "data_batch_2").write_bytes(pickle.dumps({b"data": Payload(), b"labels": [0]}, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": Payload()}, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_2.*refused to load global (posix|nt|os)\.system"):
        load_cifar(folder)
    with pytest.raises(DataError, match="refused"):  # the app's own path: a dataset spec
        load_dataset({"path": str(folder), "format": "cifar"})
    (folder / "data_batch_2").unlink()
    loaded = load_cifar(folder)  # the good batch loads; the poisoned class names are ignored
    assert loaded.x.shape == (2, 3, 32, 32) and loaded.class_names is None
    assert not marker.exists()


@pytest.mark.parametrize("text", ["x,y\n1,2\nnan,3\n", "1,2\n3,inf\n", "1;2\n-inf;0\n", "1 2\n1e999 0\n"])
def test_nan_and_inf_in_a_csv_are_refused(tmp_path, text):
    path = tmp_path / "p.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=r"p\.csv.*NaN/infinite"):
        load_points(path)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_in_arrays_are_refused(tmp_path, value):
    pts = np.zeros((5, 2))
    pts[3, 1] = value
    np.save(tmp_path / "p.npy", pts)
    with pytest.raises(DataError, match="NaN/infinite"):
        load_points(tmp_path / "p.npy")
    imgs = np.zeros((3, 1, 4, 4), np.float32)
    imgs[1, 0, 2, 2] = value
    np.savez(tmp_path / "i.npz", x=imgs)
    with pytest.raises(DataError, match="NaN/infinite"):
        load_image_array(tmp_path / "i.npz")


@pytest.mark.parametrize("line", ["lr = nan", "lr = inf", "max_energy = -inf", "alpha = nan"])
def test_nan_and_inf_in_a_config_are_refused(tmp_path, line):
    path = tmp_path / "c.toml"
    path.write_text(f"[train]\n{line}\n")
    with pytest.raises(ConfigError, match=r"c\.toml.*not a finite number"):
        load_config(path)


def test_zip_member_claiming_more_than_deflate_can_give_is_refused(tmp_path):
    path = tmp_path / "x.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x.npy", _npy(np.zeros((4, 4, 4), np.uint8)))
    raw = bytearray(path.read_bytes())
    for header, at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # uncompressed size fields
        i = raw.index(header) + at
        raw[i:i + 4] = struct.pack("<I", 0xFFFFFFF0)
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="claims .* bytes from"):
        load_image_array(path)


def test_model_file_whose_architecture_declares_huge_layers_is_refused_before_building(tmp_path, monkeypatch):
    # the architecture is text in the file: 2 -> 10**9 would allocate 8 GB on building
    import json

    from safetensors.numpy import save as st_save

    from engine.models import energy_net
    from engine.models.io import load_model

    arch = {"input_shape": [2], "layers": [{"type": "linear", "in_features": 2, "out_features": 10**9},
                                           {"type": "swish"},
                                           {"type": "linear", "in_features": 10**9, "out_features": 1}]}
    tensors = {"0.weight": np.zeros((4, 2), np.float32), "0.bias": np.zeros(4, np.float32),
               "2.weight": np.zeros((1, 4), np.float32), "2.bias": np.zeros(1, np.float32)}
    meta = {"format": "ebm-studio-model", "version": "1", "architecture": json.dumps(arch), "dtype": "float32"}
    path = tmp_path / "model.safetensors"
    path.write_bytes(st_save(tensors, metadata=meta))
    monkeypatch.setattr(energy_net.EnergyNet, "__init__", lambda *a, **k: pytest.fail("built"))
    with pytest.raises(ModelFileError, match=r"needs 4,000,000,001 parameters but the file holds 17 values"):
        load_model(path)


def test_checkpoint_with_a_dtype_numpy_lacks_is_a_model_file_error(tmp_path):
    # found: a tensor relabelled F8_E4M3 made safetensors raise AttributeError (numpy has no float8)
    import json

    path = ckpt.checkpoint_path(tmp_path, 3)
    ckpt.write_checkpoint(path, {"model/0.weight": np.zeros(4, np.uint8)}, {"iteration": 3})
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header["model/0.weight"]["dtype"] = "F8_E4M3"
    new = json.dumps(header).encode()
    path.write_bytes(len(new).to_bytes(8, "little") + new + raw[8 + n:])
    with pytest.raises(ModelFileError, match="unreadable"):
        ckpt.read_checkpoint(path)


def test_export_target_with_a_nul_in_its_name_is_an_ebm_error(tmp_path):
    # found by the property test on export targets: os raised ValueError("embedded null byte")
    from engine.errors import EBMError
    from engine.export import export_onnx
    from engine.models import EnergyNet

    pytest.importorskip("onnx")
    net = EnergyNet({"input_shape": [2], "layers": [{"type": "linear", "in_features": 2, "out_features": 1}]})
    with pytest.raises(EBMError, match="not a valid file name"):
        export_onnx(net, tmp_path / "a\x00b.onnx")
    assert list(tmp_path.iterdir()) == []


def test_image_folders_and_texture_crops_that_would_not_fit_in_memory_are_refused(tmp_path, monkeypatch):
    from PIL import Image

    from engine.data.images import load_image_folder

    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    monkeypatch.setenv("EBM_MEMORY_LIMIT", "10000")  # 3 x 3 x 32 x 32 bytes and their float32 copy: 46 kB
    with pytest.raises(DataError, match="3 images of 3 x 32 x 32 would need"):
        load_image_folder(tmp_path, size=32)
    with pytest.raises(DataError, match="1000 crops of 3 x 8 x 8 would need"):
        load_texture_crops(tmp_path / "0.png", n=1000, size=8)
    monkeypatch.delenv("EBM_MEMORY_LIMIT")
    assert load_image_folder(tmp_path, size=32).x.shape == (3, 3, 32, 32)
