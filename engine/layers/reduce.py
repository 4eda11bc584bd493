"""GlobalSum: (C, H, W, N) image activations -> (N, C), summed over all positions.

Put after the last convolution of a fully convolutional energy, E(x) = sum over
positions p of f(x's patch at p): the same network then takes any canvas at
least as large as its receptive field, and a model trained on small crops
scores (and synthesises) a larger texture. A sum, not a mean, keeps dE/dx per
pixel independent of the canvas size, so Langevin step sizes carry over.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..ops import reduce
from .base import Layer


class GlobalSum(Layer):
    kind = "global_sum"

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(in_shape) != 3:
            raise ConfigError(f"global_sum expects images (C, H, W), but receives {tuple(in_shape)}")
        return (in_shape[0],)

    def forward(self, x: Any, save: bool = False, param_grads: bool = False) -> Any:
        if save:
            self._saved = x.shape
        return reduce.spatial_sum_forward(x)

    def backward(self, gy: Any, param_grads: bool = False) -> Any:
        return reduce.spatial_sum_backward(gy, self._take_saved())
