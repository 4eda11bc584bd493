"""Texture synthesis: a fully convolutional energy trained on small crops paints a larger canvas.

A texture model ends with a ``global_sum`` layer after its convolutions (see
resources/presets/texture_convnet.toml), so E(x) = sum over positions p of f(patch
of x at p): the same weights define an energy for any canvas at least as large as
the training crops, and Langevin dynamics on a large canvas of noise
synthesises a larger texture. The per-pixel gradient does not grow with the
canvas, so the training sampler's step size carries over.

    opened = open_model("texture_convnet")
    result = synthesize(opened, size=(96, 96), n=1, n_steps=300)
    result.canvas        # (n, C, 96, 96) float32 in the model's value range
    result.frames        # (K, C, 96, 96): chain 0 from the noise it started at to the end

:func:`canvas_net` gives the network at another canvas size (parameters shared);
:func:`texture_distance` measures how far images are from a reference texture
(log power spectrum and grey-level histogram of random crops).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import backend
from ..errors import ConfigError
from ..models.energy_net import EnergyNet
from ..samplers.base import Record
from ..samplers.langevin import LangevinSampler
from .chains import Progress, StepCounted

__all__ = ["BUILTIN_TEXTURE_PNG", "DEFAULT_STEPS", "PRESET_FUNCTIONS", "SynthesisResult", "canvas_net",
           "is_fully_convolutional", "receptive_field", "save_builtin_texture_png", "synthesize",
           "texture_distance"]

BUILTIN_TEXTURE_PNG = Path(__file__).resolve().parent.parent.parent / "resources" / "textures" / "builtin_texture.png"
DEFAULT_STEPS = 300  # from noise: far longer than the short persistent chains of training
# Layers that keep a network fully convolutional (their output size follows the input's).
_CONV_KINDS = {"conv2d", "avg_pool2d", "swish", "relu", "leaky_relu", "softplus", "elu"}


@dataclass
class SynthesisResult:
    """What :func:`synthesize` returns (host NumPy arrays).

    canvas: (n, C, H, W) the synthesised textures.
    frames: (K, C, H, W) chain 0 at ``frame_steps`` (the first is the starting noise).
    frame_steps: (K,) the Langevin step of each frame.
    energies: (K,) mean energy over the n canvases at ``frame_steps``.
    settings: the sampler settings used (n_steps, step_size, noise, clip_grad, clamp, init, seed).
    """

    canvas: np.ndarray
    frames: np.ndarray
    frame_steps: np.ndarray
    energies: np.ndarray
    settings: dict[str, Any]


def is_fully_convolutional(net: EnergyNet) -> bool:
    """True when ``net`` is convolutions/activations/pooling ending in one ``global_sum``."""
    kinds = [layer.kind for layer in net.layers]
    return len(net.input_shape) == 3 and kinds[-1] == "global_sum" and set(kinds[:-1]) <= _CONV_KINDS


def _size(size: int | Sequence[int]) -> tuple[int, int]:
    hw = (size, size) if isinstance(size, (int, np.integer)) and not isinstance(size, bool) else tuple(size)
    if len(hw) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in hw):
        raise ConfigError(f"size must be a positive integer or [height, width], got {size!r}")
    return int(hw[0]), int(hw[1])


def canvas_net(net: EnergyNet, size: int | Sequence[int]) -> EnergyNet:
    """The same network for (C, H, W) canvases of ``size`` (H, W) >= the training size.

    The returned net shares ``net``'s parameter and buffer arrays (no copy); it is
    ``net`` itself when the size is unchanged. ConfigError if the network is not fully
    convolutional or the canvas is smaller than its input.
    """
    if not isinstance(net, EnergyNet):
        raise ConfigError(f"texture synthesis needs a convolutional EnergyNet, got {type(net).__name__}")
    if not is_fully_convolutional(net):
        kinds = ", ".join(layer.kind for layer in net.layers)
        raise ConfigError(f"this model ({kinds}) is not fully convolutional: its energy is defined only for "
                          f"inputs of shape {net.input_shape}; a texture model has only convolution, pooling "
                          "and activation layers, then 'global_sum' (see resources/presets/texture_convnet.toml)")
    h, w = _size(size)
    c, h0, w0 = net.input_shape
    if h < h0 or w < w0:
        raise ConfigError(f"the canvas {h}x{w} is smaller than the model's {h0}x{w0} training crops; "
                          f"choose a size of at least {h0}x{w0}")
    if (h, w) == (h0, w0):
        return net
    big = EnergyNet({"input_shape": [c, h, w], "layers": net.config["layers"]}, seed=0, dtype=net.dtype,
                    xp=net.xp)
    for mine, theirs in zip(net.layers, big.layers):
        theirs.params, theirs.buffers = mine.params, mine.buffers
    return big


def receptive_field(net: EnergyNet) -> int:
    """Side in pixels of the input patch that one output position of ``net`` sees."""
    field, jump = 1, 1
    for layer in net.layers:
        if layer.kind in ("conv2d", "avg_pool2d"):
            field += (layer.config["kernel_size"] - 1) * jump
            jump *= layer.config["stride"] or layer.config["kernel_size"]
    return field


def _net_and_defaults(model: Any) -> tuple[EnergyNet, dict[str, Any]]:
    """The EnergyNet inside ``model`` (an EnergyNet or an OpenedModel) and its sampler defaults."""
    settings = {"step_size": 1.0, "noise": 0.01, "clip_grad": 0.03, "clamp": (-1.0, 1.0)}
    if hasattr(model, "sampler_settings") and hasattr(model, "model"):  # an OpenedModel
        found = model.sampler_settings()
        settings.update({k: found[k] for k in ("step_size", "noise", "clip_grad", "clamp")})
        model = model.model
    if not isinstance(model, EnergyNet):
        raise ConfigError(f"texture synthesis needs a fully convolutional energy network, got "
                          f"{type(model).__name__} (a classifier or analytic energy has no texture)")
    return model, settings


def synthesize(model: Any, size: int | Sequence[int] = 96, n: int = 1, n_steps: int = DEFAULT_STEPS,
               step_size: float | None = None, noise: float | None = None, clip_grad: float | None = None,
               init: str = "uniform", seed: int = 0, n_frames: int = 8, margin: int | None = None,
               progress: Progress | None = None) -> SynthesisResult:
    """Langevin chains on (n, C, H, W) canvases of noise under a fully convolutional energy.

    model: an EnergyNet ending in global_sum, or an OpenedModel of one (its training
        sampler gives the defaults of step_size, noise, clip_grad and the clamp range).
    size: the canvas, an int (square) or (H, W), at least the training crop size.
    n_steps: Langevin steps from the noise; init: "uniform" over the value range or
        "gaussian" (N(mid, (range/4)^2), clamped). n_frames: frames kept of chain 0.
    margin: pixels added on every side and cropped off at the end (None: one receptive
        field): pixels near a border lie in fewer patches, so they are less constrained.
    progress: called as progress(steps done, n_steps) along the run; an exception it raises
        (a user's stop) ends the run.
    """
    net, settings = _net_and_defaults(model)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"n (the number of canvases) must be a positive integer, got {n!r}")
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 2:
        raise ConfigError(f"n_frames must be an integer >= 2, got {n_frames!r}")
    if init not in ("uniform", "gaussian"):
        raise ConfigError(f"init must be 'uniform' or 'gaussian', got {init!r}")
    h, w = _size(size)
    canvas_net(net, (h, w))  # checks the model and the size before anything runs
    pad = receptive_field(net) if margin is None else int(margin)
    if pad < 0:
        raise ConfigError(f"margin must be >= 0 pixels, got {margin!r}")
    big = canvas_net(net, (h + 2 * pad, w + 2 * pad))
    for key, value in (("step_size", step_size), ("noise", noise), ("clip_grad", clip_grad)):
        if value is not None:
            settings[key] = value
    lo, hi = (float(v) for v in settings["clamp"])
    sampler = LangevinSampler(step_size=float(settings["step_size"]), noise=settings["noise"],
                              clip_grad=settings["clip_grad"] or None, clamp=(lo, hi), n_steps=int(n_steps))
    host = np.random.default_rng([int(seed), 0x7E5])
    shape = (int(n), *big.input_shape)
    if init == "uniform":
        x0 = host.uniform(lo, hi, shape)
    else:
        x0 = np.clip(host.normal((lo + hi) / 2.0, (hi - lo) / 4.0, shape), lo, hi)
    xp = big.xp
    x0 = xp.asarray(x0.astype(big.dtype))
    # the sampler also records the last step, so a rounded-down stride would give n_frames + 1 frames
    every = max(1, -(-int(n_steps) // (int(n_frames) - 1)))
    rng = np.random.default_rng([int(seed), 1]) if xp is np else backend.make_rng(int(seed))  # on x0's backend
    energy = big if progress is None else StepCounted(big, int(n_steps), progress)
    result = sampler.run(energy, x0, rng, record=Record(chain_ids=(0,), every=every))
    settings.update(n_steps=int(n_steps), clamp=(lo, hi), init=init, seed=int(seed), margin=pad)
    inner = (Ellipsis, slice(pad, pad + h), slice(pad, pad + w))
    return SynthesisResult(canvas=np.asarray(backend.to_numpy(result.x)[inner], dtype=np.float32),
                           frames=np.asarray(result.chain_states[:, 0][inner], dtype=np.float32),
                           frame_steps=np.asarray(result.recorded_steps), energies=np.asarray(result.energies_per_step),
                           settings=settings)


# --- how texture-like is an image ---------------------------------------------------------------


def _crops(x: np.ndarray, crop: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """count random crop x crop windows of images x: (N, C, H, W) -> (count, C, crop, crop)."""
    n, _, h, w = x.shape
    if h < crop or w < crop:
        raise ConfigError(f"images of {h}x{w} are smaller than the {crop}x{crop} crops of the comparison")
    k = rng.integers(0, n, count)
    ys = rng.integers(0, h - crop + 1, count)
    xs = rng.integers(0, w - crop + 1, count)
    return np.stack([x[i, :, r:r + crop, c:c + crop] for i, r, c in zip(k, ys, xs)])


def _log_spectrum(crops: np.ndarray) -> np.ndarray:
    """Mean power spectrum of crops (count, C, s, s), log10, without the mean (DC) term."""
    f = np.fft.fft2(crops - crops.mean(axis=(2, 3), keepdims=True))
    power = (np.abs(f) ** 2).mean(axis=0)  # (C, s, s)
    return np.log10(power.reshape(-1) + 1e-8)[1:]  # the DC bin is 0 after removing the mean


def texture_distance(x: Any, reference: Any, crop: int = 32, count: int = 256, bins: int = 32,
                     value_range: tuple[float, float] = (-1.0, 1.0), seed: int = 0) -> dict[str, float]:
    """How far images x: (N, C, H, W) are from a reference texture (M, C, H', W'), on random crops.

    Returns {"spectrum": RMS difference of the crops' mean log10 power spectra (per
    frequency, channels together), "histogram": total variation (0 to 1) between the
    grey-level histograms (``bins`` bins over ``value_range``)}. Lower is closer; both are
    0 for identical statistics.
    """
    a = np.asarray(backend.to_numpy(x), dtype=np.float64)
    b = np.asarray(backend.to_numpy(reference), dtype=np.float64)
    if b.ndim == 3:
        b = b[None]
    if a.ndim != 4 or b.ndim != 4 or a.shape[1] != b.shape[1]:
        raise ConfigError(f"texture_distance needs images (N, C, H, W) with the same channels, got "
                          f"{a.shape} and {b.shape}")
    rng = np.random.default_rng(seed)
    ca, cb = _crops(a, crop, count, rng), _crops(b, crop, count, rng)
    spectrum = float(np.sqrt(np.mean((_log_spectrum(ca) - _log_spectrum(cb)) ** 2)))
    edges = np.linspace(value_range[0], value_range[1], bins + 1)
    ha = np.histogram(np.clip(ca, *value_range), edges)[0] / ca.size
    hb = np.histogram(np.clip(cb, *value_range), edges)[0] / cb.size
    return {"spectrum": spectrum, "histogram": float(0.5 * np.abs(ha - hb).sum())}


def save_builtin_texture_png(path: str | Path = BUILTIN_TEXTURE_PNG) -> Path:
    """Write the built-in texture (engine.data.builtin_texture) as a grey PNG; returns the path."""
    from ..data.builtin_texture import texture_image  # noqa: PLC0415
    from ..export import save_image_grid  # noqa: PLC0415

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return save_image_grid(texture_image()[None], path, pad=0)


# The application presets' entry point (engine.applications.preset): kind "texture".
PRESET_FUNCTIONS = {"texture": synthesize}
