"""Activation layers: thin owners of the saved state of engine.ops.activations."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..ops import activations as act
from .base import Layer


class Swish(Layer):
    """Swish / SiLU: x * sigmoid(x)."""

    kind = "swish"

    def forward(self, x: Any, save: bool = False, param_grads: bool = False) -> Any:
        y, saved = act.swish_forward(x)
        if save:
            self._saved = saved
        return y

    def backward(self, gy: Any, param_grads: bool = False) -> Any:
        return act.swish_backward(gy, self._take_saved())


class ReLU(Layer):
    kind = "relu"

    def forward(self, x: Any, save: bool = False, param_grads: bool = False) -> Any:
        y, mask = act.relu_forward(x)
        if save:
            self._saved = mask
        return y

    def backward(self, gy: Any, param_grads: bool = False) -> Any:
        return act.relu_backward(gy, self._take_saved())


class LeakyReLU(Layer):
    kind = "leaky_relu"
    defaults = {"slope": 0.2}

    def __init__(self, **spec: Any):
        super().__init__(**spec)
        slope = self.config["slope"]
        if not isinstance(slope, (int, float)) or isinstance(slope, bool) or slope < 0:
            raise ConfigError(f"leaky_relu: slope must be a number >= 0, got {slope!r}")

    def forward(self, x: Any, save: bool = False, param_grads: bool = False) -> Any:
        y, mask = act.leaky_relu_forward(x, self.config["slope"])
        if save:
            self._saved = mask
        return y

    def backward(self, gy: Any, param_grads: bool = False) -> Any:
        return act.leaky_relu_backward(gy, self._take_saved())


class Softplus(Layer):
    kind = "softplus"

    def forward(self, x: Any, save: bool = False, param_grads: bool = False) -> Any:
        y, saved = act.softplus_forward(x)
        if save:
            self._saved = saved
        return y

    def backward(self, gy: Any, param_grads: bool = False) -> Any:
        return act.softplus_backward(gy, self._take_saved())


class ELU(Layer):
    kind = "elu"
    defaults = {"alpha": 1.0}

    def __init__(self, **spec: Any):
        super().__init__(**spec)
        alpha = self.config["alpha"]
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or alpha <= 0:
            raise ConfigError(f"elu: alpha must be a number > 0, got {alpha!r}")

    def forward(self, x: Any, save: bool = False, param_grads: bool = False) -> Any:
        y, saved = act.elu_forward(x, self.config["alpha"])
        if save:
            self._saved = saved
        return y

    def backward(self, gy: Any, param_grads: bool = False) -> Any:
        return act.elu_backward(gy, self._take_saved(), self.config["alpha"])
