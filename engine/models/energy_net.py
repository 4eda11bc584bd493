"""A sequential network that maps a batch to one energy per sample.

The config is plain data, ``{"input_shape": [C, H, W] or [F], "layers": [spec, ...]}``,
so a model round-trips through JSON and TOML. Inputs come as (N, *input_shape);
image activations travel as (C, H, W, N) inside (see engine.ops.conv) and the
network converts at its two ends.
"""

from __future__ import annotations

import copy
import functools
import json
import math
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from ..backend import DEFAULT_DTYPE, get_array_module, xp as active_xp
from ..errors import ConfigError
from ..layers import Layer, build_layer
from ..layers.parametric import WeightLayer
from ..ops import _parallel

# Split a batch over the cores when each part's largest activation has this many elements.
# Measured on W0's MLP (128 wide): its training pass on 2000 rows gains (parts of 128K entries,
# 4.4 -> 3.5 ms), its Langevin step on 1000 rows loses to the GIL (parts of 64K).
SPLIT_MIN_ELEMENTS = 1 << 16


class EnergyNet:
    def __init__(self, config: dict[str, Any], seed: int | None = 0, dtype: Any = DEFAULT_DTYPE,
                 xp: Any = None):
        self.config = normalize_config(config)
        self.input_shape: tuple[int, ...] = tuple(self.config["input_shape"])
        self.layers: list[Layer] = _build_layers(self.config["layers"])
        self.shapes = _check_shapes(self.input_shape, self.layers)  # per-sample output of each layer
        self.output_size = math.prod(self.shapes[-1])
        self.dtype = np.dtype(dtype)
        self.xp = xp if xp is not None else active_xp()
        self._replicas: list[list[Layer]] = []  # see _replica_stacks
        self._saved_split: list[slice] | None = None  # batch parts of the last saving forward
        self._fixed_depth = 0  # nesting of fixed_weights scopes
        rng = np.random.default_rng(seed)  # host-side init: identical on every backend
        for layer in self.layers:
            layer.init_params(rng, self.xp, self.dtype)

    # --- parameters -------------------------------------------------------

    def named_params(self) -> Iterator[tuple[str, Layer, str]]:
        """(full name, layer, key) for every trainable parameter, in a fixed order."""
        for i, layer in enumerate(self.layers):
            for key in layer.params:
                yield f"{i}.{key}", layer, key

    def parameters(self) -> list[Any]:
        return [layer.params[key] for _, layer, key in self.named_params()]

    def gradients(self) -> list[Any]:
        return [layer.grads[key] for _, layer, key in self.named_params()]

    def num_parameters(self) -> int:
        return int(sum(p.size for p in self.parameters()))

    def state_dict(self) -> dict[str, Any]:
        """Parameters and buffers (spectral-norm vectors) by name."""
        state = {}
        for i, layer in enumerate(self.layers):
            for key, value in {**layer.params, **layer.buffers}.items():
                state[f"{i}.{key}"] = value
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Copy arrays in place; names and shapes must match exactly."""
        own = self.state_dict()
        missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or extra:
            raise ConfigError(f"state does not match the architecture: missing {missing}, unexpected {extra}")
        for name, target in own.items():
            value = state[name]
            if tuple(value.shape) != tuple(target.shape):
                raise ConfigError(
                    f"state entry {name} has shape {tuple(value.shape)}, the architecture needs {tuple(target.shape)}"
                )
            target[...] = self.xp.asarray(value, dtype=target.dtype)

    @contextmanager
    def fixed_weights(self) -> Iterator[None]:
        """A scope in which the parameters do not change (a sampler's run).

        Layers may keep what they derive from their weights (Conv2d's Winograd
        transform) until the scope ends; a parameter changed while it is open,
        by any thread, would leave them stale. Scopes nest; the outermost one
        drops what was kept.
        """
        if self._fixed_depth == 0:
            for i in range(len(self.layers)):
                shared: dict[str, Any] = {}  # one per layer position, seen by every replica
                for stack in (self.layers, *self._replicas):
                    stack[i].derived = shared
        self._fixed_depth += 1
        try:
            yield
        finally:
            self._fixed_depth -= 1
            if self._fixed_depth == 0:
                for stack in (self.layers, *self._replicas):
                    for layer in stack:
                        layer.derived = None

    def power_iteration(self) -> None:
        """One spectral-norm power iteration in every layer that uses it."""
        for layer in self.layers:
            if isinstance(layer, WeightLayer):
                layer.power_iteration()

    # --- evaluation -------------------------------------------------------

    def _to_internal(self, x: Any) -> Any:
        if tuple(x.shape[1:]) != self.input_shape:
            raise ConfigError(f"the model expects inputs of shape (N, {', '.join(map(str, self.input_shape))}), "
                              f"got {tuple(x.shape)}")
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        if x.ndim == 4:  # (N, C, H, W) -> (C, H, W, N)
            return get_array_module(x).ascontiguousarray(x.transpose(1, 2, 3, 0))
        return x

    def _from_internal_grad(self, g: Any) -> Any:
        xp = get_array_module(g)
        return xp.ascontiguousarray(g.transpose(3, 0, 1, 2)) if g.ndim == 4 else g

    def outputs(self, x: Any, save: bool = False, param_grads: bool = False) -> Any:
        """x: (N, *input_shape) -> raw outputs (N, output_size).

        On the CPU a large batch is split over the cores, each part run by its
        own copy of the layers (sharing the parameters), see :meth:`_split_of`.
        """
        # Parameter-gradient passes split too: the parts' weight gradients are summed in a fixed
        # order, so a run repeats bit for bit on the same machine (the number of parts, one per
        # core, sets the rounding). They once stayed whole because a part's GEMM could start
        # multi-threaded before the split lowered BLAS's process-wide thread count.
        parts = self._split_of(x.shape[0])
        if save:
            self._saved_split = parts
        if parts is None:
            out = self._forward_layers(self.layers, x, save, param_grads)
        else:
            stacks = [self.layers, *self._replica_stacks(len(parts) - 1)]
            outs = _parallel.run_split([functools.partial(self._forward_layers, stack, x[part], save, param_grads)
                                        for stack, part in zip(stacks, parts)])
            return self.xp.concatenate(outs)
        # With save, the last layer may keep its output for backward (Swish, ELU do): hand out a
        # copy, so that a caller changing the result in place cannot corrupt the gradients.
        return out.copy() if save else out

    def _forward_layers(self, layers: list[Layer], x: Any, save: bool, param_grads: bool) -> Any:
        h = self._to_internal(x)
        for layer in layers:
            h = layer.forward(h, save=save, param_grads=param_grads)
        return (h.transpose(3, 0, 1, 2) if h.ndim == 4 else h).reshape(x.shape[0], self.output_size)

    def _split_of(self, n: int) -> list[slice] | None:
        """Batch parts, one per core, when the work is worth it (NumPy only), else None.

        Splitting pays when each part's activations are large (measured: W1, W2 gain,
        W0's 128-wide MLP loses to the GIL); below that one thread (with BLAS's own
        threads) wins.
        """
        k = _parallel.workers()
        if self.xp is not np or k < 2 or n < 2 * k or not _parallel.can_split():
            return None
        if max(math.prod(s) for s in self.shapes) * n // k < SPLIT_MIN_ELEMENTS:
            return None
        return [slice(n * i // k, n * (i + 1) // k) for i in range(k)]

    def _replica_stacks(self, count: int) -> list[list[Layer]]:
        """Extra layer stacks sharing this net's parameter and buffer arrays (own saved state, grads)."""
        while len(self._replicas) < count:
            stack = [build_layer(spec) for spec in self.config["layers"]]
            for mine, theirs in zip(self.layers, stack):
                theirs.params, theirs.buffers, theirs.derived = mine.params, mine.buffers, mine.derived
            self._replicas.append(stack)
        return self._replicas[:count]

    def part_views(self, count: int) -> list["EnergyNet"]:
        """``count`` networks for parts of a batch run side by side on threads: this one first.

        Each has its own layers (their saved state) over this net's parameter
        arrays; open :meth:`fixed_weights` before taking them, and weights derived
        in the scope (Winograd's transform) are computed once for all of them.
        """
        views = [self]
        for stack in self._replica_stacks(count - 1):
            view = copy.copy(self)  # the scope's depth comes along: a view's own scope nests in this one
            view.layers, view._replicas, view._saved_split = stack, [], None
            views.append(view)
        return views

    def energy(self, x: Any) -> Any:
        """E(x): (N,), nothing saved for backward."""
        self._require_scalar_output()
        return self.outputs(x)[:, 0]

    def forward(self, x: Any, param_grads: bool = True) -> Any:
        """E(x): (N,), saving what :meth:`backward` needs."""
        self._require_scalar_output()
        return self.outputs(x, save=True, param_grads=param_grads)[:, 0]

    def backward(self, g_energy: Any, param_grads: bool = True, input_grad: bool = True) -> Any:
        """g_energy: dL/dE (N,) -> dL/dx (N, *input_shape); fills layer grads when asked.

        input_grad=False skips dL/dx where the first layer allows (a training step
        needs only the parameter gradients) and may return None.
        """
        return self.backward_outputs(g_energy.reshape(-1, 1), param_grads, input_grad)

    def backward_outputs(self, g_out: Any, param_grads: bool = True, input_grad: bool = True) -> Any:
        """g_out: dL/d(outputs) (N, output_size) after a saving forward -> dL/dx (N, *input_shape)."""
        g_out = g_out.astype(self.dtype, copy=False)
        parts, self._saved_split = self._saved_split, None
        if parts is None:
            return self._backward_layers(self.layers, g_out, param_grads, input_grad)
        stacks = [self.layers, *self._replica_stacks(len(parts) - 1)]
        gxs = _parallel.run_split([functools.partial(self._backward_layers, stack, g_out[part], param_grads,
                                                     input_grad) for stack, part in zip(stacks, parts)])
        if param_grads:  # each part saw part of the batch: the gradient is the sum
            for i, layer in enumerate(self.layers):
                for key, g in layer.grads.items():
                    for stack in stacks[1:]:
                        g += stack[i].grads[key]
        return None if gxs[0] is None else self.xp.concatenate(gxs)

    def _backward_layers(self, layers: list[Layer], g: Any, param_grads: bool, input_grad: bool = True) -> Any:
        xp = get_array_module(g)
        if len(self.shapes[-1]) == 3:  # (N, C*H*W) -> (C, H, W, N)
            g = xp.ascontiguousarray(g.reshape(-1, *self.shapes[-1]).transpose(1, 2, 3, 0))
        for layer in reversed(layers[1:]):
            g = layer.backward(g, param_grads=param_grads)
        first = layers[0]
        if not input_grad and isinstance(first, WeightLayer):
            return first.backward(g, param_grads=param_grads, input_grad=False)
        return self._from_internal_grad(first.backward(g, param_grads=param_grads))

    def energy_and_grad(self, x: Any) -> tuple[Any, Any]:
        """(E(x): (N,), dE/dx: x.shape), no parameter gradients: the Langevin hot loop.

        A split batch runs forward and backward of each part in one go: one
        hand-off between threads per step instead of two (W1: about 7% faster).
        """
        self._require_scalar_output()
        parts = self._split_of(x.shape[0])
        if parts is None:
            return self._energy_and_grad_layers(self.layers, x)
        stacks = [self.layers, *self._replica_stacks(len(parts) - 1)]
        results = _parallel.run_split([functools.partial(self._energy_and_grad_layers, stack, x[part])
                                       for stack, part in zip(stacks, parts)])
        return tuple(self.xp.concatenate(r) for r in zip(*results))  # type: ignore[return-value]

    def _energy_and_grad_layers(self, layers: list[Layer], x: Any) -> tuple[Any, Any]:
        out = self._forward_layers(layers, x, save=True, param_grads=False)
        xp = get_array_module(out)
        # dE/dE = 1 for every sample, as one broadcast value: an energy head's backward then hands
        # on one broadcast row instead of an outer product (W0: 22 us of a 0.8 ms step)
        gx = self._backward_layers(layers, xp.broadcast_to(xp.ones((1, 1), dtype=out.dtype), out.shape),
                                   param_grads=False)
        if not gx.flags.writeable:  # a lone energy head: the broadcast itself
            gx = gx.copy()
        return out[:, 0], gx  # out may be a layer's saved output: safe once backward is done

    def _require_scalar_output(self) -> None:
        if self.output_size != 1:
            raise ConfigError(f"this network has {self.output_size} outputs per sample; an energy needs 1 "
                              "(use outputs() for classifier logits)")

    def __repr__(self) -> str:
        body = "\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"EnergyNet(input_shape={self.input_shape}, params={self.num_parameters()}\n{body}\n)"

    def to_json(self) -> str:
        return json.dumps(self.config, sort_keys=True)


