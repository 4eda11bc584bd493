"""Experiment configuration: plain dataclasses that round-trip through TOML.

One experiment = data + model + sampler + replay buffer + training settings.
Every setting has a default, so an empty file is a valid (2D) experiment.
A bad value gets a ConfigError naming the key, the value and what is allowed.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def _choice(*values: str) -> dict[str, Any]:
    return {"choices": values}


def _range(low: float | None = None, high: float | None = None, low_open: bool = False) -> dict[str, Any]:
    return {"low": low, "high": high, "low_open": low_open}


@dataclass
class DataConfig:
    name: str = "8gaussians"  # a toy 2D density, "builtin_digits", "builtin_shapes", or "file"
    path: str = ""  # for name = "file": a file or folder
    format: str = field(default="", metadata=_choice("", "csv", "npy", "idx", "cifar", "folder", "texture"))
    n: int = field(default=0, metadata=_range(0))  # samples to draw / keep; 0: the dataset's default
    val_fraction: float = field(default=-1.0, metadata=_range(-1.0, 0.9))  # < 0: the dataset's default
    size: int = field(default=32, metadata=_range(4))  # folder / texture: image size
    mode: str = field(default="", metadata=_choice("", "gray", "rgb"))  # folder / texture

    def spec(self, seed: int) -> dict[str, Any]:
        """The engine.data.load_dataset spec of this config."""
        spec: dict[str, Any] = {"seed": seed}
        if self.val_fraction >= 0:
            spec["val_fraction"] = self.val_fraction
        if self.n:
            spec["n"] = self.n
        if self.name != "file":
            return {**spec, "name": self.name}
        spec["path"] = self.path
        if self.format:
            spec["format"] = self.format
        if self.format in ("folder", "texture"):
            spec["size"] = self.size
            if self.mode:
                spec["mode"] = self.mode
        return spec


@dataclass
class ModelConfig:
    kind: str = field(default="energy", metadata=_choice("energy", "jem"))
    preset: str = "mlp_2d"  # a name in engine.models.presets.PRESETS, or "" to use layers
    input_shape: list = field(default_factory=list)  # with layers
    layers: list = field(default_factory=list)  # layer specs, as in model.json
    n_classes: int = field(default=10, metadata=_range(2))  # JEM
    width: int = field(default=0, metadata=_range(0))  # 0: the preset's own; else its hidden width (mlp_2d)


@dataclass
class SamplerConfig:
    kind: str = field(default="langevin", metadata=_choice("langevin", "mala", "hmc"))
    n_steps: int = field(default=20, metadata=_range(1))
    step_size: float = field(default=0.01, metadata=_range(0.0, low_open=True))
    noise: float = field(default=-1.0)  # < 0: the textbook sqrt(2 step_size)
    clip_grad: float = field(default=0.0, metadata=_range(0.0))  # 0: off
    clamp: list = field(default_factory=list)  # [] or [lo, hi]
    n_leapfrog: int = field(default=5, metadata=_range(1))  # HMC


@dataclass
class BufferConfig:
    capacity: int = field(default=10000, metadata=_range(0))  # 0: no buffer, fresh chains each time
    reinit_prob: float = field(default=0.05, metadata=_range(0.0, 1.0))
    init: str = field(default="uniform", metadata=_choice("uniform", "gaussian", "data"))
    storage: str = field(default="float32", metadata=_choice("float32", "uint8"))


@dataclass
class TrainConfig:
    iterations: int = field(default=2000, metadata=_range(1))
    batch_size: int = field(default=256, metadata=_range(1))
    optimizer: str = field(default="adam", metadata=_choice("adam", "adamw", "sgd"))
    lr: float = field(default=1e-3, metadata=_range(0.0, low_open=True))
    betas: list = field(default_factory=lambda: [0.0, 0.999])
    weight_decay: float = field(default=0.0, metadata=_range(0.0))
    schedule: str = field(default="constant", metadata=_choice("constant", "step", "cosine"))
    alpha: float = field(default=0.1, metadata=_range(0.0))  # energy-magnitude regulariser
    grad_clip: float = field(default=0.0, metadata=_range(0.0))  # 0: off
    seed: int = field(default=0, metadata=_range(0))
    backend: str = field(default="auto", metadata=_choice("auto", "numpy", "cupy"))
    dtype: str = field(default="float32", metadata=_choice("float32", "float64"))
    checkpoint_every: int = field(default=500, metadata=_range(1))
    eval_every: int = field(default=250, metadata=_range(1))
    samples_every: int = field(default=50, metadata=_range(1))
    on_divergence: str = field(default="stop", metadata=_choice("stop", "rollback"))
    max_energy: float = field(default=1e4, metadata=_range(0.0, low_open=True))
    # a run whose memory estimate does not fit: refuse it, or start with the largest batch that fits
    on_memory: str = field(default="refuse", metadata=_choice("refuse", "smaller_batch"))
    jem_gen_weight: float = field(default=1.0, metadata=_range(0.0))  # JEM: weight of the generative term


@dataclass
class ExperimentConfig:
    name: str = "experiment"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    buffer: BufferConfig = field(default_factory=BufferConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    # --- conversion ---------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ExperimentConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"an experiment config must be a table, got {type(data).__name__}")
        return _build(cls, data, "")

    def replace(self, **sections: dict[str, Any]) -> "ExperimentConfig":
        """A copy with some settings changed, e.g. replace(train={"lr": 1e-4})."""
        merged = self.to_dict()
        for section, values in sections.items():
            if section not in merged or not isinstance(merged[section], dict):
                raise ConfigError(f"unknown config section {section!r}; allowed: {sorted(_sections())}")
            merged[section].update(values)
        return ExperimentConfig.from_dict(merged)


def _sections() -> list[str]:
    return [f.name for f in dataclasses.fields(ExperimentConfig) if dataclasses.is_dataclass(f.default_factory)]


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"[{prefix.rstrip('.')}]" if prefix else "the top level"
        raise ConfigError(f"unknown key(s) {', '.join(prefix + k for k in unknown)} in {where}; "
                          f"allowed: {', '.join(sorted(fields))}")
    values = {}
    for name, f in fields.items():
        key = prefix + name
        if name not in data:
            continue
        value = data[name]
        if dataclasses.is_dataclass(f.default_factory) if f.default_factory is not dataclasses.MISSING else False:
            if not isinstance(value, dict):
                raise ConfigError(f"{key} must be a table ([{key}]), got {value!r}")
            values[name] = _build(f.default_factory, value, key + ".")
        else:
            values[name] = _check_value(key, value, f)
    obj = cls(**values)
    _check_relations(obj, prefix)
    return obj


def _default_of(f: dataclasses.Field) -> Any:
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


def _check_value(key: str, value: Any, f: dataclasses.Field) -> Any:
    default = _default_of(f)
    meta = f.metadata
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
        if ok and not math.isfinite(value):  # TOML has nan and inf; no setting means them
            raise ConfigError(f"{key} = {value!r} is not a finite number; give a number such as {default!r}")
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, list):
        ok = isinstance(value, (list, tuple))
        value = copy.deepcopy(list(value)) if ok else value
    else:
        ok = True
    if not ok:
        raise ConfigError(f"{key} must be a {type(default).__name__}, got {value!r}")
    if "choices" in meta and value not in meta["choices"]:
        allowed = ", ".join(repr(c) for c in meta["choices"])
        raise ConfigError(f"{key} = {value!r} is not allowed; allowed values: {allowed}")
    low, high = meta.get("low"), meta.get("high")
    if low is not None and (value < low or (meta.get("low_open") and value == low)):
        raise ConfigError(f"{key} = {value!r} is too small: it must be {'>' if meta.get('low_open') else '>='} {low}")
    if high is not None and value > high:
        raise ConfigError(f"{key} = {value!r} is too large: it must be <= {high}")
    return value


def _check_relations(obj: Any, prefix: str) -> None:
    """Constraints between settings of one section."""
    if isinstance(obj, SamplerConfig):
        if obj.clamp and (len(obj.clamp) != 2 or not obj.clamp[0] < obj.clamp[1]):
            raise ConfigError(f"{prefix}clamp must be [] or [low, high] with low < high, got {obj.clamp!r}")
    if isinstance(obj, TrainConfig):
        b = obj.betas
        if len(b) != 2 or not all(isinstance(v, (int, float)) and 0.0 <= v < 1.0 for v in b):
            raise ConfigError(f"{prefix}betas must be [beta1, beta2] with each in [0, 1), got {b!r}")
    if isinstance(obj, ModelConfig):
        if not obj.preset and not obj.layers:
            raise ConfigError(f"{prefix}preset is empty and no {prefix}layers are given: set one of them")
    if isinstance(obj, DataConfig) and obj.name == "file" and not obj.path:
        raise ConfigError(f"{prefix}name = 'file' needs {prefix}path, the file or folder to load")


# --- TOML files ---------------------------------------------------------------


def load_config(path: str | os.PathLike) -> ExperimentConfig:
    """Read and check an experiment TOML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the config file ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from None
    try:
        return ExperimentConfig.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None


def dumps_config(config: ExperimentConfig) -> str:
    import tomli_w  # noqa: PLC0415 - only needed to write

    return tomli_w.dumps(_drop_empty(config.to_dict(), ExperimentConfig().to_dict()))


def _drop_empty(d: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Leave out empty lists/strings that are also the defaults (a shorter file that reads back the same).

    An empty value whose default is not empty (model.preset = "" with layers) stays: left
    out, it would read back as the default.
    """
    return {k: (_drop_empty(v, defaults.get(k, {})) if isinstance(v, dict) else v) for k, v in d.items()
            if v not in ([], "") or defaults.get(k) != v}
