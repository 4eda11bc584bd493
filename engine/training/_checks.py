"""Validation of numeric settings, with messages that name the setting and its range."""

from __future__ import annotations

import math
from typing import Any

from ..errors import ConfigError


def real(owner: str, name: str, value: Any, *, low: float | None = None, high: float | None = None,
         low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a Python float inside [low, high] (ends open where asked), else ConfigError."""
    lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
    hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
    if low is not None and high is not None:
        allowed = f"in {lo}, {hi}"
    elif low is not None:
        allowed = f"{'>' if low_open else '>='} {low:g}"
    elif high is not None:
        allowed = f"{'<' if high_open else '<='} {high:g}"
    else:
        allowed = "a finite number"
    try:
        ok_type = not isinstance(value, (bool, str)) and math.isfinite(float(value))
    except (TypeError, ValueError):
        ok_type = False
    if not ok_type:
        raise ConfigError(f"{owner}: {name} must be a finite number {allowed}, got {value!r}")
    x = float(value)
    if low is not None and (x < low or (low_open and x == low)):
        raise ConfigError(f"{owner}: {name} must be {allowed}, got {value!r}")
    if high is not None and (x > high or (high_open and x == high)):
        raise ConfigError(f"{owner}: {name} must be {allowed}, got {value!r}")
    return x


def integer(owner: str, name: str, value: Any, *, low: int = 0) -> int:
    """``value`` as a Python int >= low, else ConfigError (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) and not _is_integral(value):
        raise ConfigError(f"{owner}: {name} must be an integer >= {low}, got {value!r}")
    if int(value) < low:
        raise ConfigError(f"{owner}: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _is_integral(value: Any) -> bool:
    # NumPy integer scalars (e.g. from a TOML/NumPy round trip) are fine; floats are not.
    return hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu" and getattr(value, "ndim", 1) == 0