def normalize_config(config: dict[str, Any]) -> dict[str, Any]:
    """Check the top-level structure and return a JSON-clean deep copy."""
    if not isinstance(config, dict):
        raise ConfigError(f"a model config must be a table with 'input_shape' and 'layers', got {type(config).__name__}")
    unknown = set(config) - {"input_shape", "layers"}
    if unknown:
        raise ConfigError(f"model config: unknown key(s) {sorted(unknown)}; allowed: ['input_shape', 'layers']")
    shape = config.get("input_shape")
    if (not isinstance(shape, (list, tuple)) or len(shape) not in (1, 3)
            or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape)):
        raise ConfigError(f"model config: input_shape must be [features] or [channels, height, width] "
                          f"of positive integers, got {shape!r}")
    layers = config.get("layers")
    if not isinstance(layers, (list, tuple)) or not layers:
        raise ConfigError("model config: 'layers' must be a non-empty list of layer specs")
    clean = {"input_shape": [int(n) for n in shape], "layers": copy.deepcopy(list(layers))}
    for i, spec in enumerate(clean["layers"]):  # must be plain data, to round-trip through JSON
        bad = _not_plain(spec, "")
        if bad is not None:
            raise ConfigError(f"layer {i}: setting {bad} is not a plain number, string, boolean or list; "
                              "convert NumPy scalars with int() or float()")
    return clean


