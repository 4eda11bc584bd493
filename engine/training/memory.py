"""Memory: how much a run needs, how much the machine has, and what an out-of-memory error is.

An estimate is made before a run allocates its big arrays (the replay buffer, the device
copy of the data, the batch activations), so a run that cannot fit is refused up front,
saying the estimate, what is available and what to change; or, with
``train.on_memory = "smaller_batch"``, it starts with the largest batch that fits. An
out-of-memory error during a step (``MemoryError`` on NumPy, CuPy's ``OutOfMemoryError``
or a CUDA/cuBLAS allocation failure on a GPU) is recognised by :func:`is_out_of_memory`
without importing CuPy, so the trainer can halve its batch and carry on.

Sizes are bytes. The estimate counts the arrays the engine keeps (data, buffer,
parameters with gradients and optimizer moments) plus the activations of one training
pass (2 x batch samples, saved for the backward) and one sampler step (batch samples).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from .. import backend
from ..errors import ConfigError

# Peak bytes of a step per byte of (input + layer outputs + im2col buffers) per sample: the
# backward's gradients and the elementwise temporaries. Measured with tracemalloc: the peak
# of one training step is 0.6-0.9 of the estimate for MLPs, ConvNets and JEM.
ACTIVATION_OVERHEAD = 2.0
SAFETY = 0.8  # use at most this share of what is available
MIN_BATCH = 1


class MemoryLimitError(ConfigError):
    """A run that does not fit in the memory of this machine (host or GPU)."""


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover - the loop returns


# --- what the machine has ------------------------------------------------------------------------

def _meminfo_available(path: str = "/proc/meminfo") -> int | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_room(root: str = "/sys/fs/cgroup") -> int | None:
    """limit - usage of this process's cgroup (v2, or v1's memory controller), None without a limit."""
    for limit_file, usage_file in (("memory.max", "memory.current"),
                                   ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        try:
            with open(os.path.join(root, limit_file)) as f:
                text = f.read().strip()
            if text == "max":
                continue
            limit = int(text)
            if limit >= 1 << 60:  # v1's "no limit" is a huge number
                continue
            with open(os.path.join(root, usage_file)) as f:
                usage = int(f.read().strip())
            return max(limit - usage, 0)
        except (OSError, ValueError):
            continue
    return None


def available_host_bytes() -> int | None:
    """Bytes this process can still allocate: MemAvailable, capped by a cgroup limit; None if unknown.

    ``EBM_MEMORY_LIMIT`` (bytes) overrides it, for tests and for users who want a cap.
    """
    override = os.environ.get("EBM_MEMORY_LIMIT")
    if override:
        try:
            return int(float(override))
        except ValueError:
            pass
    found = [v for v in (_meminfo_available(), _cgroup_room()) if v is not None]
    if not found and hasattr(os, "sysconf"):
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError):
            pass
    return min(found) if found else None


def available_device_bytes(xp: Any) -> int | None:
    """Free bytes on the GPU of the array module ``xp`` (CuPy), counting its pool's cached blocks;
    None for NumPy or when it cannot be asked."""
    cuda = getattr(xp, "cuda", None)
    if cuda is None:
        return None
    try:
        free, _total = cuda.runtime.memGetInfo()
        pool = xp.get_default_memory_pool()
        return int(free) + int(pool.free_bytes())
    except Exception:  # noqa: BLE001 - any driver trouble: unknown, not fatal
        return None


def release_cached(xp: Any) -> None:
    """Give the GPU pool's cached blocks back (after an out-of-memory error); a no-op on NumPy."""
    for getter in ("get_default_memory_pool", "get_default_pinned_memory_pool"):
        pool = getattr(xp, getter, None)
        if pool is not None:
            try:
                pool().free_all_blocks()
            except Exception:  # noqa: BLE001 - best effort
                pass


def is_out_of_memory(exc: BaseException) -> bool:
    """True for an allocation failure on the host (MemoryError) or the GPU (see backend.is_out_of_memory)."""
    return isinstance(exc, MemoryError) or backend.is_out_of_memory(exc)


# --- what a run needs ----------------------------------------------------------------------------

