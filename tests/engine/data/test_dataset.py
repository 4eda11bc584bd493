"""The Dataset container, splits, minibatches and load_dataset(spec)."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.data import DATASET_NAMES, TOY_DATASETS, Dataset, load_dataset
from engine.errors import ConfigError, DataError


def _labelled(n: int = 100, k: int = 4) -> Dataset:
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    return Dataset(x, (np.arange(n) % k).astype(np.int64), "toy", (-1.0, 1.0))


def test_container_basics() -> None:
    ds = _labelled()
    assert len(ds) == 100 and ds.input_shape == (2,) and not ds.is_image and ds.num_classes == 4
    with pytest.raises(TypeError):
        Dataset(np.zeros((3, 2)), None, "f64", (0.0, 1.0))
    with pytest.raises(TypeError):
        Dataset(np.zeros((3, 2), np.float32), np.zeros(2, np.int64), "short", (0.0, 1.0))


def test_stratified_seeded_split() -> None:
    ds = _labelled(103, 4)
    tr, va = ds.split(0.2, seed=1)
    assert len(tr) + len(va) == 103
    assert set(map(tuple, tr.x)).isdisjoint(map(tuple, va.x))
    counts = np.bincount(va.y, minlength=4)
    assert counts.min() >= 5 and counts.max() <= 6  # each class keeps its 20%
    _, va2 = ds.split(0.2, seed=1)
    np.testing.assert_array_equal(va.x, va2.x)
    assert not np.array_equal(va.x, ds.split(0.2, seed=2)[1].x)
    tiny = Dataset(np.zeros((4, 2), np.float32), np.array([0, 0, 1, 1]), "t", (0.0, 1.0))
    tr, va = tiny.split(0.1)
    assert np.bincount(va.y).tolist() == [1, 1] and len(tr) == 2  # every class on both sides
    with pytest.raises(ConfigError, match="val_fraction"):
        ds.split(1.0)
    unl = Dataset(np.zeros((10, 2), np.float32), None, "u", (0.0, 1.0))
    assert [len(p) for p in unl.split(0.3)] == [7, 3]


def test_batches_cover_each_epoch_and_are_deterministic() -> None:
    ds = _labelled(100, 4)
    it = ds.batches(np.random.default_rng(0), 20)
    seen = []
    for _ in range(5):
        xb, yb = next(it)
        assert xb.shape == (20, 2) and yb.shape == (20,)
        np.testing.assert_array_equal(yb, (xb[:, 0] / 2).astype(np.int64) % 4)  # pairs stay together
        seen.extend(xb[:, 0].tolist())
    assert sorted(seen) == sorted(ds.x[:, 0].tolist())  # one epoch = every sample once
    a = [b[0] for b in ds.batches(5, 30, n_batches=7)]
    b = [b[0] for b in ds.batches(5, 30, n_batches=7)]
    assert len(a) == 7 and all(np.array_equal(p, q) for p, q in zip(a, b))
    assert all(p.shape == (30, 2) for p in a)  # batches straddling epochs are full too
    with pytest.raises(ConfigError, match="larger than the dataset"):
        next(ds.batches(0, 101))
    with pytest.raises(ConfigError):
        next(ds.batches(0, 0))
    unl = Dataset(np.zeros((10, 2), np.float32), None, "u", (0.0, 1.0))
    assert next(unl.batches(0, 4))[1] is None


@pytest.mark.parametrize("name", list(TOY_DATASETS))
def test_toy_specs(name: str) -> None:
    tr, va = load_dataset({"name": name, "n": 1000, "seed": 3})
    assert (len(tr), len(va)) == (900, 100)
    assert tr.x.dtype == np.float32 and tr.input_shape == (2,) and tr.y is None
    assert tr.value_range == (-4.5, 4.5)
    assert tr.meta["log_prob"] is TOY_DATASETS[name].log_prob and tr.meta["box"] == TOY_DATASETS[name].box
    tr2, _ = load_dataset({"name": name, "n": 1000, "seed": 3})
    np.testing.assert_array_equal(tr.x, tr2.x)


def test_builtin_specs() -> None:
    tr, va = load_dataset({"name": "builtin_digits"})
    assert (len(tr), len(va)) == (6000, 1000)
    assert tr.input_shape == (1, 28, 28) and tr.is_image and tr.value_range == (-1.0, 1.0)
    assert tr.class_names == tuple("0123456789") and tr.num_classes == 10
    np.testing.assert_array_equal(np.bincount(va.y), [100] * 10)
    tr, va = load_dataset({"name": "builtin_shapes", "n": 600, "val_fraction": 0.5})
    assert tr.input_shape == (3, 32, 32) and len(va) == 300 and tr.num_classes == 6


def test_spec_errors() -> None:
    with pytest.raises(ConfigError, match="allowed: 8gaussians, .*builtin_digits"):
        load_dataset({"name": "mnist"})
    with pytest.raises(ConfigError, match="exactly one of 'name'"):
        load_dataset({})
    with pytest.raises(ConfigError, match="exactly one of 'name'"):
        load_dataset({"name": "rings", "path": "x.csv"})
    with pytest.raises(ConfigError, match=r"Unknown setting\(s\) 'size'.*allowed: n, name, seed"):
        load_dataset({"name": "rings", "size": 3})
    with pytest.raises(ConfigError, match="'n' must be an integer"):
        load_dataset({"name": "rings", "n": 1.5})
    with pytest.raises(ConfigError, match="val_fraction"):
        load_dataset({"name": "rings", "val_fraction": "lots"})
    with pytest.raises(ConfigError, match="format 'hdf5'; allowed: idx, cifar"):
        load_dataset({"path": "x.h5", "format": "hdf5"})
    with pytest.raises(ConfigError, match="Cannot tell the format"):
        load_dataset({"path": "x.h5"})
    with pytest.raises(ConfigError, match="spec must be"):
        load_dataset(["rings"])  # type: ignore[arg-type]
    assert set(DATASET_NAMES) >= {"8gaussians", "builtin_digits", "builtin_shapes"}


def test_path_specs(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    # csv points
    pts = rng.normal(size=(50, 2))
    np.savetxt(tmp_path / "p.csv", pts, delimiter=",", header="x,y", comments="")
    tr, va = load_dataset({"path": str(tmp_path / "p.csv"), "format": "csv"})
    assert (len(tr), len(va)) == (45, 5) and tr.input_shape == (2,)
    lo, hi = tr.value_range
    assert lo < pts.min() and hi > pts.max()
    # .npy points (auto format) vs .npy images
    np.save(tmp_path / "p.npy", pts)
    assert load_dataset({"path": str(tmp_path / "p.npy")})[0].input_shape == (2,)
    np.save(tmp_path / "im.npy", rng.integers(0, 256, (20, 8, 8), dtype=np.uint8))
    np.save(tmp_path / "lab.npy", np.arange(20) % 2)
    tr, va = load_dataset({"path": str(tmp_path / "im.npy"), "labels": str(tmp_path / "lab.npy"),
                           "val_fraction": 0.2, "n": 10})
    assert tr.input_shape == (1, 8, 8) and len(tr) + len(va) == 10 and np.bincount(va.y).tolist() == [1, 1]
    # idx folder
    d = tmp_path / "mnist"
    d.mkdir()
    imgs = rng.integers(0, 256, (10, 6, 6), dtype=np.uint8)
    head = struct.pack(">I3I", 0x803, 10, 6, 6)
    (d / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(head + imgs.tobytes()))
    (d / "train-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, 10) + bytes(range(10)))
    tr, va = load_dataset({"path": str(d), "format": "idx", "val_fraction": 0.0})
    assert tr.input_shape == (1, 6, 6) and len(va) == 0 and sorted(tr.y.tolist()) == list(range(10))
    # cifar python batch
    batch = {b"data": rng.integers(0, 256, (10, 3072), dtype=np.uint8), b"labels": list(range(10))}
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=2))
    tr, _ = load_dataset({"path": str(tmp_path / "data_batch_1"), "format": "cifar"})
    assert tr.input_shape == (3, 32, 32)
    # folder and texture
    f = tmp_path / "folder"
    for cls in ("a", "b"):
        for i in range(3):
            (f / cls).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (12, 10), (i * 40, 0, 0)).save(f / cls / f"{i}.png")
    tr, va = load_dataset({"path": str(f), "size": 8, "mode": "gray", "val_fraction": 0.34})
    assert tr.input_shape == (1, 8, 8) and tr.class_names == ("a", "b") and len(va) == 2
    Image.new("RGB", (40, 40), (0, 200, 0)).save(tmp_path / "tex.png")
    tr, va = load_dataset({"path": str(tmp_path / "tex.png"), "format": "texture", "n": 50, "size": 16})
    assert tr.input_shape == (3, 16, 16) and len(tr) + len(va) == 50
    # errors
    with pytest.raises(ConfigError, match="'mode' must be"):
        load_dataset({"path": str(f), "format": "folder", "mode": "cmyk"})
    with pytest.raises(ConfigError, match=r"Unknown setting\(s\) 'labels'"):
        load_dataset({"path": str(f), "format": "folder", "labels": "x"})
    with pytest.raises(DataError, match="no such file"):
        load_dataset({"path": str(tmp_path / "missing.csv"), "format": "csv"})
