"""The Dataset container, train/validation splits, minibatches, and ``load_dataset(spec)``.

A spec is a plain dict (it comes from a TOML config or the GUI), one of:

- ``{"name": "8gaussians", "n": 10000}``: a 2D toy density (see ``toy2d.TOY_DATASETS``);
- ``{"name": "builtin_digits"}`` / ``{"name": "builtin_shapes"}``: generated image sets;
- ``{"name": "builtin_texture", "size": 32}``: random crops of a generated texture (``n`` 2000);
- ``{"path": "...", "format": "idx|cifar|folder|texture|npy|csv"}``: the user's files.

Common keys: ``seed`` (0), ``val_fraction`` (0.1; 1/7 for builtin_digits so its
default 7000 images split 6000 / 1000), ``n`` (toys: total points, 10000; built-ins:
total images; files: at most this many, a seeded random subset).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from . import builtin, images, points, toy2d

__all__ = ["DATASET_NAMES", "FORMATS", "Dataset", "load_dataset"]

FORMATS = ("idx", "cifar", "folder", "texture", "npy", "csv")
DATASET_NAMES = (*toy2d.TOY_DATASETS, *builtin.GENERATORS)


@dataclass
class Dataset:
    """Samples x: (N, *input_shape) float32; labels y: (N,) int64 or None.

    ``value_range`` is the box the data lives in and samplers may clamp to: (-1, 1) for
    images; for 2D points the recommended plotting box's range (toys) or the data's own
    range padded by 10% (user points). ``meta`` holds extras: for toys ``box``,
    ``description`` and ``log_prob`` (a callable or None).
    """

    x: np.ndarray
    y: np.ndarray | None
    name: str
    value_range: tuple[float, float]
    class_names: tuple[str, ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.x.dtype != np.float32:
            raise TypeError(f"x must be float32, got {self.x.dtype}")
        if self.y is not None and (self.y.dtype != np.int64 or self.y.shape != (len(self.x),)):
            raise TypeError(f"y must be int64 of shape ({len(self.x)},), got "
                            f"{self.y.dtype} {self.y.shape}")

    def __len__(self) -> int:
        return len(self.x)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample: (2,) for points, (C, H, W) for images."""
        return tuple(self.x.shape[1:])

    @property
    def is_image(self) -> bool:
        return self.x.ndim == 4

    @property
    def num_classes(self) -> int | None:
        """Number of classes (from class_names, else max label + 1), None without labels."""
        if self.y is None:
            return None
        if self.class_names is not None:
            return len(self.class_names)
        return int(self.y.max()) + 1 if len(self.y) else 0

    def subset(self, index: np.ndarray, name: str | None = None) -> Dataset:
        """The samples at ``index`` (copies), same metadata."""
        index = np.asarray(index)
        return Dataset(self.x[index], None if self.y is None else self.y[index],
                       name or self.name, self.value_range, self.class_names, dict(self.meta))

    def split(self, val_fraction: float, seed: int | np.random.Generator | None = 0
              ) -> tuple[Dataset, Dataset]:
        """(train, val): a seeded random split, stratified by label when there are labels
        (each class keeps its share, at least one sample per side for classes of 2+)."""
        f = float(val_fraction)
        if not 0.0 <= f < 1.0:
            raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}.")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        n = len(self)
        if self.y is None:
            perm = rng.permutation(n)
            k = round(f * n)
            val_idx, train_idx = perm[:k], perm[k:]
        else:
            val_parts, train_parts = [], []
            for c in np.unique(self.y):
                idx = rng.permutation(np.flatnonzero(self.y == c))
                k = round(f * idx.size)
                if f > 0 and idx.size >= 2:
                    k = min(max(k, 1), idx.size - 1)
                val_parts.append(idx[:k])
                train_parts.append(idx[k:])
            val_idx = rng.permutation(np.concatenate(val_parts))
            train_idx = rng.permutation(np.concatenate(train_parts))
        if len(train_idx) == 0:
            raise DataError(f"{self.name}: {n} samples are too few to split off a validation set.")
        return self.subset(train_idx, self.name), self.subset(val_idx, f"{self.name} (val)")

    def batches(self, rng: np.random.Generator | int | None, batch_size: int,
                n_batches: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Random minibatches (x: (B, *input_shape), y: (B,) or None), endlessly or
        ``n_batches`` of them: each epoch is a fresh permutation, and a batch that would
        straddle two epochs is completed from the next one (every batch has B samples)."""
        b = int(batch_size)
        n = len(self)
        if b < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}.")
        if b > n:
            raise ConfigError(f"batch_size {b} is larger than the dataset {self.name!r} "
                              f"({n} samples); use a smaller batch or more data.")
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        perm = rng.permutation(n)
        pos = 0
        count = 0
        while n_batches is None or count < n_batches:
            if pos + b <= n:
                idx = perm[pos:pos + b]
                pos += b
            else:
                head = perm[pos:]
                perm = rng.permutation(n)
                pos = b - head.size
                idx = np.concatenate([head, perm[:pos]])
            yield self.x[idx], (None if self.y is None else self.y[idx])
            count += 1


# --- load_dataset ------------------------------------------------------------------------------

_COMMON_KEYS = {"seed", "val_fraction", "n"}
_FORMAT_KEYS: dict[str, set[str]] = {
    "idx": {"labels", "split", "transpose"},
    "cifar": {"split", "label", "variant"},
    "folder": {"size", "mode"},
    "texture": {"size", "mode", "scale"},
    "npy": {"labels", "layout", "value_range"},
    "csv": {"columns"},
}
_SUFFIX_FORMAT = {".npy": "npy", ".npz": "npy", ".csv": "csv", ".txt": "csv", ".tsv": "csv",
                  ".dat": "csv", ".gz": "idx", ".bin": "cifar", ".png": "texture",
                  ".jpg": "texture", ".jpeg": "texture"}


def _check_keys(spec: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ConfigError(f"Unknown setting(s) {', '.join(map(repr, unknown))} for {what}; "
                          f"allowed: {', '.join(sorted(allowed))}.")


def _int(spec: Mapping[str, Any], key: str, default: int | None, lo: int = 1) -> int | None:
    v = spec.get(key, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) < lo:
        raise ConfigError(f"{key!r} must be an integer >= {lo}, got {v!r}.")
    return int(v)


def _points_range(x: np.ndarray) -> tuple[float, float]:
    lo, hi = float(x.min()), float(x.max())
    pad = 0.1 * max(hi - lo, 1e-6)
    return lo - pad, hi + pad


def load_dataset(spec: Mapping[str, Any]) -> tuple[Dataset, Dataset]:
    """(train, val) Datasets for a spec dict (see the module docstring).

    Unknown names, formats or settings raise ConfigError listing what is allowed;
    bad files raise DataError.
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(f"A dataset spec must be a table/dict, got {type(spec).__name__}.")
    if ("name" in spec) == ("path" in spec):
        raise ConfigError("A dataset spec needs exactly one of 'name' (one of "
                          f"{', '.join(DATASET_NAMES)}) or 'path' (with 'format', one of "
                          f"{', '.join(FORMATS)}).")
    seed = _int(spec, "seed", 0, lo=0)
    val_fraction = spec.get("val_fraction")
    if "name" in spec:
        ds, default_val = _load_named(spec, seed)
    else:
        ds, default_val = _load_path(spec, seed), 0.1
    if val_fraction is None:
        val_fraction = default_val
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)):
        raise ConfigError(f"'val_fraction' must be a number in [0, 1), got {val_fraction!r}.")
    return ds.split(float(val_fraction), np.random.default_rng([seed, 1]))


