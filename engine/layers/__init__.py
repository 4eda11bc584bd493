"""Layers that own parameters, and the registry that builds them from specs."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .activations import ELU, LeakyReLU, ReLU, Softplus, Swish
from .base import Layer
from .conv2d import Conv2d
from .flatten import Flatten
from .linear import Linear
from .pooling import AvgPool2d
from .reduce import GlobalSum

LAYER_TYPES: dict[str, type[Layer]] = {
    cls.kind: cls for cls in (Conv2d, Linear, Swish, ReLU, LeakyReLU, Softplus, ELU, AvgPool2d, Flatten, GlobalSum)
}
# Friendly aliases a user may type in a config.
_ALIASES = {"silu": "swish", "lrelu": "leaky_relu", "leakyrelu": "leaky_relu", "conv": "conv2d",
            "dense": "linear", "avgpool2d": "avg_pool2d"}


def build_layer(spec: dict[str, Any]) -> Layer:
    """A layer from its spec, e.g. {"type": "conv2d", "in_channels": 1, ...}."""
    if not isinstance(spec, dict) or "type" not in spec:
        raise ConfigError(f"a layer spec must be a table with a 'type' key, got {spec!r}")
    kind = str(spec["type"]).lower()
    kind = _ALIASES.get(kind, kind)
    if kind not in LAYER_TYPES:
        raise ConfigError(f"unknown layer type {spec['type']!r}; allowed: {sorted(LAYER_TYPES)}")
    args = {k: v for k, v in spec.items() if k != "type"}
    return LAYER_TYPES[kind](**args)


__all__ = ["LAYER_TYPES", "Layer", "build_layer", "Conv2d", "Linear", "Swish", "ReLU",
           "LeakyReLU", "Softplus", "ELU", "AvgPool2d", "Flatten", "GlobalSum"]
