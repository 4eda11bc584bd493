"""Sum over the spatial positions of (C, H, W, N) activations: a fully convolutional energy's head."""

from __future__ import annotations

from typing import Any

from ..backend import get_array_module


def spatial_sum_forward(x: Any) -> Any:
    """x: (C, H, W, N) -> (N, C), the sum over all H x W positions."""
    xp = get_array_module(x)
    return xp.ascontiguousarray(x.sum(axis=(1, 2)).T)


def spatial_sum_backward(gy: Any, in_shape: tuple[int, int, int, int]) -> Any:
    """gy: (N, C) -> gx: in_shape (C, H, W, N), every position gets its sample's gy."""
    xp = get_array_module(gy)
    C, H, W, N = in_shape
    assert tuple(gy.shape) == (N, C), f"spatial_sum backward: gy {tuple(gy.shape)} != {(N, C)}"
    gx = xp.empty(in_shape, dtype=gy.dtype)
    gx[...] = gy.T[:, None, None, :]
    return gx
