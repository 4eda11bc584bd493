"""Atomic file writes: readers see the old file or the whole new one, never a part."""

from __future__ import annotations

import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

# what atomic_write_bytes leaves behind when the process is killed mid-write: ".{name}.{8 random}.tmp"
_TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync it, rename it over ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def write_file(path: str | os.PathLike[str], data: bytes, what: str, error: type[Exception]) -> Path:
    """atomic_write_bytes, with an OSError turned into ``error`` saying what to do."""
    path = Path(path)
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise error(f"could not write the {what} {path}: {exc.strerror or exc}; "
                    f"check that the folder exists, is writable and has free space") from exc
    except ValueError as exc:  # e.g. a NUL character in the name
        raise error(f"could not write the {what} {str(path)!r}: the name is not a valid file name ({exc}); "
                    f"choose another name") from exc
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable where the platform allows it (POSIX); best effort."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> int:
    """Delete the temporary files of writes that a killed process never finished; returns how many.

    Call it only where no write into ``folder`` is in flight (opening a run, after a save).
    """
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if _TEMPORARY.match(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
                removed += 1
            except OSError:
                pass
    return removed


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON: nan/inf as null (JSON has no NaN; strict parsers refuse it),
    NumPy scalars as Python numbers, tuples as lists, dict keys as strings, anything else
    (a path, say) as its str. For every JSON file and JSON line the engine writes."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if hasattr(value, "item") and not hasattr(value, "__len__"):  # a NumPy scalar or 0-d array
        value = value.item()
        if value is None or isinstance(value, (bool, str, int)):
            return value
    if isinstance(value, float) or hasattr(value, "__float__"):
        f = float(value)
        return f if math.isfinite(f) else None
    return str(value)
