"""Open a trained energy model for the applications, from whatever the user points at.

    opened = open_model("digits_convnet")        # a shipped model (resources/models/NAME.safetensors)
    opened = open_model("runs/my_run")           # a run folder (its model.safetensors + config.toml)
    opened = open_model("path/to/net.safetensors")
    opened.model.energy(x)                       # x: (N, *opened.input_shape) -> (N,)

A network with K >= 2 outputs per sample can only be read as a classifier, so it
comes back as a :class:`~engine.models.jem.JEM` (E(x) = -logsumexp f(x)); so does a
model whose run config says ``model.kind = "jem"``. Next to the model, the
:class:`OpenedModel` records what it was trained on: the experiment config when
there is one (the run's config.toml, or the "config" table of a shipped model's
NAME.json), the value range of its inputs and the dataset name.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, EBMError, ModelFileError
from ..models.energy_net import EnergyNet
from ..models.io import load_model
from ..models.jem import JEM
from ..training.config import ExperimentConfig, load_config

MODELS_DIR = Path(__file__).resolve().parent.parent.parent / "resources" / "models"
MODEL_SUFFIX = ".safetensors"
IMAGE_RANGE = (-1.0, 1.0)  # every image dataset of the engine lives in [-1, 1]
POINTS_RANGE = (-4.5, 4.5)  # the toy densities' plotting box


@dataclass
class OpenedModel:
    """A model ready for the applications, with what it was trained on.

    model: an EnergyNet (one output) or a JEM; both have ``energy(x)`` and
        ``energy_and_grad(x)`` on x: (N, *input_shape).
    input_shape: one sample's shape, e.g. (1, 28, 28) or (2,).
    value_range: (lo, hi) of the inputs: the training sampler's clamp, else
        (-1, 1) for images, else the toy box (-4.5, 4.5).
    config: the experiment config it was trained with, or None (a bare file).
    source: the .safetensors file that was read.
    name: a short label: the shipped name, the run folder's name or the file's stem.
    dataset: the training dataset's name (config data.name, or the file path for
        data.name = "file"), or None.
    info: the shipped model's record (NAME.json: preset, iterations, metrics, date), or {}.
    """

    model: Any
    input_shape: tuple[int, ...]
    value_range: tuple[float, float]
    config: ExperimentConfig | None
    source: Path
    name: str
    dataset: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def is_jem(self) -> bool:
        return isinstance(self.model, JEM)

    @property
    def is_image(self) -> bool:
        return len(self.input_shape) == 3

    @property
    def num_classes(self) -> int | None:
        """K for a JEM, None otherwise."""
        return self.model.num_classes if self.is_jem else None

    def sampler_settings(self) -> dict[str, Any]:
        """The training sampler's Langevin settings (defaults for the applications' chains).

        Keys: n_steps, step_size, noise (None = sqrt(2 step)), clip_grad (None = off),
        clamp ((lo, hi)). Without a config: 60 steps of 1.0 with a little noise, clamped
        to value_range.
        """
        if self.config is None:
            return {"n_steps": 60, "step_size": 1.0, "noise": 0.005, "clip_grad": None, "clamp": self.value_range}
        s = self.config.sampler
        return {"n_steps": s.n_steps, "step_size": s.step_size, "noise": None if s.noise < 0 else s.noise,
                "clip_grad": s.clip_grad or None, "clamp": tuple(s.clamp) if s.clamp else self.value_range}


def shipped_models() -> list[str]:
    """Names of the models in resources/models/, sorted."""
    return sorted(p.stem for p in MODELS_DIR.glob(f"*{MODEL_SUFFIX}"))


def shipped_model_info(name: str) -> dict[str, Any]:
    """The record NAME.json of a shipped model ({} if it has none or it is unreadable)."""
    return _read_record(MODELS_DIR / f"{name}.json")


def open_model(ref: str | os.PathLike[str] | OpenedModel, xp: Any = None) -> OpenedModel:
    """Open a shipped model name, a run folder or a .safetensors file (an OpenedModel passes through).

    xp: the array module for the parameters (default: the active backend).
    A missing or unreadable reference raises ModelFileError listing the shipped names.
    """
    if isinstance(ref, OpenedModel):
        return ref
    text = os.fspath(ref)
    if not text.strip():
        raise ModelFileError(f"no model given; {_choices()}")
    path = Path(text).expanduser()
    if path.is_dir():
        return _open_run(path, xp)
    if path.is_file():
        return _open_file(path, xp)
    if _is_plain_name(text) and (MODELS_DIR / f"{text}{MODEL_SUFFIX}").is_file():
        return _open_shipped(text, xp)
    raise ModelFileError(f"no model {text!r}: it is neither a file, a run folder nor a shipped model; {_choices()}")


def _choices() -> str:
    names = shipped_models()
    shipped = ", ".join(names) if names else "(none installed)"
    return (f"give a shipped model name ({shipped}), a run folder (with model.safetensors) "
            f"or a {MODEL_SUFFIX} file")


def _is_plain_name(text: str) -> bool:
    return bool(text) and "/" not in text and "\\" not in text and not text.endswith(MODEL_SUFFIX)


def _open_shipped(name: str, xp: Any) -> OpenedModel:
    info = shipped_model_info(name)
    config = _config_from_record(info)
    return _wrap(MODELS_DIR / f"{name}{MODEL_SUFFIX}", config, name, info, xp)


def _open_run(folder: Path, xp: Any) -> OpenedModel:
    model_file = folder / f"model{MODEL_SUFFIX}"
    if not model_file.is_file():
        what = "a run folder that has no final model yet" if (folder / "config.toml").is_file() else "not a run folder"
        raise ModelFileError(f"{folder} is {what} (no model{MODEL_SUFFIX}); train it to the end (the trainer "
                             f"writes the model when it stops), or {_choices()}")
    return _wrap(model_file, _run_config(folder), folder.name, {}, xp)


def _open_file(path: Path, xp: Any) -> OpenedModel:
    if path.suffix != MODEL_SUFFIX:
        raise ModelFileError(f"{path} is not a {MODEL_SUFFIX} model file; {_choices()}")
    # a run's model.safetensors sits beside its config.toml; a copied shipped model beside NAME.json
    info = _read_record(path.with_suffix(".json"))
    config = _run_config(path.parent) if path.name == f"model{MODEL_SUFFIX}" else _config_from_record(info)
    name = path.parent.name if path.name == f"model{MODEL_SUFFIX}" else path.stem
    return _wrap(path, config, name, info, xp)


def _run_config(folder: Path) -> ExperimentConfig | None:
    path = folder / "config.toml"
    if not path.is_file():
        return None
    try:
        return load_config(path)
    except EBMError as exc:
        raise ModelFileError(f"the run config {path} cannot be read ({exc}); fix or delete it to open the "
                             f"model without its training settings") from None


def _read_record(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _config_from_record(info: dict[str, Any]) -> ExperimentConfig | None:
    table = info.get("config")
    if not isinstance(table, dict):
        return None
    try:
        return ExperimentConfig.from_dict(table)
    except ConfigError:  # a record from another version: the model still opens, without its settings
        return None


def _wrap(path: Path, config: ExperimentConfig | None, name: str, info: dict[str, Any], xp: Any) -> OpenedModel:
    net = load_model(path, xp=xp)
    wants_jem = config is not None and config.model.kind == "jem"
    model: EnergyNet | JEM = net
    if wants_jem or net.output_size >= 2:
        try:
            model = JEM(net)
        except ConfigError as exc:
            raise ModelFileError(f"{path}: its config says model.kind = 'jem', but {exc}; the config and "
                                 f"the model file do not belong together") from None
    input_shape = tuple(net.input_shape)
    return OpenedModel(model, input_shape, _value_range(config, input_shape), config, path, name,
                       _dataset_name(config), info)


def _value_range(config: ExperimentConfig | None, input_shape: tuple[int, ...]) -> tuple[float, float]:
    if config is not None and len(config.sampler.clamp) == 2:
        lo, hi = config.sampler.clamp
        return float(lo), float(hi)
    return IMAGE_RANGE if len(input_shape) == 3 else POINTS_RANGE


def _dataset_name(config: ExperimentConfig | None) -> str | None:
    if config is None:
        return None
    return config.data.path if config.data.name == "file" else config.data.name
