"""What Conv2d and Linear share: a weight (optionally spectrally normalised) and a bias."""

from __future__ import annotations

import math
from typing import Any

from ..backend import get_array_module
from ..errors import ConfigError
from . import spectral_norm as sn
from .base import Layer


class WeightLayer(Layer):
    """A layer with params "weight" (rows = outputs) and optional "bias"."""

    def __init__(self, **spec: Any):
        super().__init__(**spec)
        for key in ("bias", "spectral_norm"):
            if not isinstance(self.config[key], bool):
                raise ConfigError(f"{self.kind}: {key} must be true or false, got {self.config[key]!r}")

    def _weight_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def init_params(self, rng: Any, xp: Any, dtype: Any) -> None:
        shape = self._weight_shape()
        fan_in = math.prod(shape[1:])
        bound = 1.0 / math.sqrt(fan_in)  # PyTorch's default (kaiming uniform, a=sqrt(5))
        self.params["weight"] = xp.asarray(rng.uniform(-bound, bound, shape), dtype=dtype)
        if self.config["bias"]:
            self.params["bias"] = xp.asarray(rng.uniform(-bound, bound, shape[0]), dtype=dtype)
        if self.config["spectral_norm"]:
            w2 = self.params["weight"].reshape(shape[0], -1)
            u, v = sn.init_vectors(w2, rng, xp)
            self.buffers["sn_u"], self.buffers["sn_v"] = u, v

    def power_iteration(self) -> None:
        """Advance u, v one step (training does this once per iteration)."""
        if self.config["spectral_norm"]:
            w = self.params["weight"]
            w2 = w.reshape(w.shape[0], -1)
            u, v = sn.power_iteration(w2, self.buffers["sn_u"], get_array_module(w))
            self.buffers["sn_u"][...] = u
            self.buffers["sn_v"][...] = v

    def effective_weight(self) -> tuple[Any, float]:
        """The weight the layer applies: (W or W / sigma, sigma or 1)."""
        w = self.params["weight"]
        if not self.config["spectral_norm"]:
            return w, 1.0
        return sn.normalized(w, self.buffers["sn_u"], self.buffers["sn_v"])

    def _set_grads(self, g_eff: Any, gb: Any | None, sigma: float) -> None:
        if self.config["spectral_norm"]:
            w = self.params["weight"]
            g_eff = sn.weight_grad(g_eff, w, self.buffers["sn_u"], self.buffers["sn_v"], sigma)
        assert g_eff.shape == self.params["weight"].shape
        self.grads["weight"] = g_eff
        if gb is not None:
            self.grads["bias"] = gb