@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes of each part of a run; ``host`` and ``device`` are where they live."""

    data: int  # training + validation samples, float32 on the host
    device_data: int  # the training samples on the device (a second copy on a GPU)
    buffer: int  # replay buffer samples
    parameters: int  # parameters, gradients and optimizer moments
    activations: int  # one training pass (2 x batch) or one sampler step (batch), whichever is larger
    batch_size: int
    on_device: bool  # True when the arrays live on a GPU (CuPy)

    @property
    def device(self) -> int:
        """Bytes on the array module's device (the host itself for NumPy)."""
        return self.device_data + self.buffer + self.parameters + self.activations

    @property
    def host(self) -> int:
        return self.data + (0 if self.on_device else self.device)

    def describe(self) -> str:
        parts = [f"data {format_bytes(self.data)}"]
        if self.on_device:
            parts.append(f"data on the GPU {format_bytes(self.device_data)}")
        else:
            parts.append(f"training copy {format_bytes(self.device_data)}")
        parts += [f"replay buffer {format_bytes(self.buffer)}", f"parameters {format_bytes(self.parameters)}",
                  f"activations of batch {self.batch_size} {format_bytes(self.activations)}"]
        return ", ".join(parts)


def _layer_outputs(net: Any) -> list[int]:
    """Elements per sample of each layer's output, and of each conv's im2col buffer."""
    out = [math.prod(s) for s in net.shapes]
    shapes = [net.input_shape, *net.shapes]
    for layer, in_shape, out_shape in zip(net.layers, shapes, shapes[1:]):
        if layer.kind == "conv2d":
            k = int(layer.config["kernel_size"])
            out.append(in_shape[0] * k * k * math.prod(out_shape[1:]))
    return out


def activation_bytes_per_sample(net: Any, itemsize: int) -> int:
    """Peak bytes per sample of a forward that saves its activations, plus the backward."""
    return int(ACTIVATION_OVERHEAD * itemsize * (math.prod(net.input_shape) + sum(_layer_outputs(net))))


def estimate(config: Any, net: Any, n_train: int, n_val: int, *, itemsize: int, on_device: bool,
             batch_size: int | None = None, optimizer_moments: int | None = None) -> MemoryEstimate:
    """The memory a run of ``config`` with network ``net`` (an EnergyNet: ``shapes``,
    ``input_shape``, ``layers``, ``num_parameters()``) needs, for ``n_train`` + ``n_val`` samples."""
    t = config.train
    b = int(batch_size if batch_size is not None else t.batch_size)
    sample = math.prod(net.input_shape)
    data = 4 * sample * (int(n_train) + int(n_val))
    device_data = itemsize * sample * int(n_train)
    cap = int(config.buffer.capacity)
    buffer = cap * sample * (1 if config.buffer.storage == "uint8" else itemsize) + cap
    moments = optimizer_moments if optimizer_moments is not None else (2 if t.optimizer in ("adam", "adamw") else 1)
    parameters = itemsize * net.num_parameters() * (2 + moments)
    per_sample = activation_bytes_per_sample(net, itemsize)
    activations = max(2 * b, b) * per_sample  # the training pass sees positives and negatives at once
    return MemoryEstimate(data, device_data, buffer, parameters, activations, b, on_device)


def check(est: MemoryEstimate, host_available: int | None, device_available: int | None,
          data_loaded: bool = True) -> str:
    """"" when ``est`` fits, else why not (the estimate, what is available, what to change).

    ``data_loaded``: the data is in memory already (a Trainer checks after loading it), so
    only the rest must fit in what is available now.
    """
    problems = []
    host_need = est.host - (est.data if data_loaded else 0)
    if host_available is not None and host_need > SAFETY * host_available:
        loaded = " more, the data being loaded" if data_loaded else ""
        problems.append(f"about {format_bytes(host_need)} of memory{loaded} ({est.describe()}), but "
                        f"{format_bytes(host_available)} is available")
    if est.on_device and device_available is not None and est.device > SAFETY * device_available:
        problems.append(f"about {format_bytes(est.device)} of GPU memory, but {format_bytes(device_available)} "
                        "is free on the GPU")
    if not problems:
        return ""
    return (f"this run needs {' and '.join(problems)}. Lower train.batch_size (now {est.batch_size}) or "
            "buffer.capacity, use less data (data.n), or set train.on_memory = 'smaller_batch' to start "
            "with the largest batch that fits")


def fitting_batch(config: Any, net: Any, n_train: int, n_val: int, *, itemsize: int, on_device: bool,
                  host_available: int | None, device_available: int | None) -> int | None:
    """The largest batch size <= train.batch_size (halving) that fits, or None if even 1 does not."""
    b = int(config.train.batch_size)
    while b >= MIN_BATCH:
        est = estimate(config, net, n_train, n_val, itemsize=itemsize, on_device=on_device, batch_size=b)
        if not check(est, host_available, device_available):
            return b
        if b == MIN_BATCH:
            break
        b = max(MIN_BATCH, b // 2)
    return None
