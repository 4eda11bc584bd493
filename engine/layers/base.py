"""The layer protocol: a layer owns its parameters and what its backward needs.

forward(x, save, param_grads) -> y
    save: keep what backward needs (Langevin needs it for dE/dx);
    param_grads: also keep what the parameter gradients need (training only).
backward(gy, param_grads) -> gx, and fills ``grads`` when param_grads.

Shapes are per sample: (C, H, W) for images, (F,) for vectors. Image
activations travel as (C, H, W, N) between layers (see engine.ops.conv).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import ConfigError


class Layer:
    kind: ClassVar[str] = ""
    # Spec keys and their defaults; a spec round-trips through JSON.
    defaults: ClassVar[dict[str, Any]] = {}
    required: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **spec: Any):
        unknown = set(spec) - set(self.defaults) - set(self.required)
        if unknown:
            raise ConfigError(
                f"{self.kind}: unknown setting(s) {sorted(unknown)}; "
                f"allowed: {sorted(set(self.defaults) | set(self.required))}"
            )
        missing = [k for k in self.required if k not in spec]
        if missing:
            raise ConfigError(f"{self.kind}: missing setting(s) {missing}")
        self.config: dict[str, Any] = {**self.defaults, **spec}
        self.params: dict[str, Any] = {}
        self.buffers: dict[str, Any] = {}
        self.grads: dict[str, Any] = {}
        # Weights derived from the parameters (Winograd transforms), kept only while the owner
        # promises the parameters stay fixed (EnergyNet.fixed_weights); None otherwise.
        self.derived: dict[str, Any] | None = None
        self._saved: Any = None

    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, **self.config}

    def init_params(self, rng: Any, xp: Any, dtype: Any) -> None:
        """Draw initial parameters (layers without parameters do nothing)."""

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return in_shape

    def forward(self, x: Any, save: bool = False, param_grads: bool = False) -> Any:
        raise NotImplementedError

    def backward(self, gy: Any, param_grads: bool = False) -> Any:
        raise NotImplementedError

    def _take_saved(self) -> Any:
        if self._saved is None:
            raise RuntimeError(f"{self.kind}: backward without a saving forward")
        saved, self._saved = self._saved, None
        return saved

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.config.items())
        return f"{type(self).__name__}({args})"


def positive_int(layer: str, key: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{layer}: {key} must be an integer >= {minimum}, got {value!r}")
    return value
