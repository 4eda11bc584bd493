"""The user's own 2D points: CSV/text (comma, semicolon, tab or whitespace separated,
optional header line, ``#`` comments) or .npy/.npz arrays of shape (N, 2)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._files import (
    PathLike,
    check_finite,
    existing_file,
    fail,
    load_npy,
    load_npz,
    read_bytes,
)

__all__ = ["load_points"]

_NPZ_KEYS = ("points", "x", "data")


def load_points(path: PathLike, columns: Sequence[int | str] | None = None) -> np.ndarray:
    """2D points from a CSV/text, .npy or .npz file: (N, 2) float32.

    ``columns`` picks two columns of a wider table, by index or (with a header) by
    name; by default the file must have exactly two. Raises DataError naming the file and
    the problem (missing, empty, non-numeric, wrong number of columns, NaN/inf).
    """
    p = existing_file(path)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        arr = load_npy(p)
    elif suffix == ".npz":
        arrays = load_npz(p)
        key = next((k for k in _NPZ_KEYS if k in arrays), None)
        if key is None and len(arrays) == 1:
            key = next(iter(arrays))
        if key is None:
            raise fail(p, f"holds arrays {sorted(arrays)}; name the points array one of "
                          f"{', '.join(_NPZ_KEYS)} or save only one array.")
        arr = arrays[key]
    else:
        arr, header = _parse_text(p)
        if columns is not None:
            arr = arr[:, _column_indices(p, columns, arr.shape[1], header)]
            columns = None
    if arr.ndim != 2:
        raise fail(p, f"holds an array of shape {arr.shape}; 2D points need shape (N, 2).")
    if columns is not None:
        arr = arr[:, _column_indices(p, columns, arr.shape[1], None)]
    if arr.shape[1] != 2:
        raise fail(p, f"has {arr.shape[1]} columns; 2D points need exactly 2 (x, y). "
                      "Pick two with columns=(i, j).")
    if arr.shape[0] == 0:
        raise fail(p, "holds no points.")
    if arr.dtype.kind not in "biuf":
        raise fail(p, f"holds {arr.dtype} values, not numbers.")
    check_finite(p, arr, "the points")
    big = float(np.abs(arr).max())
    if big > float(np.finfo(np.float32).max):
        raise fail(p, f"holds a value of magnitude {big:g}, too large for float32; rescale the data.")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _column_indices(p: PathLike, columns: Sequence[int | str], ncols: int,
                    header: list[str] | None) -> list[int]:
    cols = list(columns)
    if len(cols) != 2:
        raise fail(p, f"columns={cols!r}: pick exactly two columns (x, y).")
    out = []
    for c in cols:
        if isinstance(c, str):
            if header is None or c not in header:
                known = f"the header has {header}" if header else "the file has no header"
                raise fail(p, f"no column named {c!r} ({known}).")
            out.append(header.index(c))
        else:
            i = int(c)
            if not -ncols <= i < ncols:
                raise fail(p, f"column {i} does not exist: the file has {ncols} columns.")
            out.append(i % ncols)
    return out


def _split(line: str, delim: str | None) -> list[str]:
    parts = line.split(delim) if delim else line.split()
    return [s.strip().strip('"').strip("'") for s in parts]


def _parse_text(p) -> tuple[np.ndarray, list[str] | None]:
    """(rows as float64 (N, ncols), header names or None)."""
    raw = read_bytes(p)
    if b"\x00" in raw[:4096]:
        raise fail(p, "is a binary file, not CSV/text; use .npy for binary arrays.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail(p, f"is not UTF-8 text (byte {exc.start} is invalid).") from exc
    lines = [(i + 1, ln.strip()) for i, ln in enumerate(text.splitlines())]
    lines = [(i, ln) for i, ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise fail(p, "is empty: no data lines.")
    first = lines[0][1]
    delim = "," if "," in first else ";" if ";" in first else "\t" if "\t" in first else None
    header: list[str] | None = None
    rows: list[list[float]] = []
    ncols: int | None = None
    ref = 0  # the line that set the column count
    for k, (lineno, line) in enumerate(lines):
        fields = _split(line, delim)
        try:
            values = [float(f) for f in fields]
        except ValueError:
            if k == 0:
                header = fields
                ncols, ref = len(fields), lineno
                continue
            bad = next(f for f in fields if not _is_float(f))
            raise fail(p, f"line {lineno}: {bad!r} is not a number.") from None
        if ncols is None:
            ncols, ref = len(values), lineno
        elif len(values) != ncols:
            what = "the header" if header is not None else f"line {ref}"
            raise fail(p, f"line {lineno} has {len(values)} columns but {what} has {ncols}.")
        rows.append(values)
    if not rows:
        raise fail(p, "has a header but no data lines.")
    return np.asarray(rows, dtype=np.float64), header


def _is_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True
