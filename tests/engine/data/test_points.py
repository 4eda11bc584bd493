"""The user's 2D points: CSV/text and .npy/.npz, and a clear DataError for every bad file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.data.points import load_points
from engine.errors import DataError, EBMError


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("text", [
    "1.5,2\n-3,4e-1\n",
    "x,y\n1.5,2\n-3,0.4\n",
    "# my points\nx y\n1.5   2\n\n-3\t0.4\n",
    "\ufeffx;y\n1.5;2\n-3;0.4\n",
    '"x","y"\n1.5,2\n-3,0.4\n',
    "1.5\t2\n-3\t0.4\n",
])
def test_csv_variants(tmp_path: Path, text: str) -> None:
    x = load_points(_write(tmp_path, "p.csv", text))
    assert x.dtype == np.float32 and x.shape == (2, 2)
    np.testing.assert_allclose(x, [[1.5, 2.0], [-3.0, 0.4]], rtol=1e-6)


def test_columns_by_index_and_name(tmp_path: Path) -> None:
    p = _write(tmp_path, "p.csv", "a,b,label\n1,2,0\n3,4,1\n")
    with pytest.raises(DataError, match=r"p\.csv.*3 columns.*columns="):
        load_points(p)
    np.testing.assert_array_equal(load_points(p, columns=(0, 1)), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(load_points(p, columns=("b", "label")), [[2, 0], [4, 1]])
    np.testing.assert_array_equal(load_points(p, columns=(-1, 0)), [[0, 1], [1, 3]])
    with pytest.raises(DataError, match="no column named 'z'"):
        load_points(p, columns=("z", "a"))
    with pytest.raises(DataError, match="column 5 does not exist"):
        load_points(p, columns=(5, 0))


@pytest.mark.parametrize("text, match", [
    ("", "empty"),
    ("# only a comment\n\n", "empty"),
    ("x,y\n", "header but no data"),
    ("1,2\n3,4,5\n", "line 2 has 3 columns but line 1 has 2"),
    ("x,y\n1,2\n3\n", "line 3 has 1 columns but the header has 2"),
    ("1,2\n3,abc\n", "line 2: 'abc' is not a number"),
    ("1,2\nnan,4\n", "NaN/infinite.*index \\(1, 0\\)"),
    ("1,2\n3,inf\n", "NaN/infinite"),
    ("1\n2\n", "1 columns"),
    ("1,1e39\n", "too large for float32"),
])
def test_bad_csv_raises_data_error_naming_the_file(tmp_path: Path, text: str, match: str) -> None:
    p = _write(tmp_path, "bad.csv", text)
    with pytest.raises(DataError, match=match) as info:
        load_points(p)
    assert str(p) in str(info.value)
    assert isinstance(info.value, EBMError)


def test_binary_and_missing_files(tmp_path: Path) -> None:
    p = tmp_path / "b.csv"
    p.write_bytes(b"\x00\x01\x02garbage")
    with pytest.raises(DataError, match="binary"):
        load_points(p)
    p.write_bytes(b"\xff\xfe1,2\n")
    with pytest.raises(DataError, match="UTF-8"):
        load_points(p)
    with pytest.raises(DataError, match="no such file"):
        load_points(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="not a regular file"):
        load_points(tmp_path)


def test_npy_and_npz(tmp_path: Path) -> None:
    pts = np.random.default_rng(0).normal(size=(50, 2))
    np.save(tmp_path / "p.npy", pts)
    np.testing.assert_array_equal(load_points(tmp_path / "p.npy"), pts.astype(np.float32))
    np.savez(tmp_path / "p.npz", points=pts, other=np.zeros(3))
    np.testing.assert_array_equal(load_points(tmp_path / "p.npz"), pts.astype(np.float32))
    np.savez(tmp_path / "q.npz", pts)
    assert load_points(tmp_path / "q.npz").shape == (50, 2)
    np.savez(tmp_path / "r.npz", a=pts, b=pts)
    with pytest.raises(DataError, match="name the points array"):
        load_points(tmp_path / "r.npz")
    np.save(tmp_path / "wide.npy", np.zeros((5, 3)))
    with pytest.raises(DataError, match="3 columns"):
        load_points(tmp_path / "wide.npy")
    assert load_points(tmp_path / "wide.npy", columns=(0, 2)).shape == (5, 2)
    np.save(tmp_path / "flat.npy", np.zeros(6))
    with pytest.raises(DataError, match=r"shape \(6,\)"):
        load_points(tmp_path / "flat.npy")
    np.save(tmp_path / "empty.npy", np.zeros((0, 2)))
    with pytest.raises(DataError, match="no points"):
        load_points(tmp_path / "empty.npy")
    bad = pts.copy()
    bad[3, 1] = np.inf
    np.save(tmp_path / "inf.npy", bad)
    with pytest.raises(DataError, match="NaN/infinite"):
        load_points(tmp_path / "inf.npy")


def test_npy_pickles_and_lying_headers_are_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "obj.npy", np.array([object(), 1], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="object"):
        load_points(tmp_path / "obj.npy")
    # a header that promises 10^12 points in a tiny file: refused before any allocation
    from numpy.lib import format as npy_format

    with open(tmp_path / "huge.npy", "wb") as f:
        npy_format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False,
                                              "shape": (10**12, 2)})
        f.write(b"\0" * 64)
    with pytest.raises(DataError, match="truncated"):
        load_points(tmp_path / "huge.npy")
    data = (tmp_path / "p.npy")
    np.save(data, np.zeros((10, 2)))
    raw = data.read_bytes()
    data.write_bytes(raw[:-8])
    with pytest.raises(DataError, match="truncated"):
        load_points(data)
    data.write_bytes(raw + b"xx")
    with pytest.raises(DataError, match="bytes after"):
        load_points(data)
    (tmp_path / "z.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(DataError, match="npz"):
        load_points(tmp_path / "z.npz")