def _load_named(spec: Mapping[str, Any], seed: int) -> tuple[Dataset, float]:
    name = spec["name"]
    if name in toy2d.TOY_DATASETS:
        _check_keys(spec, _COMMON_KEYS | {"name"}, f"toy dataset {name!r}")
        toy = toy2d.TOY_DATASETS[name]
        n = _int(spec, "n", 10000, lo=2)
        x = toy.sample(n, np.random.default_rng([seed, 0]))
        lo, hi = min(toy.box[0], toy.box[2]), max(toy.box[1], toy.box[3])
        meta = {"box": toy.box, "description": toy.description, "log_prob": toy.log_prob}
        return Dataset(x, None, name, (lo, hi), meta=meta), 0.1
    if name == "builtin_texture":
        _check_keys(spec, _COMMON_KEYS | {"name", "size"}, f"built-in dataset {name!r}")
        x, _ = builtin.GENERATORS[name](_int(spec, "n", 2000, lo=2), seed, _int(spec, "size", 32))
        return Dataset(x, None, name, (-1.0, 1.0)), 0.1
    if name in builtin.GENERATORS:
        _check_keys(spec, _COMMON_KEYS | {"name"}, f"built-in dataset {name!r}")
        digits = name == "builtin_digits"
        n = _int(spec, "n", 7000 if digits else 6000, lo=2)
        x, y = builtin.GENERATORS[name](n, seed)
        classes = builtin.DIGIT_CLASSES if digits else builtin.SHAPE_CLASSES
        return Dataset(x, y, name, (-1.0, 1.0), classes), (1.0 / 7.0 if digits else 0.1)
    raise ConfigError(f"Unknown dataset name {name!r}; allowed: {', '.join(DATASET_NAMES)} "
                      "(or give 'path' and 'format' for your own files).")


