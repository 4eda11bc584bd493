"""Shared checks for data files: every problem becomes a DataError naming the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

PathLike = str | os.PathLike[str]


def fail(path: PathLike, problem: str) -> DataError:
    """A DataError whose message starts with the file name."""
    return DataError(f"{os.fspath(path)}: {problem}")


def existing_file(path: PathLike) -> Path:
    """The path as a Path, if it is a readable regular file."""
    p = Path(path)
    if not p.exists():
        raise fail(p, "no such file; check the path.")
    if not p.is_file():
        raise fail(p, "is not a regular file.")
    return p


def existing_dir(path: PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise fail(p, "no such folder; check the path.")
    if not p.is_dir():
        raise fail(p, "is not a folder.")
    return p


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise fail(path, f"cannot be read ({exc.strerror or exc}).") from exc


def check_finite(path: PathLike, a: np.ndarray, what: str = "values") -> None:
    """DataError when a float array holds NaN or inf (with the first bad index)."""
    if a.dtype.kind in "fc":
        bad = ~np.isfinite(a)
        if bad.any():
            first = np.unravel_index(int(np.argmax(bad)), a.shape)
            kind = "NaN" if np.isnan(a[first]) else "infinite"
            idx = first[0] if len(first) == 1 else tuple(int(i) for i in first)
            raise fail(path, f"{what} contain {int(bad.sum())} NaN/infinite entries "
                             f"(first: {kind} at index {idx}); clean the data first.")


def npy_header(fp: Any, path: PathLike) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Read a .npy header from an open binary stream: (shape, fortran, dtype, data bytes).

    The stream is left at the start of the data. The header is validated (no object
    dtype, non-negative dims) but nothing is allocated from it.
    """
    from numpy.lib import format as npy_format

    try:
        version = npy_format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(fp)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = npy_format.read_array_header_2_0(fp)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except Exception as exc:  # noqa: BLE001 - NumPy's header parser raises ValueError, TokenError, ...
        raise fail(path, f"is not a valid .npy array ({type(exc).__name__}: {exc}).") from exc
    if dtype.hasobject or dtype.kind not in "biuf":
        raise fail(path, f"holds {dtype} data; only numeric arrays can be loaded "
                         "(object/pickled arrays are refused for safety).")
    count = 1
    for d in shape:
        count *= int(d)
    return tuple(int(d) for d in shape), bool(fortran), dtype, count * dtype.itemsize


def check_fits_in_memory(path: PathLike, nbytes: int, what: str) -> None:
    """DataError when ``nbytes`` (a size declared by the file) exceed the memory available now.

    Called before anything is allocated from a declared size, so a file cannot make the
    process allocate more than the machine has (MemAvailable, or the cgroup limit).
    """
    from ..training.memory import available_host_bytes, format_bytes  # noqa: PLC0415

    available = available_host_bytes()
    if available is not None and nbytes > available:
        raise fail(path, f"{what} would need {format_bytes(nbytes)} of memory, but only "
                         f"{format_bytes(available)} is available; use a smaller file or subset.")


_DEFLATE_MAX_RATIO = 1100  # deflate cannot expand more than ~1032:1


def load_npy(path: PathLike) -> np.ndarray:
    """A numeric .npy array, its header checked against the file size before any allocation."""
    p = existing_file(path)
    size = p.stat().st_size
    try:
        with open(p, "rb") as fp:
            shape, _, dtype, nbytes = npy_header(fp, p)
            offset = fp.tell()
    except OSError as exc:
        raise fail(p, f"cannot be read ({exc.strerror or exc}).") from exc
    if size - offset < nbytes:
        raise fail(p, f"is truncated: its header promises {shape} {dtype} ({nbytes} bytes of data) "
                      f"but the file holds only {size - offset}.")
    if size - offset > nbytes:
        raise fail(p, f"has {size - offset - nbytes} bytes after the {shape} {dtype} array its "
                      "header describes; the file is damaged or not a .npy file.")
    check_fits_in_memory(p, nbytes, f"its {shape} {dtype} array")
    try:
        return np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError, MemoryError) as exc:
        raise fail(p, f"cannot be read as .npy ({exc}).") from exc


def load_npz(path: PathLike) -> dict[str, np.ndarray]:
    """All numeric arrays of a .npz archive. Each member's header is checked against its
    stored size, and that size against the compressed size, before any allocation."""
    import zipfile
    import zlib

    from numpy.lib import format as npy_format

    p = existing_file(path)
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(p) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                member = f"member {info.filename!r}"
                if info.file_size > _DEFLATE_MAX_RATIO * max(info.compress_size, 1) + (1 << 20):
                    raise fail(p, f"{member} claims {info.file_size} bytes from "
                                  f"{info.compress_size} compressed; the archive is damaged.")
                with zf.open(info) as fp:
                    shape, _, dtype, nbytes = npy_header(fp, f"{p}[{info.filename}]")
                    header_len = fp.tell()
                if header_len + nbytes != info.file_size:
                    raise fail(p, f"{member} is truncated or damaged: its header promises {shape} "
                                  f"{dtype} ({nbytes} bytes) but it holds "
                                  f"{info.file_size - header_len} bytes of data.")
                check_fits_in_memory(p, nbytes, f"{member} ({shape} {dtype})")
                with zf.open(info) as fp:
                    arr = npy_format.read_array(fp, allow_pickle=False)
                key = info.filename.removesuffix(".npy")
                out[key] = arr
    except zipfile.BadZipFile as exc:
        raise fail(p, f"is not a valid .npz (zip) archive ({exc}).") from exc
    except (ValueError, OSError, EOFError, zlib.error, MemoryError) as exc:
        raise fail(p, f"cannot be read as .npz ({exc}).") from exc
    except (NotImplementedError, RuntimeError) as exc:  # zipfile: unknown compression, encrypted member
        raise fail(p, f"uses a zip feature .npz files do not use ({exc}); save it again with numpy.savez.") from exc
    if not out:
        raise fail(p, "is an empty .npz archive: it holds no arrays.")
    return out
