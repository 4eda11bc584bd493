"""Image loaders: IDX (MNIST family), CIFAR-10/100 (binary and python), image folders,
texture crops, .npy/.npz arrays.

Every loader returns :class:`LoadedImages` ``(x, y, class_names)`` with x: (N, C, H, W)
float32 in [-1, 1], y: (N,) int64 or None. A file that is not what it claims to be,
is truncated or has the wrong shape raises DataError naming the file and the problem.
Sizes read from a header are checked against the real file size before anything is
allocated from them; pickles are read with an unpickler that admits only the few
NumPy globals needed to rebuild an array, so a file cannot run code.
"""

from __future__ import annotations

import gzip
import io
import pickle
import re
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..errors import DataError
from ._files import (
    PathLike,
    check_finite,
    check_fits_in_memory,
    existing_dir,
    existing_file,
    fail,
    load_npy,
    load_npz,
    read_bytes,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "LoadedImages",
    "find_idx_files",
    "load_cifar",
    "load_cifar_binary",
    "load_cifar_pickle",
    "load_idx",
    "load_image_array",
    "load_image_folder",
    "load_texture_crops",
    "read_idx",
    "restricted_pickle_load",
    "to_unit_range",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_GZIP_MAX_RATIO = 1100  # deflate cannot expand more than ~1032:1
_CHUNK = 1 << 20


class LoadedImages(NamedTuple):
    """x: (N, C, H, W) float32 in [-1, 1]; y: (N,) int64 or None; class_names or None."""

    x: np.ndarray
    y: np.ndarray | None
    class_names: tuple[str, ...] | None = None


def to_unit_range(u8: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1], same shape."""
    out = u8.astype(np.float32)
    out *= 2.0 / 255.0
    out -= 1.0
    return out


# --- IDX (MNIST, Fashion-MNIST, EMNIST) ---------------------------------------------------------

_IDX_TYPES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16", 0x0C: "int32",
              0x0D: "float32", 0x0E: "float64"}
_IDX_MAGIC = {"images": 0x00000803, "labels": 0x00000801}


def _open_maybe_gzip(p: Path) -> tuple[Any, bool]:
    with open(p, "rb") as f:
        is_gz = f.read(2) == b"\x1f\x8b"
    return (gzip.open(p, "rb") if is_gz else open(p, "rb")), is_gz


def _gzip_isize(p: Path) -> int | None:
    """The uncompressed size mod 2**32 from a gzip file's trailer (its last 4 bytes)."""
    with open(p, "rb") as f:
        f.seek(0, 2)
        if f.tell() < 18:  # 10-byte header + 8-byte trailer
            return None
        f.seek(-4, 2)
        return struct.unpack("<I", f.read(4))[0]


def _read_exact(f: Any, n: int) -> bytearray:
    """Up to n bytes, read in bounded chunks (never one allocation of n up front)."""
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(min(_CHUNK, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf


def read_idx(path: PathLike, kind: str) -> np.ndarray:
    """The uint8 array of an IDX file; ``kind`` "images" ((N, H, W), magic 0x00000803) or
    "labels" ((N,), magic 0x00000801). Plain or gzip-compressed."""
    if kind not in _IDX_MAGIC:
        raise ValueError(f"kind must be 'images' or 'labels', got {kind!r}")
    p = existing_file(path)
    size = p.stat().st_size
    want = _IDX_MAGIC[kind]
    try:
        f, is_gz = _open_maybe_gzip(p)
        with f:
            head = _read_exact(f, 4)
            if len(head) < 4:
                raise fail(p, f"is too short to be an IDX {kind} file ({len(head)} bytes).")
            magic = struct.unpack(">I", head)[0]
            if head[:2] != b"\0\0" or head[2] not in _IDX_TYPES or head[3] == 0:
                raise fail(p, f"is not an IDX file (magic number 0x{magic:08X}, expected "
                              f"0x{want:08X} for {kind}).")
            if magic != want:
                other = next((k for k, v in _IDX_MAGIC.items() if v == magic), None)
                what = (f"an IDX {other} file" if other else
                        f"an IDX file of {_IDX_TYPES[head[2]]} with {head[3]} dimensions")
                raise fail(p, f"is {what} (magic 0x{magic:08X}); expected {kind} "
                              f"(magic 0x{want:08X}).")
            ndim = head[3]
            raw_dims = _read_exact(f, 4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise fail(p, "is truncated inside its header.")
            dims = struct.unpack(f">{ndim}I", raw_dims)
            if any(d == 0 for d in dims):
                raise fail(p, f"is empty: its dimensions are {dims}.")
            count = 1
            for d in dims:
                count *= d
            header = 4 + 4 * ndim
            if not is_gz:
                if size - header < count:
                    raise fail(p, f"is truncated: its header promises {' x '.join(map(str, dims))} "
                                  f"= {count} bytes of data but the file holds {size - header}.")
                if size - header > count:
                    raise fail(p, f"has {size - header - count} bytes more than its header "
                                  f"({' x '.join(map(str, dims))}) describes; it is damaged.")
            else:
                if count > _GZIP_MAX_RATIO * size:
                    raise fail(p, f"claims {count} bytes of data, more than a {size}-byte gzip file "
                                  "can hold; it is damaged.")
                # a gzip bomb with a small IDX header inflates to far more than the header says:
                # the trailer records the true size, so refuse before inflating anything
                isize = _gzip_isize(p)
                if isize is not None and isize != (header + count) % (1 << 32):
                    what = "is truncated" if isize < header + count else "holds more data than its header describes"
                    raise fail(p, f"{what}: it inflates to {isize} bytes (its gzip trailer) but its IDX header "
                                  f"({' x '.join(map(str, dims))}) describes {header + count}; it is damaged.")
            # the bytes, and (images) their float32 copy
            check_fits_in_memory(p, count * (5 if kind == "images" else 1), f"its {' x '.join(map(str, dims))} data")
            data = _read_exact(f, count)
            if len(data) < count:
                raise fail(p, f"is truncated: its header promises {' x '.join(map(str, dims))} "
                              f"= {count} bytes of data but it holds {len(data)}.")
            if is_gz and f.read(1):
                raise fail(p, f"holds more data than its header ({' x '.join(map(str, dims))}) "
                              "describes; it is damaged.")
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise fail(p, f"is a damaged or truncated gzip file ({exc}).") from exc
    except OSError as exc:
        raise fail(p, f"cannot be read ({exc.strerror or exc}).") from exc
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def load_idx(images: PathLike, labels: PathLike | None = None, *,
             transpose: bool = False) -> LoadedImages:
    """MNIST-format images (and labels): x (N, 1, H, W) float32 in [-1, 1], y (N,) int64.

    ``transpose=True`` swaps H and W, for EMNIST, whose images are stored transposed.
    """
    arr = read_idx(images, "images")
    if transpose:
        arr = arr.transpose(0, 2, 1)
    y = None
    if labels is not None:
        lab = read_idx(labels, "labels")
        if len(lab) != len(arr):
            raise fail(labels, f"holds {len(lab)} labels but {images} holds {len(arr)} images; "
                               "pick the matching pair of files.")
        y = lab.astype(np.int64)
    return LoadedImages(to_unit_range(np.ascontiguousarray(arr)[:, None]), y)


def find_idx_files(folder: PathLike, split: str = "train") -> tuple[Path, Path | None]:
    """(images, labels or None) of a split in an MNIST-style folder: names like
    ``train-images-idx3-ubyte[.gz]`` / ``t10k-labels-idx1-ubyte`` (EMNIST's
    ``emnist-digits-train-images-idx3-ubyte`` too)."""
    d = existing_dir(folder)
    tags = {"train": ("train",), "test": ("t10k", "test")}.get(split)
    if tags is None:
        raise fail(d, f"unknown split {split!r}; use 'train' or 'test'.")
    files = sorted(x for x in d.iterdir() if x.is_file())

    def pick(kind_tags: tuple[str, ...]) -> list[Path]:
        return [x for x in files if any(t in x.name.lower() for t in tags)
                and any(k in x.name.lower() for k in kind_tags)]

    imgs, labs = pick(("images", "idx3")), pick(("labels", "idx1"))
    if not imgs:
        raise fail(d, f"holds no IDX {split} images file (a name with '{tags[0]}' and 'images').")
    if len(imgs) > 1 or len(labs) > 1:
        names = ", ".join(x.name for x in imgs + labs)
        raise fail(d, f"holds several candidate {split} files ({names}); pass the files directly.")
    return imgs[0], (labs[0] if labs else None)


# --- restricted unpickling ---------------------------------------------------------------------

class _Refused(pickle.UnpicklingError):
    """A pickle asked for something a data file must not contain."""


_reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's own _reconstruct, whatever version


def _safe_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not np.ndarray:
        raise _Refused("only plain numpy arrays may be rebuilt")
    # NumPy pickles an array as an empty shell (shape (0,)) filled by __setstate__ from the
    # pickled bytes; any other shape would allocate memory the file only declares
    if shape != (0,) or not isinstance(dtype, (bytes, str)):
        raise _Refused(f"an array shell of shape {shape!r} is not what NumPy pickles")
    return _reconstruct(subtype, shape, dtype)


def _safe_dtype(*args: Any) -> np.dtype:
    dt = np.dtype(*args)
    if dt.hasobject:
        raise _Refused("object arrays are refused")
    return dt


def _safe_frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt.hasobject:
        raise _Refused("object arrays are refused")
    return np.frombuffer(buf, dtype=dt).reshape(shape, order=order)


def _latin1_encode(obj: Any, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as Python 3 protocol-2 pickles use it for bytes: latin-1 of a str only."""
    if not isinstance(obj, str) or encoding.replace("_", "-").lower() not in ("latin1", "latin-1"):
        raise _Refused("_codecs.encode is admitted only for latin-1 strings")
    return obj.encode("latin-1")


_PICKLE_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _safe_dtype,
    # protocol 5 pickles of arrays (pickle.HIGHEST_PROTOCOL) rebuild them with _frombuffer
    ("numpy.core.numeric", "_frombuffer"): _safe_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _safe_frombuffer,
    # Python 3 protocol-2 pickles spell bytes as _codecs.encode(str, "latin1")
    ("_codecs", "encode"): _latin1_encode,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Admits only the globals that rebuild NumPy arrays; everything else is refused."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _PICKLE_ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(
                f"refused to load global {module}.{name}: only numpy arrays, dicts, lists, "
                "numbers, strings and bytes may appear in a data pickle") from None


def restricted_pickle_load(path: PathLike) -> Any:
    """Unpickle a data file without letting it run code (dict/list/bytes/str/numbers and
    numeric numpy arrays only). Raises DataError otherwise."""
    p = existing_file(path)
    raw = read_bytes(p)
    try:
        return _RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except _Refused as exc:
        raise fail(p, f"is not a safe data pickle: {exc}.") from exc
    except Exception as exc:
        raise fail(p, f"is not a readable pickle ({type(exc).__name__}: {exc}).") from exc


# --- CIFAR-10 / CIFAR-100 ----------------------------------------------------------------------

_CIFAR_PIXELS = 3 * 32 * 32


def load_cifar_binary(path: PathLike, *, variant: str | None = None,
                      label: str = "fine") -> LoadedImages:
    """A CIFAR binary batch: records of 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine) label
    bytes + 3072 pixel bytes (R, G, B planes of 32 x 32). x (N, 3, 32, 32), y (N,).

    ``variant`` "cifar10" / "cifar100" / None (from the file size); ``label`` "fine" or
    "coarse" for CIFAR-100.
    """
    p = existing_file(path)
    size = p.stat().st_size
    if size == 0:
        raise fail(p, "is empty.")
    if variant is None:
        fits = [v for v, n in (("cifar10", 1), ("cifar100", 2)) if size % (n + _CIFAR_PIXELS) == 0]
        if not fits:
            raise fail(p, f"is {size} bytes, not a whole number of CIFAR-10 (3073-byte) or "
                          "CIFAR-100 (3074-byte) records: truncated or not a CIFAR binary batch.")
        if len(fits) == 2:
            raise fail(p, "could be CIFAR-10 or CIFAR-100 by its size; say which (variant=...).")
        variant = fits[0]
    nlab = {"cifar10": 1, "cifar100": 2}.get(variant)
    if nlab is None:
        raise fail(p, f"unknown CIFAR variant {variant!r}; use 'cifar10' or 'cifar100'.")
    rec = nlab + _CIFAR_PIXELS
    if size % rec:
        raise fail(p, f"is {size} bytes, not a whole number of {rec}-byte {variant} records: "
                      "truncated or not a CIFAR binary batch.")
    data = np.frombuffer(read_bytes(p), dtype=np.uint8).reshape(-1, rec)
    if nlab == 1:
        y = data[:, 0].astype(np.int64)
        limit = 10
    else:
        if label not in ("fine", "coarse"):
            raise fail(p, f"label must be 'fine' or 'coarse', not {label!r}.")
        y = data[:, 1 if label == "fine" else 0].astype(np.int64)
        limit = 100 if label == "fine" else 20
    if y.max() >= limit:
        raise fail(p, f"holds label {int(y.max())} but {variant} ({label if nlab == 2 else ''} "
                      f"labels) has {limit} classes: not a {variant} binary batch.")
    x = data[:, nlab:].reshape(-1, 3, 32, 32)
    return LoadedImages(to_unit_range(x), y)


def _norm_keys(obj: dict) -> dict:
    return {(k.decode("latin-1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def load_cifar_pickle(path: PathLike, *, label: str = "fine") -> LoadedImages:
    """A CIFAR python batch (a pickled dict with ``data`` (N, 3072) uint8 and ``labels``,
    or ``fine_labels``/``coarse_labels`` for CIFAR-100), read without running code."""
    p = existing_file(path)
    obj = restricted_pickle_load(p)
    if not isinstance(obj, dict):
        raise fail(p, f"holds a {type(obj).__name__}, not a CIFAR batch (a dict with 'data').")
    d = _norm_keys(obj)
    if "data" not in d:
        raise fail(p, f"has no 'data' entry (keys: {sorted(map(str, d))}); not a CIFAR batch.")
    data = d["data"]
    if isinstance(data, (bytes, bytearray)):
        data = np.frombuffer(data, dtype=np.uint8)
    try:
        data = np.asarray(data)
    except (ValueError, TypeError, OverflowError) as exc:  # a ragged or mixed list
        raise fail(p, f"'data' is not an array of pixels ({exc}).") from exc
    if data.dtype.kind not in "iu" or data.size == 0:
        raise fail(p, f"'data' holds {data.dtype} values; CIFAR pixels are bytes 0..255.")
    if data.size % _CIFAR_PIXELS:
        raise fail(p, f"'data' has {data.size} values, not a multiple of 3072 (3 x 32 x 32).")
    if data.min() < 0 or data.max() > 255:
        raise fail(p, "'data' holds values outside 0..255.")
    x = data.astype(np.uint8).reshape(-1, 3, 32, 32)
    if "labels" in d:
        key, limit = "labels", 10
    elif f"{label}_labels" in d:
        key, limit = f"{label}_labels", (100 if label == "fine" else 20)
    else:
        raise fail(p, f"has no labels ('labels' or '{label}_labels'); keys: {sorted(map(str, d))}.")
    try:
        y = np.asarray(d[key])
    except Exception as exc:
        raise fail(p, f"'{key}' is not a list of integers ({exc}).") from exc
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise fail(p, f"'{key}' must be a list of integers, got {y.dtype} of shape {y.shape}.")
    if len(y) != len(x):
        raise fail(p, f"holds {len(x)} images but {len(y)} labels.")
    if y.min() < 0 or y.max() >= limit:
        raise fail(p, f"'{key}' holds labels outside 0..{limit - 1}.")
    return LoadedImages(to_unit_range(x), y.astype(np.int64))


def _looks_like_pickle(p: Path) -> bool:
    with open(p, "rb") as f:
        return f.read(1) == b"\x80"  # protocol 2+ (a label byte is never 128)


def _cifar_class_names(folder: Path, label: str) -> tuple[str, ...] | None:
    for name, keys in (("batches.meta", ("label_names",)), ("meta", (f"{label}_label_names",))):
        meta = folder / name
        if meta.is_file():
            try:
                obj = _norm_keys(restricted_pickle_load(meta))
                names = obj[keys[0]]
                return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
            except Exception:  # noqa: BLE001 - names are a nicety
                return None
    for name in ("batches.meta.txt", f"{label}_label_names.txt"):
        meta = folder / name
        if meta.is_file():
            lines = [ln.strip() for ln in meta.read_text(errors="replace").splitlines()]
            return tuple(ln for ln in lines if ln) or None
    return None


def load_cifar(path: PathLike, *, split: str = "train", label: str = "fine",
               variant: str | None = None) -> LoadedImages:
    """CIFAR-10/100 from one batch file (binary or python) or from the extracted folder
    (``cifar-10-batches-bin``/``-py``, ``cifar-100-binary``/``-python``), concatenating
    the ``split``'s batches ("train" or "test")."""
    p = Path(path)
    if p.is_dir():
        if split not in ("train", "test"):
            raise fail(p, f"unknown split {split!r}; use 'train' or 'test'.")
        pat = (re.compile(r"^(data_batch_\d+|train)(\.bin)?$") if split == "train"
               else re.compile(r"^(test_batch|test)(\.bin)?$"))
        files = sorted((f for f in p.iterdir() if f.is_file() and pat.match(f.name)),
                       key=lambda f: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", f.name)])
        if not files:
            raise fail(p, f"holds no CIFAR {split} batches (data_batch_N[.bin], test_batch[.bin], "
                          "train[.bin] or test[.bin]).")
        parts = [load_cifar(f, label=label, variant=variant) for f in files]
        return LoadedImages(np.concatenate([q.x for q in parts]),
                            np.concatenate([q.y for q in parts]), _cifar_class_names(p, label))
    p = existing_file(p)
    if p.suffix.lower() != ".bin" and _looks_like_pickle(p):
        return load_cifar_pickle(p, label=label)
    return load_cifar_binary(p, variant=variant, label=label)


# --- image files -------------------------------------------------------------------------------


def _pil() -> Any:
    try:
        from PIL import Image, ImageOps
    except ImportError as exc:  # pragma: no cover - Pillow is a dependency
        raise fail("Pillow", "is not installed; run pip install Pillow.") from exc
    return Image, ImageOps


MAX_IMAGE_PIXELS = 1 << 26  # 8192 x 8192: larger images are refused, not decoded
_PIXELS_PER_BYTE = 4096  # more than any real compressor gives for a useful image; 1M pixels always pass


def _check_image_size(p: Path, width: int, height: int) -> None:
    """Refuse a declared size before decoding: a decompression bomb or a damaged header."""
    pixels = width * height
    if pixels > MAX_IMAGE_PIXELS:
        raise fail(p, f"is {width} x {height} pixels, larger than the {MAX_IMAGE_PIXELS:,} pixels "
                      "(8192 x 8192) an image may have here; downscale it first.")
    size = p.stat().st_size
    if pixels > max(1 << 20, _PIXELS_PER_BYTE * size):
        raise fail(p, f"declares {width} x {height} pixels, more than a {size}-byte image file can "
                      "hold; it is damaged (or a decompression bomb).")


def _open_image(p: Path, mode: str) -> Any:
    """The image as a PIL "L" or "RGB" image; transparency is composited onto white."""
    Image, _ = _pil()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(p)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # Pillow's own size check
        raise fail(p, f"is larger than the {MAX_IMAGE_PIXELS:,} pixels (8192 x 8192) an image may have "
                      f"here ({exc}); downscale it first.") from exc
    except Exception as exc:
        raise fail(p, f"is not a readable image ({type(exc).__name__}: {exc}).") from exc
    try:
        with im:
            _check_image_size(p, *im.size)
            im.load()
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
            return im.convert("L" if mode == "gray" else "RGB")
    except DataError:
        raise
    except Exception as exc:
        raise fail(p, f"is not a readable image ({type(exc).__name__}: {exc}).") from exc


def _check_mode(mode: str) -> int:
    if mode not in ("gray", "rgb"):
        raise ValueError(f"mode must be 'gray' or 'rgb', got {mode!r}")
    return 1 if mode == "gray" else 3


def _to_chw(im: Any) -> np.ndarray:
    a = np.asarray(im, dtype=np.uint8)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def _is_image(f: Path) -> bool:
    return f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")


def load_image_folder(path: PathLike, size: int = 32, *, mode: str = "rgb",
                      max_images: int | None = None) -> LoadedImages:
    """A folder of images, each resized (shorter side to ``size``) and centre-cropped to
    size x size; x (N, C, size, size), C = 1 for mode "gray", 3 for "rgb".

    If the folder has sub-folders holding images, each sub-folder is a class (sorted by
    name; loose files beside them are ignored) and y holds class indices; otherwise the
    folder's own images are loaded without labels.
    """
    d = existing_dir(path)
    channels = _check_mode(mode)
    size = int(size)
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    subdirs = sorted(x for x in d.iterdir() if x.is_dir() and not x.name.startswith("."))
    classes = [(s.name, sorted(f for f in s.rglob("*") if _is_image(f))) for s in subdirs]
    classes = [(name, files) for name, files in classes if files]
    if classes:
        items = [(f, i) for i, (_, files) in enumerate(classes) for f in files]
        names: tuple[str, ...] | None = tuple(name for name, _ in classes)
    else:
        items = [(f, -1) for f in sorted(x for x in d.iterdir() if _is_image(x))]
        names = None
    if not items:
        raise fail(d, f"holds no images ({', '.join(IMAGE_SUFFIXES)}), neither directly nor in "
                      "class sub-folders.")
    if max_images is not None:
        items = items[: int(max_images)]
    Image, ImageOps = _pil()
    check_fits_in_memory(d, 5 * len(items) * channels * size * size,  # the bytes and their float32 copy
                         f"{len(items)} images of {channels} x {size} x {size}")
    out = np.empty((len(items), channels, size, size), dtype=np.uint8)
    for k, (f, _) in enumerate(items):
        im = ImageOps.fit(_open_image(f, mode), (size, size), method=Image.Resampling.LANCZOS)
        out[k] = _to_chw(im)
    y = np.array([c for _, c in items], dtype=np.int64) if names else None
    return LoadedImages(to_unit_range(out), y, names)


def load_texture_crops(path: PathLike, n: int, size: int, rng: np.random.Generator | int | None = None,
                       *, mode: str = "rgb", scale: float = 1.0) -> LoadedImages:
    """n random size x size crops of one texture image: x (n, C, size, size), y None.

    ``scale`` resizes the texture first (0.5 halves it), to pick the texture's scale.
    """
    p = existing_file(path)
    channels = _check_mode(mode)
    n, size = int(n), int(size)
    if n < 1 or size < 1:
        raise ValueError(f"n and size must be >= 1, got n={n}, size={size}")
    check_fits_in_memory(p, 5 * n * channels * size * size, f"{n} crops of {channels} x {size} x {size}")
    im = _open_image(p, mode)
    if scale != 1.0:
        Image, _ = _pil()
        w, h = im.size
        im = im.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    tex = _to_chw(im)
    _, h, w = tex.shape
    if h < size or w < size:
        raise fail(p, f"is {w} x {h} pixels{' after scaling' if scale != 1.0 else ''}, smaller "
                      f"than the {size} x {size} crops; choose a smaller crop size or a larger image.")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    ys = rng.integers(0, h - size + 1, size=n)
    xs = rng.integers(0, w - size + 1, size=n)
    rows = ys[:, None] + np.arange(size)[None, :]  # (n, size)
    cols = xs[:, None] + np.arange(size)[None, :]
    crops = tex[:, rows[:, :, None], cols[:, None, :]]  # (C, n, size, size)
    return LoadedImages(to_unit_range(np.ascontiguousarray(crops.transpose(1, 0, 2, 3))), None)


# --- .npy / .npz arrays ------------------------------------------------------------------------

_X_KEYS = ("x", "images", "data", "x_train", "arr_0")
_Y_KEYS = ("y", "labels", "targets", "y_train", "arr_1")


def _images_to_nchw(p: PathLike, a: np.ndarray, layout: str) -> np.ndarray:
    if a.ndim == 3:
        return a[:, None]
    if a.ndim != 4:
        raise fail(p, f"holds an array of shape {a.shape}; images need (N, H, W), (N, H, W, C) "
                      "or (N, C, H, W).")
    if layout == "auto":
        first, last = a.shape[1] in (1, 3), a.shape[3] in (1, 3)
        if first and last and a.shape[1] != a.shape[3]:
            raise fail(p, f"shape {a.shape} could be NCHW or NHWC; pass layout='nchw' or 'nhwc'.")
        if not first and not last:
            raise fail(p, f"shape {a.shape} has no channel axis of size 1 or 3 (gray or RGB).")
        layout = "nchw" if first else "nhwc"
    if layout == "nhwc":
        a = a.transpose(0, 3, 1, 2)
    elif layout != "nchw":
        raise ValueError(f"layout must be 'auto', 'nchw' or 'nhwc', got {layout!r}")
    if a.shape[1] not in (1, 3):
        raise fail(p, f"has {a.shape[1]} channels; images need 1 (gray) or 3 (RGB).")
    return a


def _scale_values(p: PathLike, a: np.ndarray, value_range: tuple[float, float] | None) -> np.ndarray:
    """To float32 [-1, 1]: uint8 and bool directly; other arrays from ``value_range`` or, when
    None, from what the values show: [0, 1] -> x 2 - 1, [-1, 1] kept, [0, 255] -> / 127.5 - 1."""
    if a.dtype == np.uint8:
        return to_unit_range(a)
    if a.dtype.kind == "b":
        return a.astype(np.float32) * 2.0 - 1.0
    if a.dtype.kind not in "iuf":
        raise fail(p, f"holds {a.dtype} values; images must be numbers.")
    check_finite(p, a, "the images")
    a = a.astype(np.float64)
    lo_v, hi_v = float(a.min()), float(a.max())
    if value_range is None:
        tol = 1e-6
        if lo_v >= -tol and hi_v <= 1 + tol:
            value_range = (0.0, 1.0)
        elif lo_v >= -1 - tol and hi_v <= 1 + tol:
            value_range = (-1.0, 1.0)
        elif lo_v >= -tol and hi_v <= 255 + tol:
            value_range = (0.0, 255.0)
        else:
            raise fail(p, f"values span [{lo_v:g}, {hi_v:g}], none of [0, 1], [-1, 1] or [0, 255]; "
                          "rescale them or give value_range=(lo, hi).")
    lo, hi = float(value_range[0]), float(value_range[1])
    if not hi > lo:
        raise ValueError(f"value_range must be (lo, hi) with hi > lo, got {value_range}")
    if lo_v < lo - 1e-6 * (hi - lo) or hi_v > hi + 1e-6 * (hi - lo):
        raise fail(p, f"values span [{lo_v:g}, {hi_v:g}], outside value_range ({lo:g}, {hi:g}).")
    return np.clip((a - lo) * (2.0 / (hi - lo)) - 1.0, -1.0, 1.0).astype(np.float32)


def _labels_from(p: PathLike, y: Any, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise fail(p, f"labels have shape {y.shape}; they must be one integer per image (N,).")
    if len(y) != n:
        raise fail(p, f"holds {n} images but {len(y)} labels.")
    if y.dtype.kind == "f":
        check_finite(p, y, "the labels")
        if not np.all(y == np.round(y)):
            raise fail(p, "labels must be whole numbers (class indices).")
    elif y.dtype.kind not in "iub":
        raise fail(p, f"labels are {y.dtype}; they must be integer class indices.")
    if n and y.min() < 0:
        raise fail(p, f"holds a negative label ({int(y.min())}); labels are class indices 0..K-1.")
    return y.astype(np.int64)


def load_image_array(path: PathLike, labels: PathLike | np.ndarray | None = None, *,
                     layout: str = "auto",
                     value_range: tuple[float, float] | None = None) -> LoadedImages:
    """Images from .npy (or .npz with ``x``/``images``/``data``/``arr_0`` and optionally
    ``y``/``labels``/``arr_1``): (N, H, W), (N, H, W, C) or (N, C, H, W), uint8 [0, 255],
    bool, or float/int values (see ``value_range``). Labels from the .npz, or ``labels``
    (a .npy path or an array). Always ``allow_pickle=False``."""
    p = existing_file(path)
    y_raw: Any = None
    if p.suffix.lower() == ".npz":
        arrays = load_npz(p)
        xk = next((k for k in _X_KEYS if k in arrays), None)
        if xk is None:
            if len(arrays) != 1:
                raise fail(p, f"holds arrays {sorted(arrays)}; name the images one of {', '.join(_X_KEYS)}.")
            xk = next(iter(arrays))
        x = arrays[xk]
        yk = next((k for k in _Y_KEYS if k in arrays and k != xk), None)
        y_raw = arrays[yk] if yk else None
    else:
        x = load_npy(p)
    if x.size == 0:
        raise fail(p, f"holds no images (shape {x.shape}).")
    x = _images_to_nchw(p, x, layout)
    xf = np.ascontiguousarray(_scale_values(p, x, value_range))
    label_src: PathLike = p
    if labels is not None:
        if isinstance(labels, np.ndarray):
            y_raw = labels
        else:
            y_raw = load_npy(labels) if Path(labels).suffix.lower() != ".npz" else None
            if y_raw is None:
                lab = load_npz(labels)
                yk = next((k for k in _Y_KEYS if k in lab), next(iter(lab)))
                y_raw = lab[yk]
            label_src = labels
    y = _labels_from(label_src, y_raw, len(xf)) if y_raw is not None else None
    return LoadedImages(xf, y)

