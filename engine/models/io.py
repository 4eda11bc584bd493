"""Save and load an EnergyNet as one safetensors file (never pickle).

The file holds the tensors of ``net.state_dict()`` ("0.weight", "0.bias",
"2.sn_u", ...) and string metadata:
``{"format": "ebm-studio-model", "version": "1", "architecture": net.to_json(),
"dtype": "float32" | "float64"}``. Writes are atomic (a temporary file in the
same folder, flushed and fsynced, then ``os.replace``), and a round trip is
bit-exact. Loading checks everything a user could get wrong and raises
:class:`~engine.errors.ModelFileError` saying which file, what and what to do.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save as st_save

from ..backend import to_numpy
from ..errors import ConfigError, ModelFileError
from ..fileio import write_file
from ..layers.parametric import WeightLayer
from .energy_net import EnergyNet, _build_layers, normalize_config

FORMAT = "ebm-studio-model"
VERSION = "1"
_DTYPES = {"F32": np.dtype(np.float32), "F64": np.dtype(np.float64)}
_SMALL = 1 << 22  # parameters a damaged file may make us allocate before the exact check
_DTYPE_NAMES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}


def save_model(path: str | os.PathLike[str], net: EnergyNet) -> Path:
    """Write ``net`` (architecture + parameters + buffers) to ``path`` atomically; returns the path.

    Refuses (ModelFileError) a network whose weights hold NaN/inf, since such a
    file could not be loaded again, and reports a folder that cannot be written.
    """
    path = Path(path)
    tensors: dict[str, np.ndarray] = {}
    bad = []
    for name, value in net.state_dict().items():
        arr = np.ascontiguousarray(to_numpy(value))
        if not np.isfinite(arr).all():
            bad.append(name)
        tensors[name] = arr
    if bad:
        raise ModelFileError(f"cannot save the model to {path}: tensor(s) {bad} contain NaN or inf "
                             f"(training diverged); save an earlier checkpoint or lower the learning rate")
    metadata = {"format": FORMAT, "version": VERSION, "architecture": net.to_json(),
                "dtype": np.dtype(net.dtype).name}
    return write_file(path, st_save(tensors, metadata=metadata), "model file", ModelFileError)


def load_model(path: str | os.PathLike[str], xp: Any = None) -> EnergyNet:
    """Read a model written by :func:`save_model`; arrays go to ``xp`` (default: the active backend)."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"the model file {path} does not exist; check the path or save the model first")
    if not path.is_file():
        raise ModelFileError(f"{path} is not a file; choose a .safetensors model file")
    try:
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
            names = list(f.keys())
            specs = {n: (f.get_slice(n).get_dtype(), tuple(f.get_slice(n).get_shape())) for n in names}
            config, dtype = _check_header(path, metadata, specs)
            _check_size(path, config, specs)
            net = _build(path, config, dtype, xp)
            _check_tensors(path, net, specs)
            tensors = {n: f.get_tensor(n) for n in names}
    except ModelFileError:
        raise
    except OSError as exc:
        raise ModelFileError(f"could not read the model file {path}: {exc.strerror or exc}; "
                             f"check that it is readable") from exc
    except Exception as exc:  # safetensors raises SafetensorError (and others) for broken files
        raise ModelFileError(f"{path} is not a valid safetensors model file ({exc}); it may be truncated "
                             f"or corrupt: save the model again or pick another file") from exc
    bad = [n for n, a in tensors.items() if not np.isfinite(a).all()]
    if bad:
        raise ModelFileError(f"the model file {path} has NaN or inf in tensor(s) {sorted(bad)}; the weights "
                             f"are unusable (the run probably diverged): load an earlier checkpoint")
    net.load_state_dict(tensors)
    return net


