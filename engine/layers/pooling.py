"""AvgPool2d on (C, H, W, N) activations."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..ops import pooling
from ..ops.conv import conv_output_size
from .base import Layer, positive_int


class AvgPool2d(Layer):
    kind = "avg_pool2d"
    required = ("kernel_size",)
    defaults = {"stride": None}  # None: the kernel size, as in PyTorch

    def __init__(self, **spec: Any):
        super().__init__(**spec)
        positive_int(self.kind, "kernel_size", self.config["kernel_size"])
        if self.config["stride"] is not None:
            positive_int(self.kind, "stride", self.config["stride"])

    @property
    def stride(self) -> int:
        return self.config["stride"] or self.config["kernel_size"]

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        k = self.config["kernel_size"]
        if len(in_shape) != 3:
            raise ConfigError(f"avg_pool2d expects images (C, H, W), but receives {tuple(in_shape)}")
        oh, ow = (conv_output_size(n, k, self.stride, 0) for n in in_shape[1:])
        if oh < 1 or ow < 1:
            raise ConfigError(f"avg_pool2d: kernel {k} is larger than the {in_shape[1]}x{in_shape[2]} input")
        return (in_shape[0], oh, ow)

    def forward(self, x: Any, save: bool = False, param_grads: bool = False) -> Any:
        if save:
            self._saved = x.shape
        return pooling.avg_pool2d_forward(x, self.config["kernel_size"], self.stride)

    def backward(self, gy: Any, param_grads: bool = False) -> Any:
        return pooling.avg_pool2d_backward(gy, self._take_saved(), self.config["kernel_size"], self.stride)
