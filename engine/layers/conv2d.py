"""Conv2d: any kernel size, stride and padding, with bias and optional spectral norm."""

from __future__ import annotations

import threading
from typing import Any

from ..errors import ConfigError
from ..ops import conv, conv_winograd
from .base import positive_int
from .parametric import WeightLayer

_derive_lock = threading.Lock()  # replicas on other threads wait for one transform instead of repeating it


class Conv2d(WeightLayer):
    kind = "conv2d"
    required = ("in_channels", "out_channels", "kernel_size")
    defaults = {"stride": 1, "padding": 0, "bias": True, "spectral_norm": False}

    def __init__(self, **spec: Any):
        super().__init__(**spec)
        c = self.config
        for key in ("in_channels", "out_channels", "kernel_size", "stride"):
            positive_int(self.kind, key, c[key])
        positive_int(self.kind, "padding", c["padding"], minimum=0)
        self._col_buffer: Any = None  # im2col workspace of non-training passes
        self._col_key: tuple | None = None

    def _weight_shape(self) -> tuple[int, ...]:
        c = self.config
        k = c["kernel_size"]
        return (c["out_channels"], c["in_channels"], k, k)

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        c = self.config
        if len(in_shape) != 3 or in_shape[0] != c["in_channels"]:
            raise ConfigError(
                f"conv2d expects images with {c['in_channels']} channels (C, H, W), "
                f"but receives shape {tuple(in_shape)}"
            )
        k, s, p = c["kernel_size"], c["stride"], c["padding"]
        oh, ow = (conv.conv_output_size(n, k, s, p) for n in in_shape[1:])
        if oh < 1 or ow < 1:
            raise ConfigError(
                f"conv2d with kernel {k}, stride {s}, padding {p} does not fit an input of "
                f"{in_shape[1]}x{in_shape[2]}: use a smaller kernel or more padding"
            )
        return (c["out_channels"], oh, ow)

    def forward(self, x: Any, save: bool = False, param_grads: bool = False) -> Any:
        """x: (C, H, W, N) -> (O, OH, OW, N)."""
        c = self.config
        w, sigma = self.effective_weight()
        k, s, p = c["kernel_size"], c["stride"], c["padding"]
        oh, ow = (conv.conv_output_size(n, k, s, p) for n in x.shape[1:3])
        u = None if param_grads else self._winograd_weights(x, w, oh, ow)
        if u is not None:
            y = conv_winograd.forward(x, u, self.params.get("bias"), s, p, oh, ow)
            if save:
                self._saved = (x.shape, w, sigma, None, u)
            return y
        # The Langevin loop repeats the same shapes: reuse the col buffer unless backward keeps it.
        reuse = self._col_buffer if not param_grads and self._col_key == x.shape else None
        y, col = conv.conv2d_forward(x, w, self.params.get("bias"), s, p, reuse)
        if not param_grads:
            self._col_buffer, self._col_key = col, x.shape
        if save:
            self._saved = (x.shape, w, sigma, col if param_grads else None, None)
        return y

    def _winograd_weights(self, x: Any, w: Any, oh: int, ow: int) -> Any:
        """The Winograd transform of w while the weights are fixed and the path pays (else None).

        Computed once per fixed-weights scope and shared by the layer's replicas.
        """
        c = self.config
        if self.derived is None or not conv_winograd.pays_off(
                c["in_channels"], c["out_channels"], c["kernel_size"], c["stride"], oh, ow, x):
            return None
        with _derive_lock:
            if "winograd" not in self.derived:
                self.derived["winograd"] = conv_winograd.transform_weights(w, c["stride"])
            return self.derived["winograd"]

    def backward(self, gy: Any, param_grads: bool = False, input_grad: bool = True) -> Any:
        """dL/dx, or None when input_grad is False (the first layer of a training step)."""
        c = self.config
        in_shape, w, sigma, col, u = self._take_saved()
        if param_grads:
            if col is None:
                raise RuntimeError("conv2d: parameter gradients need forward(param_grads=True)")
            gw, gb = conv.conv2d_backward_params(gy, col, w.shape, c["bias"])
            self._set_grads(gw, gb, sigma)
        if not input_grad:
            return None
        if u is not None:
            return conv_winograd.backward_input(gy, u, in_shape, c["stride"], c["padding"])
        return conv.conv2d_backward_input(gy, w, in_shape, c["stride"], c["padding"])
