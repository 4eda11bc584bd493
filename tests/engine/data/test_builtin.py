"""Built-in generated image sets: deterministic, balanced, in range, and learnable."""

from __future__ import annotations


import numpy as np
import pytest

from engine.data.builtin import (
    DIGIT_CLASSES,
    SHAPE_CLASSES,
    digit_strokes,
    make_digits,
    make_shapes,
)


def test_digits_shape_range_balance_and_determinism() -> None:
    x, y = make_digits(7000, seed=0)
    assert x.shape == (7000, 1, 28, 28) and x.dtype == np.float32
    assert y.shape == (7000,) and y.dtype == np.int64
    assert x.min() >= -1.0 and x.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(y), [700] * 10)
    x2, y2 = make_digits(7000, seed=0)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x2[0] = 0.0  # callers get copies: the cache is not corrupted
    assert not np.array_equal(make_digits(7000, seed=0)[0][0], x2[0])
    x3, _ = make_digits(50, seed=1)
    assert not np.array_equal(x[:50], x3)
    # like MNIST: black background, some white ink, the border mostly empty
    ink = x[:, 0] > 0.0
    frac = ink.mean(axis=(1, 2))
    assert 0.05 < frac.mean() < 0.3 and frac.min() > 0.02
    border = np.concatenate([ink[:, 0], ink[:, -1], ink[:, :, 0], ink[:, :, -1]], axis=1)
    assert border.mean() < 1e-3
    assert np.mean(x == -1.0) > 0.6


def test_digits_are_distinct_classes() -> None:
    """1-nearest-neighbour on raw pixels separates the classes (a sanity check that every
    digit has its own look)."""
    x, y = make_digits(7000, seed=0)
    flat = x.reshape(len(x), -1)
    tr, va = flat[:3000], flat[6000:6500]
    d = (va**2).sum(1)[:, None] - 2.0 * va @ tr.T + (tr**2).sum(1)[None, :]
    acc = np.mean(y[:3000][d.argmin(1)] == y[6000:6500])
    assert acc > 0.95, acc
    # and the classes are not trivially identical within: images differ from each other
    assert np.unique(flat[:200].round(2), axis=0).shape[0] == 200


def test_digit_strokes_are_in_the_unit_box() -> None:
    assert DIGIT_CLASSES == tuple("0123456789")
    for d in range(10):
        for s in range(3):
            strokes = digit_strokes(d, s)
            assert strokes and all(st.ndim == 2 and st.shape[1] == 2 and len(st) >= 2 for st in strokes)
            pts = np.concatenate(strokes)
            assert pts.min() > -0.1 and pts.max() < 1.1


@pytest.mark.parametrize("size", [16, 32])
def test_digits_other_sizes(size: int) -> None:
    x, _ = make_digits(20, seed=0, size=size)
    assert x.shape == (20, 1, size, size)


def test_shapes() -> None:
    x, y = make_shapes(600, seed=0)
    assert x.shape == (600, 3, 32, 32) and x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() >= -1.0 and x.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(y), [100] * len(SHAPE_CLASSES))
    np.testing.assert_array_equal(x, make_shapes(600, seed=0)[0])
    assert not np.array_equal(x, make_shapes(600, seed=1)[0])
    # each image is two colours (plus anti-aliased edge pixels): the corners are background
    corners = x[:, :, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert np.abs(corners - corners[:, :, :1]).max() < 1e-6
    # the shape covers a sensible part of the image
    centre_diff = np.abs(x - corners[:, :, :1, None]).max(axis=1) > 0.2
    frac = centre_diff.mean(axis=(1, 2))
    assert frac.min() > 0.03 and frac.max() < 0.6
    # the classes differ in area as their geometry says (triangle < circle < square)
    area = {name: frac[y == k].mean() for k, name in enumerate(SHAPE_CLASSES)}
    assert area["triangle"] < area["circle"] < area["square"]


def test_bad_sizes() -> None:
    with pytest.raises(ValueError):
        make_digits(0)
    with pytest.raises(ValueError):
        make_shapes(-3)
