"""MNIST-format IDX files: plain and gzip, and a DataError for every broken variant."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from engine.data.images import find_idx_files, load_idx, read_idx
from engine.errors import DataError


def idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    arr = np.asarray(arr, dtype=np.uint8)
    magic = magic if magic is not None else (0x0800 | arr.ndim)
    return struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def write_idx(path: Path, arr: np.ndarray, gz: bool = False, magic: int | None = None) -> Path:
    data = idx_bytes(arr, magic)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.fixture()
def mnist_like() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (7, 5, 4), dtype=np.uint8), rng.integers(0, 10, 7).astype(np.uint8)


@pytest.mark.parametrize("gz", [False, True])
def test_round_trip(tmp_path: Path, mnist_like, gz: bool) -> None:
    imgs, labs = mnist_like
    ip = write_idx(tmp_path / ("im.gz" if gz else "im"), imgs, gz)
    lp = write_idx(tmp_path / ("lab.gz" if gz else "lab"), labs, gz)
    x, y, names = load_idx(ip, lp)
    assert x.shape == (7, 1, 5, 4) and x.dtype == np.float32
    assert y is not None and y.dtype == np.int64 and names is None
    np.testing.assert_allclose(x[:, 0], imgs / 127.5 - 1.0, atol=1e-6)
    np.testing.assert_array_equal(y, labs)
    assert x.min() >= -1.0 and x.max() <= 1.0
    x2, y2, _ = load_idx(ip)
    assert y2 is None and np.array_equal(x, x2)


def test_emnist_transpose(tmp_path: Path, mnist_like) -> None:
    imgs, _ = mnist_like
    x, _, _ = load_idx(write_idx(tmp_path / "im", imgs), transpose=True)
    assert x.shape == (7, 1, 4, 5)
    np.testing.assert_allclose(x[:, 0], imgs.transpose(0, 2, 1) / 127.5 - 1.0, atol=1e-6)


def test_wrong_magic(tmp_path: Path, mnist_like) -> None:
    imgs, labs = mnist_like
    ip, lp = write_idx(tmp_path / "im", imgs), write_idx(tmp_path / "lab", labs)
    with pytest.raises(DataError, match=r"lab: is an IDX labels file .*expected images"):
        load_idx(lp)
    with pytest.raises(DataError, match=r"im: is an IDX images file .*expected labels"):
        load_idx(ip, ip)
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(DataError, match="is not an IDX file .*0x00000803"):
        read_idx(junk, "images")
    f32 = write_idx(tmp_path / "f32", imgs, magic=0x0D03)
    with pytest.raises(DataError, match="float32"):
        read_idx(f32, "images")
    (tmp_path / "tiny").write_bytes(b"\0\0")
    with pytest.raises(DataError, match="too short"):
        read_idx(tmp_path / "tiny", "images")


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_and_oversized(tmp_path: Path, mnist_like, gz: bool) -> None:
    imgs, _ = mnist_like
    data = idx_bytes(imgs)
    p = tmp_path / "im"
    for raw, match in ((data[:-10], "truncated"), (data[:10], "truncated"), (data + b"\0\0", "more")):
        p.write_bytes(gzip.compress(raw) if gz else raw)
        with pytest.raises(DataError, match=match) as info:
            read_idx(p, "images")
        assert str(p) in str(info.value)
    if gz:  # a gzip stream cut short
        p.write_bytes(gzip.compress(data)[:-20])
        with pytest.raises(DataError, match="gzip|truncated"):
            read_idx(p, "images")


@pytest.mark.parametrize("gz", [False, True])
def test_lying_header_is_not_trusted(tmp_path: Path, gz: bool) -> None:
    # 4e9 x 4e9 x 4e9 promised by a header in a tiny file: refused before allocating
    head = struct.pack(">I", 0x803) + struct.pack(">3I", 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    p = tmp_path / "liar"
    p.write_bytes(gzip.compress(head + b"\0" * 100) if gz else head + b"\0" * 100)
    with pytest.raises(DataError, match="truncated|claims"):
        read_idx(p, "images")


def test_empty_dims_and_count_mismatch(tmp_path: Path, mnist_like) -> None:
    imgs, labs = mnist_like
    p = write_idx(tmp_path / "zero", np.zeros((0, 5, 4), dtype=np.uint8))
    with pytest.raises(DataError, match="empty"):
        read_idx(p, "images")
    ip, lp = write_idx(tmp_path / "im", imgs), write_idx(tmp_path / "lab", labs[:5])
    with pytest.raises(DataError, match="5 labels but .* 7 images"):
        load_idx(ip, lp)
    with pytest.raises(DataError, match="no such file"):
        load_idx(tmp_path / "nope")


def test_find_idx_files(tmp_path: Path, mnist_like) -> None:
    imgs, labs = mnist_like
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", imgs, gz=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labs, gz=True)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", imgs[:3])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labs[:3])
    i, lab = find_idx_files(tmp_path, "train")
    assert i.name.startswith("train-images") and lab is not None and lab.name.startswith("train-labels")
    i, lab = find_idx_files(tmp_path, "test")
    assert i.name.startswith("t10k-images")
    assert len(load_idx(i, lab).x) == 3
    with pytest.raises(DataError, match="split"):
        find_idx_files(tmp_path, "val")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no IDX train images"):
        find_idx_files(empty)
