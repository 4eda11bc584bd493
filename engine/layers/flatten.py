"""Flatten (C, H, W, N) image activations to (N, C*H*W) vectors, in PyTorch's order."""

from __future__ import annotations

import math
from typing import Any

from ..backend import get_array_module
from .base import Layer


class Flatten(Layer):
    kind = "flatten"

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (math.prod(in_shape),)

    def forward(self, x: Any, save: bool = False, param_grads: bool = False) -> Any:
        if x.ndim == 2:
            shape = None
            y = x
        else:
            shape = x.shape
            y = x.transpose(3, 0, 1, 2).reshape(x.shape[3], math.prod(x.shape[:3]))  # sizes: N may be 0
        if save:
            self._saved = ("shape", shape)
        return y

    def backward(self, gy: Any, param_grads: bool = False) -> Any:
        _, shape = self._take_saved()
        if shape is None:
            return gy
        C, H, W, N = shape
        xp = get_array_module(gy)
        return xp.ascontiguousarray(gy.reshape(N, C, H, W).transpose(1, 2, 3, 0))
