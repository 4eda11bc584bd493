"""Architectures of the benchmark workloads (shared/DESIGN.md) and small defaults."""

from __future__ import annotations

from typing import Any


def conv(cin: int, cout: int, k: int, s: int = 1, p: int = 0) -> dict[str, Any]:
    return {"type": "conv2d", "in_channels": cin, "out_channels": cout, "kernel_size": k,
            "stride": s, "padding": p}


def linear(fin: int, fout: int) -> dict[str, Any]:
    return {"type": "linear", "in_features": fin, "out_features": fout}


SWISH = {"type": "swish"}
LRELU = {"type": "leaky_relu", "slope": 0.2}


def mlp_2d(width: int = 128, depth: int = 3) -> dict[str, Any]:
    """W0 at the defaults: 2 -> width (x depth, Swish) -> 1."""
    layers: list[dict[str, Any]] = [linear(2, width), SWISH]
    for _ in range(depth - 1):
        layers += [linear(width, width), SWISH]
    layers.append(linear(width, 1))
    return {"input_shape": [2], "layers": layers}


def mnist_cnn() -> dict[str, Any]:
    """W1: the CNN of the well-known MNIST EBM tutorial."""
    return {"input_shape": [1, 28, 28], "layers": [
        conv(1, 16, 5, 2, 4), SWISH, conv(16, 32, 3, 2, 1), SWISH, conv(32, 64, 3, 2, 1), SWISH,
        conv(64, 64, 3, 2, 1), SWISH, {"type": "flatten"}, linear(256, 64), SWISH, linear(64, 1)]}


def short_run_convnet() -> dict[str, Any]:
    """W2: the ConvNet of the short-run MCMC EBM papers, for 3x32x32 images."""
    return {"input_shape": [3, 32, 32], "layers": [
        conv(3, 64, 3, 1, 1), LRELU, conv(64, 128, 4, 2, 1), LRELU, conv(128, 256, 4, 2, 1), LRELU,
        conv(256, 512, 4, 2, 1), LRELU, conv(512, 1, 4, 1, 0)]}


def convnet_small() -> dict[str, Any]:
    """A small fully convolutional energy for 1x28x28 images (about 24k parameters, a third of W1).

    28 -> 14 -> 7 -> 4 by stride-2 3x3 convs (16, 32, 64 channels, Swish), then a 4x4 conv to one energy.
    """
    return {"input_shape": [1, 28, 28], "layers": [
        conv(1, 16, 3, 2, 1), SWISH, conv(16, 32, 3, 2, 1), SWISH, conv(32, 64, 3, 2, 1), SWISH,
        conv(64, 1, 4, 1, 0)]}


def jem_digits(num_classes: int = 10) -> dict[str, Any]:
    """A small JEM classifier for 1x28x28 digits: conv stack, flatten, linear to num_classes logits.

    28 (3x3, 16) -> 14 (4x4 s2, 32) -> 7 (4x4 s2, 64) -> 4 (3x3 s2, 64), Swish after each
    (smooth, so Langevin gets useful input gradients), then 1024 -> 128 -> num_classes.
    About 210k parameters; use with engine.models.jem.JEM.
    """
    return {"input_shape": [1, 28, 28], "layers": [
        conv(1, 16, 3, 1, 1), SWISH, conv(16, 32, 4, 2, 1), SWISH, conv(32, 64, 4, 2, 1), SWISH,
        conv(64, 64, 3, 2, 1), SWISH, {"type": "flatten"}, linear(64 * 4 * 4, 128), SWISH,
        linear(128, num_classes)]}


def texture_convnet() -> dict[str, Any]:
    """A fully convolutional energy for 1x32x32 texture crops whose energy is a sum over positions
    (global_sum), so it also scores, and synthesises, any larger canvas. Receptive field 24 px;
    no padding, so every position sees real pixels. (resources/presets/texture_convnet.toml)"""
    return {"input_shape": [1, 32, 32], "layers": [
        conv(1, 32, 4, 2, 0), SWISH, conv(32, 64, 3, 2, 0), SWISH, conv(64, 64, 3, 1, 0), SWISH,
        conv(64, 64, 3, 1, 0), SWISH, conv(64, 1, 1, 1, 0), {"type": "global_sum"}]}


PRESETS = {"mlp_2d": mlp_2d, "mnist_cnn": mnist_cnn, "short_run_convnet": short_run_convnet,
           "convnet_small": convnet_small, "jem_digits": jem_digits, "texture_convnet": texture_convnet,
           # the benchmark workloads of shared/DESIGN.md under their short names
           "W0": mlp_2d, "W1": mnist_cnn, "W2": short_run_convnet}
