"""Datasets: 2D toy densities, image loaders, the built-in image sets.

Everything returns NumPy: samples float32 (images (N, C, H, W) in [-1, 1]), labels
int64. Bad files raise :class:`engine.errors.DataError`, bad settings ConfigError.

- :mod:`.toy2d`: ``TOY_DATASETS`` name -> ToyDataset (``sample(n, rng)``, exact ``log_prob``)
- :mod:`.points`: ``load_points(path)`` for the user's 2D CSV/.npy points
- :mod:`.images`: IDX (MNIST family), CIFAR-10/100, image folders, texture crops, .npy/.npz
- :mod:`.builtin`: ``make_digits`` (1x28x28) and ``make_shapes`` (3x32x32), no download
- :mod:`.dataset`: the ``Dataset`` container and ``load_dataset(spec) -> (train, val)``

Pillow is imported only when image files are read.
"""

from .builtin import make_digits, make_shapes
from .dataset import DATASET_NAMES, FORMATS, Dataset, load_dataset
from .images import (
    LoadedImages,
    load_cifar,
    load_idx,
    load_image_array,
    load_image_folder,
    load_texture_crops,
)
from .points import load_points
from .toy2d import TOY_DATASETS, ToyDataset

__all__ = [
    "DATASET_NAMES",
    "FORMATS",
    "TOY_DATASETS",
    "Dataset",
    "LoadedImages",
    "ToyDataset",
    "load_cifar",
    "load_dataset",
    "load_idx",
    "load_image_array",
    "load_image_folder",
    "load_points",
    "load_texture_crops",
    "make_digits",
    "make_shapes",
]
