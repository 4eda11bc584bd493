"""Image folders (Pillow), texture crops, and .npy/.npz image arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.data.images import load_image_array, load_image_folder, load_texture_crops
from engine.errors import DataError


def _img(path: Path, w: int, h: int, colour=(255, 0, 0), mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (w, h), colour).save(path)
    return path


def test_folder_with_class_subfolders(tmp_path: Path) -> None:
    _img(tmp_path / "cats" / "a.png", 40, 30, (255, 0, 0))
    _img(tmp_path / "cats" / "deeper" / "b.jpg", 20, 50, (0, 255, 0))
    _img(tmp_path / "dogs" / "c.PNG", 16, 16, (0, 0, 255))
    _img(tmp_path / "dogs" / "d.png", 16, 16, (0, 0, 0, 0), mode="RGBA")  # transparent -> white
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    (tmp_path / "empty_class").mkdir()
    _img(tmp_path / "loose.png", 8, 8)  # ignored beside class folders
    x, y, names = load_image_folder(tmp_path, size=8)
    assert x.shape == (4, 3, 8, 8) and x.dtype == np.float32
    assert names == ("cats", "dogs")
    np.testing.assert_array_equal(y, [0, 0, 1, 1])
    np.testing.assert_allclose(x[0, :, 4, 4], [1, -1, -1], atol=1e-6)  # red
    assert np.abs(x[1, :, 4, 4] - [-1, 1, -1]).max() < 0.05  # green (JPEG)
    np.testing.assert_allclose(x[3], 1.0, atol=1e-6)  # transparent over white
    g = load_image_folder(tmp_path, size=5, mode="gray")
    assert g.x.shape == (4, 1, 5, 5)
    assert load_image_folder(tmp_path, size=8, max_images=3).x.shape[0] == 3


def test_folder_resize_and_centre_crop(tmp_path: Path) -> None:
    a = np.zeros((20, 60, 3), dtype=np.uint8)
    a[:, 20:40] = 255  # white centre third of a wide image
    Image.fromarray(a).save(tmp_path / "wide.png")
    x, y, names = load_image_folder(tmp_path, size=10)
    assert y is None and names is None and x.shape == (1, 3, 10, 10)
    assert x[0, :, :, 2:8].min() > 0.9  # the crop keeps the centre square
    assert x[0].mean() > 0.3


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such folder"):
        load_image_folder(tmp_path / "nope")
    with pytest.raises(DataError, match="holds no images"):
        load_image_folder(tmp_path)
    bad = tmp_path / "cls" / "broken.png"
    bad.parent.mkdir()
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    with pytest.raises(DataError, match=r"broken\.png: is not a readable image"):
        load_image_folder(tmp_path)
    p = _img(tmp_path / "x" / "trunc.png", 64, 64)
    p.write_bytes(p.read_bytes()[:40])
    with pytest.raises(DataError, match="trunc.png"):
        load_image_folder(tmp_path / "x")


def test_texture_crops(tmp_path: Path) -> None:
    tex = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    p = tmp_path / "tex.png"
    Image.fromarray(tex).save(p)
    x, y, _ = load_texture_crops(p, 10, 16, rng=3)
    assert x.shape == (10, 3, 16, 16) and y is None and x.dtype == np.float32
    np.testing.assert_array_equal(x, load_texture_crops(p, 10, 16, rng=np.random.default_rng(3)).x)
    assert not np.array_equal(x, load_texture_crops(p, 10, 16, rng=4).x)
    full = tex.transpose(2, 0, 1) / 127.5 - 1.0
    for crop in x:  # each crop is a window of the texture
        hits = [(i, j) for i in range(48 - 15) for j in range(64 - 15)
                if np.allclose(full[:, i:i + 16, j:j + 16], crop, atol=1e-5)]
        assert hits
    assert load_texture_crops(p, 2, 48, rng=0, mode="gray").x.shape == (2, 1, 48, 48)
    assert load_texture_crops(p, 2, 20, rng=0, scale=0.5).x.shape == (2, 3, 20, 20)
    with pytest.raises(DataError, match="64 x 48 pixels, smaller than the 50 x 50"):
        load_texture_crops(p, 2, 50)
    with pytest.raises(DataError, match="after scaling"):
        load_texture_crops(p, 2, 30, scale=0.5)


_NHWC = (0, 3, 1, 2)


@pytest.mark.parametrize("shape, layout, expect, perm", [
    ((5, 7, 6), "auto", (5, 1, 7, 6), None),
    ((5, 7, 6, 3), "auto", (5, 3, 7, 6), _NHWC),
    ((5, 7, 6, 1), "auto", (5, 1, 7, 6), _NHWC),
    ((5, 3, 7, 6), "auto", (5, 3, 7, 6), (0, 1, 2, 3)),
    ((5, 3, 7, 3), "nhwc", (5, 3, 3, 7), _NHWC),
])
def test_arrays_layouts(tmp_path: Path, shape, layout: str, expect, perm) -> None:
    a = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    np.save(tmp_path / "a.npy", a)
    x, y, _ = load_image_array(tmp_path / "a.npy", layout=layout)
    assert x.shape == expect and x.dtype == np.float32 and y is None
    ref = a[:, None] if perm is None else a.transpose(perm)
    np.testing.assert_allclose(x, ref / 127.5 - 1.0, atol=1e-6)


def test_array_value_ranges(tmp_path: Path) -> None:
    u = np.random.default_rng(1).random((4, 1, 5, 5))
    p = tmp_path / "f.npy"
    for data, ref in ((u, u * 2 - 1), (u * 2 - 1, u * 2 - 1), (u * 255, u * 2 - 1),
                      ((u * 255).astype(np.int64), np.floor(u * 255) / 127.5 - 1),
                      (u > 0.5, np.where(u > 0.5, 1.0, -1.0))):
        np.save(p, data)
        np.testing.assert_allclose(load_image_array(p).x, ref, atol=1e-5)
    np.save(p, u * 10 - 5)
    with pytest.raises(DataError, match="value_range"):
        load_image_array(p)
    np.testing.assert_allclose(load_image_array(p, value_range=(-5, 5)).x, u * 2 - 1, atol=1e-5)
    with pytest.raises(DataError, match="outside value_range"):
        load_image_array(p, value_range=(0, 5))
    bad = u.copy()
    bad[1, 0, 2, 3] = np.nan
    np.save(p, bad)
    with pytest.raises(DataError, match=r"NaN/infinite .*\(1, 0, 2, 3\)"):
        load_image_array(p)


def test_array_labels(tmp_path: Path) -> None:
    x = np.zeros((6, 4, 4), dtype=np.uint8)
    y = np.array([0, 1, 2, 0, 1, 2])
    np.savez(tmp_path / "d.npz", x=x, y=y)
    out = load_image_array(tmp_path / "d.npz")
    assert out.x.shape == (6, 1, 4, 4) and out.y.dtype == np.int64
    np.testing.assert_array_equal(out.y, y)
    np.savez(tmp_path / "e.npz", x)
    assert load_image_array(tmp_path / "e.npz").y is None
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y.astype(np.float32)[:, None])
    np.testing.assert_array_equal(load_image_array(tmp_path / "x.npy", tmp_path / "y.npy").y, y)
    np.testing.assert_array_equal(load_image_array(tmp_path / "x.npy", y).y, y)
    np.save(tmp_path / "y5.npy", y[:5])
    with pytest.raises(DataError, match=r"y5\.npy.*6 images but 5 labels"):
        load_image_array(tmp_path / "x.npy", tmp_path / "y5.npy")
    np.save(tmp_path / "yf.npy", y + 0.5)
    with pytest.raises(DataError, match="whole numbers"):
        load_image_array(tmp_path / "x.npy", tmp_path / "yf.npy")
    with pytest.raises(DataError, match="negative label"):
        load_image_array(tmp_path / "x.npy", -y - 1)


@pytest.mark.parametrize("shape, match", [
    ((5, 3, 7, 1), "could be NCHW or NHWC"),
    ((5, 7, 6, 5), "no channel axis"),
    ((5, 7), r"shape \(5, 7\)"),
    ((2, 2, 3, 4, 4), "shape"),
    ((0, 4, 4), "no images"),
])
def test_array_shape_errors(tmp_path: Path, shape, match: str) -> None:
    np.save(tmp_path / "a.npy", np.zeros(shape, dtype=np.uint8))
    with pytest.raises(DataError, match=match):
        load_image_array(tmp_path / "a.npy")


def test_array_files_are_never_unpickled_or_trusted(tmp_path: Path) -> None:
    np.save(tmp_path / "o.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="object"):
        load_image_array(tmp_path / "o.npy")
    np.savez(tmp_path / "o.npz", x=np.array([None, 1], dtype=object))
    with pytest.raises(DataError, match="object"):
        load_image_array(tmp_path / "o.npz")
    np.save(tmp_path / "t.npy", np.zeros((10, 8, 8), dtype=np.uint8))
    raw = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(raw[:-64])
    with pytest.raises(DataError, match="truncated"):
        load_image_array(tmp_path / "t.npy")
    # an npz member whose header promises far more than the member holds
    import zipfile

    from numpy.lib import format as npy_format

    with zipfile.ZipFile(tmp_path / "liar.npz", "w") as zf, zf.open("x.npy", "w") as f:
        npy_format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False,
                                              "shape": (10**9, 28, 28)})
        f.write(b"\0" * 100)
    with pytest.raises(DataError, match="truncated or damaged"):
        load_image_array(tmp_path / "liar.npz")
    (tmp_path / "n.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataError, match="not a valid .npy"):
        load_image_array(tmp_path / "n.npy")