def _not_plain(value: Any, where: str) -> str | None:
    """Where ``value`` holds something JSON cannot store (a NumPy integer, an object), else None."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return None
    if isinstance(value, (list, tuple)):
        return next((b for k, v in enumerate(value) if (b := _not_plain(v, f"{where}[{k}]"))), None)
    if isinstance(value, dict):
        for key, v in value.items():
            if not isinstance(key, str):
                return f"name {key!r}"
            if (b := _not_plain(v, f"{where}.{key}" if where else key)) is not None:
                return b
        return None
    return f"{where or 'value'} = {value!r} ({type(value).__name__})"


def _build_layers(specs: list[Any]) -> list[Layer]:
    """The layers from their specs, naming the layer whose spec is refused."""
    layers = []
    for i, spec in enumerate(specs):
        try:
            layers.append(build_layer(spec))
        except ConfigError as exc:
            raise ConfigError(f"layer {i}: {exc}") from None
    return layers


def _check_shapes(input_shape: tuple[int, ...], layers: list[Layer]) -> list[tuple[int, ...]]:
    """Per-sample output shape of each layer, naming the layer that does not fit."""
    shapes, shape = [], input_shape
    for i, layer in enumerate(layers):
        try:
            shape = layer.output_shape(shape)
        except ConfigError as exc:
            raise ConfigError(f"layer {i} ({layer.kind}): {exc}") from None
        shapes.append(shape)
    return shapes
