"""Linear: y = x @ W.T + b on (N, F) activations, optional spectral norm."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..ops import dense
from .base import positive_int
from .parametric import WeightLayer


class Linear(WeightLayer):
    kind = "linear"
    required = ("in_features", "out_features")
    defaults = {"bias": True, "spectral_norm": False}

    def __init__(self, **spec: Any):
        super().__init__(**spec)
        positive_int(self.kind, "in_features", self.config["in_features"])
        positive_int(self.kind, "out_features", self.config["out_features"])

    def _weight_shape(self) -> tuple[int, ...]:
        return (self.config["out_features"], self.config["in_features"])

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        n_in = self.config["in_features"]
        if len(in_shape) != 1 or in_shape[0] != n_in:
            hint = " (add a flatten layer before it)" if len(in_shape) > 1 else ""
            raise ConfigError(
                f"linear expects vectors of {n_in} features, but receives shape "
                f"{tuple(in_shape)}{hint}"
            )
        return (self.config["out_features"],)

    def forward(self, x: Any, save: bool = False, param_grads: bool = False) -> Any:
        """x: (N, in) -> (N, out)."""
        w, sigma = self.effective_weight()
        y = dense.linear_forward(x, w, self.params.get("bias"))
        if save:
            self._saved = (w, sigma, x if param_grads else None)
        return y

    def backward(self, gy: Any, param_grads: bool = False, input_grad: bool = True) -> Any:
        """dL/dx, or None when input_grad is False (the first layer of a training step)."""
        w, sigma, x = self._take_saved()
        if param_grads:
            if x is None:
                raise RuntimeError("linear: parameter gradients need forward(param_grads=True)")
            gw, gb = dense.linear_backward_params(gy, x, self.config["bias"])
            self._set_grads(gw, gb, sigma)
        return dense.linear_backward_input(gy, w) if input_grad else None
