"""CIFAR-10/100 binary and python batches, read without letting a pickle run code."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from engine.data.images import (
    load_cifar,
    load_cifar_binary,
    load_cifar_pickle,
    restricted_pickle_load,
)
from engine.errors import DataError


def _pixels(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3072), dtype=np.uint8)


def write_bin(path: Path, pixels: np.ndarray, *labels: np.ndarray) -> Path:
    rec = np.concatenate([np.stack(labels, 1).astype(np.uint8), pixels], axis=1)
    path.write_bytes(rec.tobytes())
    return path


def test_cifar10_binary(tmp_path: Path) -> None:
    px = _pixels(5)
    y = np.array([0, 9, 3, 3, 1])
    x, lab, _ = load_cifar_binary(write_bin(tmp_path / "b.bin", px, y))
    assert x.shape == (5, 3, 32, 32) and x.dtype == np.float32
    np.testing.assert_array_equal(lab, y)
    assert lab.dtype == np.int64
    # record layout: 1024 red, then green, then blue, each row-major 32 x 32
    np.testing.assert_allclose(x[2, 1, 0, 5], px[2, 1024 + 5] / 127.5 - 1.0, atol=1e-6)
    np.testing.assert_allclose(x[4, 2, 31, 31], px[4, 3071] / 127.5 - 1.0, atol=1e-6)


def test_cifar100_binary_fine_and_coarse(tmp_path: Path) -> None:
    px = _pixels(4)
    coarse, fine = np.array([0, 19, 5, 7]), np.array([99, 0, 42, 7])
    p = write_bin(tmp_path / "train.bin", px, coarse, fine)
    np.testing.assert_array_equal(load_cifar_binary(p).y, fine)
    np.testing.assert_array_equal(load_cifar_binary(p, label="coarse").y, coarse)
    with pytest.raises(DataError, match="label must be"):
        load_cifar_binary(p, label="medium")


def test_binary_errors(tmp_path: Path) -> None:
    p = write_bin(tmp_path / "b.bin", _pixels(3), np.array([1, 2, 3]))
    raw = p.read_bytes()
    p.write_bytes(raw[:-100])
    with pytest.raises(DataError, match="not a whole number of CIFAR-10.*truncated") as info:
        load_cifar_binary(p)
    assert str(p) in str(info.value)
    p.write_bytes(raw[:-100])
    with pytest.raises(DataError, match="3073-byte cifar10 records"):
        load_cifar_binary(p, variant="cifar10")
    p.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_cifar_binary(p)
    write_bin(p, _pixels(2), np.array([1, 12]))
    with pytest.raises(DataError, match="label 12 .*10 classes"):
        load_cifar_binary(p)
    with pytest.raises(DataError, match="unknown CIFAR variant"):
        load_cifar_binary(p, variant="cifar11")


def _batch(n: int, key: str = "labels", bytes_keys: bool = True) -> dict:
    rng = np.random.default_rng(n)
    d = {"batch_label": "training batch 1 of 5", "data": _pixels(n, n),
         key: [int(v) for v in rng.integers(0, 10, n)],
         "filenames": [f"img_{i}.png" for i in range(n)]}
    if bytes_keys:  # what the original Python 2 pickles look like under encoding="bytes"
        d = {k.encode(): (v.encode() if isinstance(v, str) else v) for k, v in d.items()}
    return d


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("bytes_keys", [True, False])
def test_python_batches(tmp_path: Path, protocol: int, bytes_keys: bool) -> None:
    d = _batch(6, bytes_keys=bytes_keys)
    p = tmp_path / "data_batch_1"
    p.write_bytes(pickle.dumps(d, protocol=protocol))
    x, y, _ = load_cifar_pickle(p)
    data = d[b"data" if bytes_keys else "data"]
    assert x.shape == (6, 3, 32, 32)
    np.testing.assert_allclose(x.reshape(6, -1), data / 127.5 - 1.0, atol=1e-6)
    np.testing.assert_array_equal(y, d[b"labels" if bytes_keys else "labels"])
    assert load_cifar(p).x.shape == (6, 3, 32, 32)  # auto-detected as a pickle


def test_python_cifar100_and_plain_bytes_payload(tmp_path: Path) -> None:
    px = _pixels(3)
    d = {"data": px.tobytes(), "fine_labels": [5, 99, 0], "coarse_labels": [1, 2, 19]}
    p = tmp_path / "train"
    p.write_bytes(pickle.dumps(d, protocol=2))
    np.testing.assert_array_equal(load_cifar_pickle(p).y, [5, 99, 0])
    np.testing.assert_array_equal(load_cifar_pickle(p, label="coarse").y, [1, 2, 19])
    np.testing.assert_allclose(load_cifar_pickle(p).x.reshape(3, -1), px / 127.5 - 1.0, atol=1e-6)


class _Evil:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.target}",))


class _EvalEvil:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


def test_malicious_pickles_are_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    p = tmp_path / "data_batch_1"
    p.write_bytes(pickle.dumps({b"data": _Evil(marker), b"labels": [1]}, protocol=2))
    with pytest.raises(DataError, match=r"refused to load global (posix|nt|os)\.system"):
        load_cifar_pickle(p)
    with pytest.raises(DataError, match="refused"):
        load_cifar(p)
    assert not marker.exists()
    for proto in (0, 2, 5):
        p.write_bytes(pickle.dumps(_EvalEvil(), protocol=proto))
        with pytest.raises(DataError, match=r"(builtins|__builtin__)\.eval"):
            restricted_pickle_load(p)
    # object arrays and the latin-1 helper used for anything else are refused too
    p.write_bytes(pickle.dumps(np.array([1, "a"], dtype=object), protocol=2))
    with pytest.raises(DataError, match="object arrays"):
        restricted_pickle_load(p)
    p.write_bytes(b"\x80\x02c_codecs\nencode\nq\x00X\x03\x00\x00\x00abcq\x01X\x05\x00\x00\x00rot13q\x02\x86q\x03Rq\x04.")
    with pytest.raises(DataError, match="latin-1"):
        restricted_pickle_load(p)
    # a plain numeric array is fine
    p.write_bytes(pickle.dumps(np.arange(6, dtype=np.int16).reshape(2, 3), protocol=2))
    np.testing.assert_array_equal(restricted_pickle_load(p), np.arange(6).reshape(2, 3))


def test_bad_python_batches(tmp_path: Path) -> None:
    p = tmp_path / "b"
    cases = [
        ([1, 2, 3], "holds a list, not a CIFAR batch"),
        ({"labels": [1]}, "no 'data' entry"),
        ({"data": np.zeros((2, 100), np.uint8), "labels": [1, 2]}, "not a multiple of 3072"),
        ({"data": _pixels(2), "labels": [1]}, "2 images but 1 labels"),
        ({"data": _pixels(2), "labels": [1, 10]}, "outside 0..9"),
        ({"data": _pixels(2)}, "no labels"),
        ({"data": _pixels(2).astype(np.float32), "labels": [1, 2]}, "float32"),
    ]
    for obj, match in cases:
        p.write_bytes(pickle.dumps(obj, protocol=2))
        with pytest.raises(DataError, match=match):
            load_cifar_pickle(p)
    p.write_bytes(pickle.dumps(_batch(4), protocol=2)[:-50])
    with pytest.raises(DataError, match="not a readable pickle"):
        load_cifar_pickle(p)


def test_cifar_folders(tmp_path: Path) -> None:
    binf = tmp_path / "cifar-10-batches-bin"
    binf.mkdir()
    for i, n in ((1, 3), (2, 4)):
        write_bin(binf / f"data_batch_{i}.bin", _pixels(n, i), np.full(n, i))
    write_bin(binf / "test_batch.bin", _pixels(2, 9), np.array([7, 8]))
    (binf / "batches.meta.txt").write_text("\n".join(f"class{i}" for i in range(10)) + "\n")
    train = load_cifar(binf)
    assert train.x.shape == (7, 3, 32, 32)
    np.testing.assert_array_equal(train.y, [1, 1, 1, 2, 2, 2, 2])
    assert train.class_names == tuple(f"class{i}" for i in range(10))
    np.testing.assert_array_equal(load_cifar(binf, split="test").y, [7, 8])

    pyf = tmp_path / "cifar-10-batches-py"
    pyf.mkdir()
    for i in (1, 2, 10):
        (pyf / f"data_batch_{i}").write_bytes(pickle.dumps(_batch(i + 1), protocol=2))
    names = [f"n{i}".encode() for i in range(10)]
    (pyf / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=2))
    train = load_cifar(pyf)
    assert len(train.x) == 2 + 3 + 11  # batches 1, 2, 10 in numeric order
    np.testing.assert_array_equal(train.y[:2], _batch(2)[b"labels"])
    assert train.class_names == tuple(f"n{i}" for i in range(10))
    with pytest.raises(DataError, match="no CIFAR test batches"):
        load_cifar(pyf, split="test")
