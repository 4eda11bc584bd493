"""A persistent replay buffer of MCMC samples (persistent chains, as in JEM and IGEBM).

Each training iteration draws a batch of chain states from the buffer, runs a
few Langevin steps from them and pushes the results back to the same slots:

    x, idx = buffer.sample(batch, rng, data=x_train)   # x: (batch, *input_shape)
    x = sampler.run(energy, x, rng).x
    buffer.push(x, idx)

Each drawn element is re-initialised with probability ``reinit_prob`` (and
always the first time its slot is drawn), from

* "uniform":  U(lo, hi) over ``value_range``;
* "gaussian": N(centre of value_range, init_std^2), clipped to value_range;
* "data":     a random example of ``data`` plus N(0, data_noise^2), clipped
  (with ``y`` and ``data_labels``, an example of the requested class).

Slots are drawn uniformly with replacement (a batch can repeat a slot; on push
one of the duplicate writes wins).

Storage "uint8" keeps 256 levels over value_range = (lo, hi) instead of
float32, a quarter of the memory (CIFAR-size, 10 000 slots: 31 MB instead of
123 MB). A value v is stored as q = round((clip(v, lo, hi) - lo) * 255 / (hi - lo))
and read back as lo + q (hi - lo) / 255: the round-trip error is at most half
a level, (hi - lo) / 510 (0.0039 for (-1, 1); plus float32 rounding, ~1e-7), about (hi - lo) / (255 sqrt 12)
(0.0023) RMS, and values outside the range are clipped. Rounding is
deterministic, so a chain that moves an entry by less than half a level between
pushes loses that move: keep uint8 for image buffers whose chains move further.

Per-class buffers (JEM's class-conditional sampling): with ``n_classes`` = K
the capacity is split into K equal blocks, slot i belongs to class
i // (capacity / K); ``sample(..., y=labels)`` draws from each label's block.

All arrays live on the buffer's backend (``backend.xp()`` at construction):
indices, gathers, scatters and re-initialisation are device operations; only
validating class labels reads a few numbers back to the host.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

from .. import backend, kernels
from ..backend import get_array_module, to_numpy
from ..errors import ConfigError
from ..kernels import buffer as gpu

INITS = ("uniform", "gaussian", "data")
STORAGES = ("float32", "uint8")
_LEVELS = 255  # uint8: 256 levels, 255 intervals


def _randint(rng: Any, xp: ModuleType, high: Any, size: int) -> Any:
    """(size,) int64 uniform in [0, high); high: an int or an int array of shape (size,)."""
    u = rng.random(size, dtype=xp.float64)
    idx = (u * high).astype(xp.int64)
    return xp.minimum(idx, xp.asarray(high, dtype=xp.int64) - 1)  # guards u*high rounding up


class ReplayBuffer:
    """Persistent chain states: (capacity, *input_shape), float32 or uint8 storage.

    capacity: number of slots (a multiple of n_classes for per-class buffers).
    input_shape: per-sample shape, e.g. (2,) or (3, 32, 32).
    reinit_prob: probability that a drawn element is re-initialised.
    init: "uniform", "gaussian" or "data" (see the module docstring).
    value_range: (lo, hi), the data range: used by the inits and by uint8 storage.
    dtype: dtype of the samples returned by :meth:`sample`.
    storage: "float32" or "uint8" (quantised to 256 levels over value_range).
    n_classes: None, or K for K per-class blocks.
    init_std: standard deviation of the "gaussian" init.
    data_noise: standard deviation of the noise added to a "data" init.
    xp: array module; None = the active backend.
    """

    def __init__(self, capacity: int, input_shape: tuple[int, ...], reinit_prob: float = 0.05,
                 init: str = "uniform", value_range: tuple[float, float] = (-1.0, 1.0),
                 dtype: Any = np.float32, storage: str = "float32", n_classes: int | None = None,
                 init_std: float = 1.0, data_noise: float = 0.03, xp: ModuleType | None = None):
        shape = tuple(int(s) for s in input_shape)
        if not shape or any(s <= 0 for s in shape):
            raise ConfigError(f"replay buffer input_shape must be positive sizes, got {tuple(input_shape)}")
        if int(capacity) < 1 or int(capacity) != capacity:
            raise ConfigError(f"replay buffer capacity must be a whole number >= 1, got {capacity}")
        if not 0.0 <= float(reinit_prob) <= 1.0:
            raise ConfigError(f"replay buffer reinit_prob must be in [0, 1], got {reinit_prob}")
        if init not in INITS:
            raise ConfigError(f"unknown replay buffer init {init!r}; use one of {INITS}")
        if storage not in STORAGES:
            raise ConfigError(f"unknown replay buffer storage {storage!r}; use one of {STORAGES}")
        lo, hi = (float(v) for v in value_range)
        if not (lo < hi and math.isfinite(lo) and math.isfinite(hi)):
            raise ConfigError(f"replay buffer value_range must be (low, high) with low < high, got {value_range}")
        if n_classes is not None:
            if int(n_classes) < 1 or int(n_classes) != n_classes:
                raise ConfigError(f"replay buffer n_classes must be a whole number >= 1, got {n_classes}")
            if capacity % n_classes:
                raise ConfigError(f"replay buffer capacity {capacity} is not a multiple of n_classes "
                                  f"{n_classes}; each class gets capacity / n_classes slots")
        if not (float(init_std) >= 0 and float(data_noise) >= 0):
            raise ConfigError("replay buffer init_std and data_noise must be >= 0")
        self.xp = backend.xp() if xp is None else xp
        self.capacity = int(capacity)
        self.input_shape = shape
        self.reinit_prob = float(reinit_prob)
        self.init = init
        self.value_range = (lo, hi)
        self.dtype = np.dtype(dtype)
        self.storage = storage
        self.n_classes = None if n_classes is None else int(n_classes)
        self.per_class = self.capacity // (self.n_classes or 1)
        self.init_std = float(init_std)
        self.data_noise = float(data_noise)
        store_dtype = np.uint8 if storage == "uint8" else np.float32
        self._store = self.xp.zeros((self.capacity, *shape), dtype=store_dtype)
        self._valid = self.xp.zeros(self.capacity, dtype=bool)  # slot written at least once
        self.last_reinit: Any = None  # (batch,) bool: which elements the last sample re-initialised

    def __len__(self) -> int:
        return self.capacity

    @property
    def nbytes(self) -> int:
        """Memory held by the stored samples, in bytes."""
        return int(self._store.nbytes)

    # -- quantisation ---------------------------------------------------
    def quantize(self, x: Any) -> Any:
        """Storage form of x: uint8 levels, or float32 (unchanged values)."""
        xp = get_array_module(x)
        if self.storage == "float32":
            return x.astype(xp.float32, copy=False)
        lo, hi = self.value_range
        v = xp.clip(x, lo, hi).astype(xp.float32)
        v -= lo
        v *= _LEVELS / (hi - lo)
        return xp.rint(v).astype(xp.uint8)

    def dequantize(self, q: Any) -> Any:
        """Samples in self.dtype from the storage form q."""
        if self.storage == "float32":
            return q.astype(self.dtype, copy=False)
        lo, hi = self.value_range
        v = q.astype(self.dtype)
        v *= (hi - lo) / _LEVELS
        v += lo
        return v

    # -- sampling -------------------------------------------------------
    def class_of(self, indices: Any) -> Any:
        """(n,) int64 class of each slot index (0 for a buffer without classes)."""
        return indices // self.per_class

    def _check_labels(self, y: Any, batch: int) -> Any:
        xp = self.xp
        if self.n_classes is None:
            raise ConfigError("class labels y were given, but this replay buffer has no classes; "
                              "create it with n_classes to sample class-conditionally")
        y = xp.asarray(y)
        if y.shape != (batch,) or y.dtype.kind not in "iu":
            raise ConfigError(f"y must be ({batch},) integer class labels, got shape {tuple(y.shape)} "
                              f"and dtype {y.dtype}")
        if batch and (int(y.min()) < 0 or int(y.max()) >= self.n_classes):
            raise ConfigError(f"class labels must lie in [0, {self.n_classes}), got "
                              f"[{int(y.min())}, {int(y.max())}]")
        return y.astype(xp.int64)

    def _fresh(self, batch: int, rng: Any, data: Any | None, y: Any | None,
               data_labels: Any | None) -> Any:
        """(batch, *shape) new chain starts from the init distribution, in self.dtype."""
        xp = self.xp
        lo, hi = self.value_range
        shape = (batch, *self.input_shape)
        if self.init == "uniform":
            x = rng.random(shape, dtype=self.dtype)
            x *= hi - lo
            x += lo
            return x
        if self.init == "gaussian":
            x = rng.standard_normal(shape, dtype=self.dtype)
            x *= self.init_std
            x += 0.5 * (lo + hi)
            return xp.clip(x, lo, hi, out=x)
        if data is None:
            raise ConfigError("this replay buffer re-initialises from data (init='data'): pass data= "
                              "to sample(), or choose init 'uniform' or 'gaussian'")
        dm = get_array_module(data)
        m = int(data.shape[0])
        if tuple(data.shape[1:]) != self.input_shape or m == 0:
            raise ConfigError(f"data has shape {tuple(data.shape)}; the replay buffer needs "
                              f"(M >= 1, {', '.join(map(str, self.input_shape))})")
        if y is not None and data_labels is not None:
            labels = xp.asarray(data_labels).astype(xp.int64)
            if labels.shape != (m,):
                raise ConfigError(f"data_labels must be ({m},), got {tuple(labels.shape)}")
            order = xp.argsort(labels)
            counts = xp.bincount(labels, minlength=self.n_classes)[: self.n_classes]
            starts = xp.cumsum(counts) - counts
            if bool((counts[y] == 0).any()):
                raise ConfigError("a requested class has no examples in data; give data with "
                                  "every class, or sample without y")
            pick = order[starts[y] + _randint(rng, xp, counts[y], batch)]
        else:
            pick = _randint(rng, xp, m, batch)
        if dm is xp:
            x = data[pick].astype(self.dtype)
        else:  # data on the host, buffer on the device: move only the batch
            x = xp.asarray(data[to_numpy(pick)], dtype=self.dtype)
        if self.data_noise:
            eps = rng.standard_normal(shape, dtype=self.dtype)
            eps *= self.data_noise
            x += eps
        return xp.clip(x, lo, hi, out=x)

    def sample(self, batch: int, rng: Any, data: Any | None = None, y: Any | None = None,
               data_labels: Any | None = None) -> tuple[Any, Any]:
        """Draw chain starts: (x: (batch, *input_shape) in self.dtype, indices: (batch,) int64).

        rng: generator on the buffer's backend; data: (M, *input_shape), needed
        by init "data" (best on the buffer's backend); y: (batch,) class labels
        (per-class buffers); data_labels: (M,) labels of data, to re-initialise
        a class-y slot from a class-y example. The re-initialised elements are
        in ``self.last_reinit`` afterwards.
        """
        xp = self.xp
        batch = int(batch)
        if batch < 0:
            raise ConfigError(f"batch must be >= 0, got {batch}")
        if y is None:
            indices = _randint(rng, xp, self.capacity, batch)
        else:
            y = self._check_labels(y, batch)
            indices = y * self.per_class + _randint(rng, xp, self.per_class, batch)
        reinit = rng.random(batch, dtype=xp.float64) < self.reinit_prob
        reinit |= ~self._valid[indices]
        fresh = self._fresh(batch, rng, data, y, data_labels)
        if kernels.usable(fresh) and self.dtype == np.float32:  # CuPy: one fused gather
            x = gpu.gather(self._store, indices, reinit, fresh, self.storage, self.value_range, _LEVELS)
        else:
            x = self.dequantize(self._store[indices])
            xp.copyto(x, fresh, where=reinit.reshape((-1,) + (1,) * len(self.input_shape)))
        self.last_reinit = reinit
        return x, indices

    def push(self, x: Any, indices: Any) -> None:
        """Write x: (n, *input_shape) back to the slots indices: (n,) (from sample)."""
        xp = self.xp
        if tuple(x.shape) != (int(indices.shape[0]), *self.input_shape):
            raise ConfigError(f"push got samples of shape {tuple(x.shape)} for {int(indices.shape[0])} "
                              f"indices; expected ({int(indices.shape[0])}, "
                              f"{', '.join(map(str, self.input_shape))})")
        indices = xp.asarray(indices)
        x = xp.asarray(x)
        if kernels.usable(x) and kernels.on_device(indices) and indices.dtype.kind in "iu":
            gpu.scatter(self._store, self._valid, x, indices, self.storage, self.value_range, _LEVELS)
            return
        self._store[indices] = self.quantize(x)
        self._valid[indices] = True

    def filled_indices(self) -> Any:
        """Slots that hold a chain (written at least once), ascending."""
        return self.xp.nonzero(self._valid)[0]

    def take(self, indices: Any) -> Any:
        """The stored samples at the given slots: (len(indices), *input_shape), dequantised copies."""
        return self.dequantize(self._store[indices])

    def samples(self) -> Any:
        """All stored samples: (capacity, *input_shape) in self.dtype (a copy)."""
        return self.dequantize(self._store.copy())

    # -- checkpoints ----------------------------------------------------
    def _config(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "input_shape": list(self.input_shape),
                "storage": self.storage, "value_range": list(self.value_range),
                "n_classes": self.n_classes}

    def state_dict(self) -> dict[str, Any]:
        """Host copies for a checkpoint: {"samples", "valid"} NumPy arrays plus the layout."""
        return {**self._config(), "samples": to_numpy(self._store).copy(),
                "valid": to_numpy(self._valid).copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`; the layout must match this buffer's."""
        mine = self._config()
        theirs = {k: state.get(k) for k in mine}
        theirs["input_shape"] = list(theirs["input_shape"] or [])
        theirs["value_range"] = [float(v) for v in (theirs["value_range"] or [])]
        if mine["storage"] == "float32":  # the range does not matter for float storage
            mine.pop("value_range"), theirs.pop("value_range")
        if theirs != mine:
            raise ConfigError(f"the replay buffer checkpoint has layout {theirs}, but this buffer is "
                              f"{mine}; create the buffer with the checkpoint's settings")
        samples = to_numpy(state["samples"])
        valid = to_numpy(state["valid"])
        if samples.shape != tuple(self._store.shape) or samples.dtype != self._store.dtype \
                or valid.shape != (self.capacity,):
            raise ConfigError(f"the replay buffer checkpoint holds samples {samples.shape} {samples.dtype}; "
                              f"expected {tuple(self._store.shape)} {self._store.dtype}")
        self._store[...] = self.xp.asarray(samples)
        self._valid[...] = self.xp.asarray(valid.astype(bool))