def _load_path(spec: Mapping[str, Any], seed: int) -> Dataset:
    path = Path(str(spec["path"])).expanduser()
    fmt = spec.get("format")
    if fmt is None:
        fmt = "folder" if path.is_dir() else _SUFFIX_FORMAT.get(path.suffix.lower())
        if fmt is None:
            raise ConfigError(f"Cannot tell the format of {path}; set 'format' to one of "
                              f"{', '.join(FORMATS)}.")
    if fmt not in _FORMAT_KEYS:
        raise ConfigError(f"Unknown dataset format {fmt!r}; allowed: {', '.join(FORMATS)}.")
    _check_keys(spec, _COMMON_KEYS | {"path", "format"} | _FORMAT_KEYS[fmt], f"format {fmt!r}")
    name = path.name or str(path)
    n = _int(spec, "n", None)
    rng = np.random.default_rng([seed, 2])
    if fmt == "csv" or (fmt == "npy" and _is_points_file(path)):
        x = points.load_points(path, spec.get("columns"))
        ds = Dataset(x, None, name, _points_range(x))
    else:
        loaded = _load_images(path, fmt, spec, n, rng)
        ds = Dataset(loaded.x, loaded.y, name, (-1.0, 1.0), loaded.class_names)
    if n is not None and n < len(ds) and fmt != "texture":
        ds = ds.subset(np.sort(rng.choice(len(ds), size=n, replace=False)))
    return ds


def _is_points_file(path: Path) -> bool:
    """A .npy whose header says (N, 2) holds points, not images."""
    if path.suffix.lower() != ".npy" or not path.is_file():
        return False
    from ._files import npy_header

    try:
        with open(path, "rb") as fp:
            shape = npy_header(fp, path)[0]
    except (OSError, DataError):
        return False
    return len(shape) == 2


def _load_images(path: Path, fmt: str, spec: Mapping[str, Any], n: int | None,
                 rng: np.random.Generator) -> images.LoadedImages:
    if fmt == "idx":
        labels = spec.get("labels")
        img_path = path
        if path.is_dir():
            img_path, found = images.find_idx_files(path, spec.get("split", "train"))
            labels = labels if labels is not None else found
        return images.load_idx(img_path, labels, transpose=bool(spec.get("transpose", False)))
    if fmt == "cifar":
        return images.load_cifar(path, split=spec.get("split", "train"),
                                 label=spec.get("label", "fine"), variant=spec.get("variant"))
    mode = spec.get("mode", "rgb")
    if mode not in ("gray", "rgb"):
        raise ConfigError(f"'mode' must be 'gray' or 'rgb', got {mode!r}.")
    if fmt == "folder":
        return images.load_image_folder(path, _int(spec, "size", 32), mode=mode)
    if fmt == "texture":
        scale = spec.get("scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
            raise ConfigError(f"'scale' must be a positive number, got {scale!r}.")
        return images.load_texture_crops(path, n or 2000, _int(spec, "size", 32), rng,
                                         mode=mode, scale=float(scale))
    vr = spec.get("value_range")
    layout = spec.get("layout", "auto")
    if layout not in ("auto", "nchw", "nhwc"):
        raise ConfigError(f"'layout' must be 'auto', 'nchw' or 'nhwc', got {layout!r}.")
    return images.load_image_array(path, spec.get("labels"), layout=layout,
                                   value_range=None if vr is None else (float(vr[0]), float(vr[1])))
