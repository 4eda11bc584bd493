"""Build the parts of an experiment from its config: data, model, sampler, buffer."""

from __future__ import annotations

import inspect
from typing import Any

from ..data.dataset import Dataset, load_dataset
from ..errors import ConfigError
from ..models import EnergyNet
from ..models.jem import JEM
from ..models.presets import PRESETS
from ..samplers.buffer import ReplayBuffer
from ..samplers.hmc import HMCSampler
from ..samplers.langevin import LangevinSampler
from ..samplers.mala import MALASampler
from .config import BufferConfig, ExperimentConfig, ModelConfig, SamplerConfig


def build_data(config: ExperimentConfig) -> tuple[Dataset, Dataset]:
    """(train, validation) datasets of the experiment."""
    return load_dataset(config.data.spec(config.train.seed))


def build_model(config: ModelConfig, input_shape: tuple[int, ...], seed: int, dtype: Any) -> Any:
    """An EnergyNet, or a JEM wrapping one, whose input fits the data."""
    arch = model_arch(config, input_shape)
    if tuple(arch["input_shape"]) != tuple(input_shape):
        fitting = [name for name, make in PRESETS.items()
                   if not name.startswith("W") and tuple(make()["input_shape"]) == tuple(input_shape)]
        hint = f"set model.preset to one made for it: {', '.join(fitting)}" if fitting else \
            "give model.layers for this input shape"
        raise ConfigError(f"the model expects inputs of shape {tuple(arch['input_shape'])} but the data has "
                          f"{tuple(input_shape)}: {hint}")
    if config.kind == "jem":
        return JEM(arch, seed=seed, dtype=dtype)
    net = EnergyNet(arch, seed=seed, dtype=dtype)
    if net.output_size != 1:
        raise ConfigError(f"model.preset = {config.preset!r} has {net.output_size} outputs: an energy model "
                          "needs 1 (set model.kind = 'jem' for a classifier)")
    return net


def model_arch(config: ModelConfig, input_shape: tuple[int, ...] = ()) -> dict[str, Any]:
    """The architecture {input_shape, layers} the model config describes: its own layers (whose
    input_shape defaults to ``input_shape``, the data's), or its preset with n_classes / width applied."""
    if not config.layers:
        return preset_arch(config)
    if config.width:
        raise ConfigError(f"model.width = {config.width} sets the width of a preset, but this config gives "
                          "model.layers: set model.width = 0 and write the widths into the layers")
    return {"input_shape": list(config.input_shape) or list(input_shape), "layers": config.layers}


def preset_arch(config: ModelConfig) -> dict[str, Any]:
    """The architecture {input_shape, layers} of ``model.preset`` with model.n_classes / model.width applied."""
    if config.preset not in PRESETS:
        raise ConfigError(f"model.preset = {config.preset!r} is unknown; allowed: {', '.join(PRESETS)}")
    factory = PRESETS[config.preset]
    kwargs: dict[str, Any] = {"num_classes": config.n_classes} if config.preset.startswith("jem") else {}
    if config.width:
        if "width" not in inspect.signature(factory).parameters:
            with_width = [name for name, f in PRESETS.items() if "width" in inspect.signature(f).parameters]
            raise ConfigError(f"model.width = {config.width} but preset {config.preset!r} has no width setting; "
                              f"set model.width = 0, or use a preset that has one: {', '.join(with_width)}")
        kwargs["width"] = config.width
    return factory(**kwargs)


def build_sampler(config: SamplerConfig) -> Any:
    clip = config.clip_grad or None
    clamp = tuple(config.clamp) if config.clamp else None
    if config.kind == "langevin":
        noise = None if config.noise < 0 else config.noise
        return LangevinSampler(step_size=config.step_size, noise=noise, clip_grad=clip, clamp=clamp,
                               n_steps=config.n_steps)
    if config.kind == "mala":
        return MALASampler(step_size=config.step_size, n_steps=config.n_steps, clip_grad=clip, bounds=clamp)
    return HMCSampler(step_size=config.step_size, n_leapfrog=config.n_leapfrog, n_steps=config.n_steps,
                      bounds=clamp)


def build_buffer(config: BufferConfig, data: Dataset, dtype: Any, xp: Any) -> ReplayBuffer | None:
    if config.capacity == 0:
        return None
    return ReplayBuffer(config.capacity, data.input_shape, reinit_prob=config.reinit_prob, init=config.init,
                        value_range=data.value_range, dtype=dtype, storage=config.storage, xp=xp)