def _check_header(path: Path, metadata: dict[str, str],
                  specs: dict[str, tuple[str, tuple[int, ...]]]) -> tuple[dict[str, Any], np.dtype]:
    fmt = metadata.get("format")
    if fmt is not None and fmt != FORMAT:
        raise ModelFileError(f"{path} is a safetensors file of format {fmt!r}, not an EBM Studio model "
                             f"({FORMAT!r}); pick a model saved by EBM Studio")
    version = metadata.get("version")
    if version is not None and version != VERSION:
        raise ModelFileError(f"{path} is an EBM Studio model of format version {version!r}; this version "
                             f"reads version {VERSION!r}: update EBM Studio or re-export the model")
    text = metadata.get("architecture")
    if not text:
        raise ModelFileError(f"{path} has no 'architecture' metadata, so the network cannot be rebuilt; "
                             f"it was not saved by EBM Studio: pick a model file that EBM Studio saved")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"the architecture in {path} is not valid JSON ({exc}); the file is damaged: "
                             f"save the model again") from None
    found = sorted({d for d, _ in specs.values()})
    wrong = {n: d for n, (d, _) in specs.items() if d not in _DTYPES}
    if wrong:
        raise ModelFileError(f"{path}: tensor(s) {wrong} have an unsupported dtype; a model file holds "
                             f"float32 (F32) or float64 (F64) tensors only")
    if len(found) > 1:
        raise ModelFileError(f"{path} mixes tensor dtypes {found}; a model file holds one dtype "
                             f"(float32 or float64): save the model again")
    declared = metadata.get("dtype")
    if declared is not None and declared not in _DTYPE_NAMES:
        raise ModelFileError(f"{path} declares dtype {declared!r}; allowed: float32, float64")
    if declared is not None and found and _DTYPES[found[0]] != _DTYPE_NAMES[declared]:
        raise ModelFileError(f"{path} declares dtype {declared!r} but holds {found[0]} tensors; "
                             f"the file is inconsistent: save the model again")
    if declared is not None:
        dtype = _DTYPE_NAMES[declared]
    else:
        dtype = _DTYPES[found[0]] if found else np.dtype(np.float32)
    return config, dtype


def _check_size(path: Path, config: Any, specs: dict[str, tuple[str, tuple[int, ...]]]) -> None:
    """Refuse an architecture that needs more parameters than the file holds, before building
    it: the architecture is text in the file, and building allocates what it declares."""
    try:
        layers = _build_layers(normalize_config(config)["layers"])
    except (ConfigError, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ModelFileError(f"the architecture in {path} is not a valid network: {exc}; "
                             f"the file is damaged or from another program") from None
    needed = 0
    for layer in layers:
        if isinstance(layer, WeightLayer):
            try:
                shape = layer._weight_shape()
                needed += math.prod(int(d) for d in shape) + (int(shape[0]) if layer.config.get("bias") else 0)
            except (TypeError, ValueError, KeyError, IndexError):
                continue  # the full build below names the bad setting
    held = sum(math.prod(shape) for _, shape in specs.values())
    if needed > 2 * held + _SMALL:  # small gaps: the build is cheap and the tensor check names them
        raise ModelFileError(f"the architecture in {path} needs {needed:,} parameters but the file holds "
                             f"{held:,} values; the file is damaged or was edited: save the model again")


def _build(path: Path, config: Any, dtype: np.dtype, xp: Any) -> EnergyNet:
    try:
        return EnergyNet(config, seed=0, dtype=dtype, xp=xp)
    except (ConfigError, TypeError, ValueError, KeyError) as exc:
        raise ModelFileError(f"the architecture in {path} is not a valid network: {exc}; "
                             f"the file is damaged or from another program") from None


def _check_tensors(path: Path, net: EnergyNet, specs: dict[str, tuple[str, tuple[int, ...]]]) -> None:
    expected = {n: tuple(a.shape) for n, a in net.state_dict().items()}
    missing, extra = sorted(set(expected) - set(specs)), sorted(set(specs) - set(expected))
    if missing or extra:
        parts = ([f"missing tensor(s) {missing}"] if missing else []) + (
            [f"unexpected tensor(s) {extra}"] if extra else [])
        raise ModelFileError(f"{path} does not match its architecture: {'; '.join(parts)}; "
                             f"the file is damaged or was edited: save the model again")
    for name, shape in expected.items():
        found = specs[name][1]
        if found != shape:
            raise ModelFileError(f"{path}: tensor {name} has shape {found}, the architecture expects {shape}; "
                                 f"the file is damaged or was edited: save the model again")
