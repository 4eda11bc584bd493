"""Search spaces over experiment settings: what a hyperparameter search may vary, and how.

A space is a plain dict from dotted config keys to one distribution each::

    {"train.lr": {"log_uniform": [1e-4, 1e-2]},
     "sampler.n_steps": {"values": [10, 20, 40]},
     "train.alpha": {"uniform": [0, 1], "points": 5},   # points: grid points of this range
     "buffer.capacity": {"int_uniform": [1000, 10000]},
     "model.width": {"int_log_uniform": [16, 256]}}

Kinds: ``values`` (a list, any setting), ``uniform`` / ``log_uniform`` (numbers),
``int_uniform`` / ``int_log_uniform`` (whole numbers, both ends included). In a
TOML file the keys may be quoted (``"train.lr" = {log_uniform = [1e-4, 1e-2]}``)
or written as tables (``[train] lr = {...}``). Every key and value is checked
against ExperimentConfig when the space is made: a bad one raises ConfigError
naming the key.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..training.config import ExperimentConfig, tomllib
from ..training.factory import model_arch

KINDS = ("values", "uniform", "log_uniform", "int_uniform", "int_log_uniform")
# Keys the search itself sets for every trial.
RESERVED = {"train.iterations": "the search sets each trial's iterations (max_iterations and the ASHA rungs)"}


@dataclass(frozen=True)
class Dimension:
    """One searched setting: ``key`` ("section.field"), ``kind`` (one of KINDS), ``args`` (the
    values, or [low, high]), ``points`` (grid points of a range; 0: the search's default)."""
    key: str
    kind: str
    args: tuple
    points: int = 0

    def grid(self, default_points: int) -> list[Any]:
        """The grid values: the listed values, or ``points`` values spread over the range
        (evenly; geometrically for the log kinds; rounded and without repeats for integers)."""
        if self.kind == "values":
            return list(self.args)
        n = self.points or default_points
        lo, hi = self.args
        if n == 1:
            pts = np.array([math.sqrt(lo * hi) if "log" in self.kind else (lo + hi) / 2])
        elif "log" in self.kind:
            pts = np.geomspace(lo, hi, n)
        else:
            pts = np.linspace(lo, hi, n)
        if self.kind.startswith("int"):
            return list(dict.fromkeys(round(float(p)) for p in pts))
        return [float(p) for p in pts]

    def sample(self, rng: np.random.Generator) -> Any:
        """One random value (log kinds: uniform in log space)."""
        if self.kind == "values":
            return self.args[int(rng.integers(len(self.args)))]
        lo, hi = self.args
        if self.kind == "uniform":
            return float(rng.uniform(lo, hi))
        if self.kind == "log_uniform":
            return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        if self.kind == "int_uniform":
            return int(rng.integers(lo, hi + 1))
        # int_log_uniform: log-uniform over [lo, hi + 1), floored, so every integer can come up
        return min(int(math.exp(rng.uniform(math.log(lo), math.log(hi + 1)))), hi)

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {self.kind: list(self.args)}
        if self.points:
            spec["points"] = self.points
        return spec


class SearchSpace:
    """An ordered set of Dimensions, checked against a base config.

    ``grid(points)`` lists every combination (the last key varies fastest);
    ``sample(seed, index)`` draws trial ``index``'s settings, the same for the
    same (seed, index) whatever else was drawn before.
    """

    def __init__(self, dimensions: list[Dimension]):
        self.dimensions = list(dimensions)

    @property
    def keys(self) -> list[str]:
        return [d.key for d in self.dimensions]

    @classmethod
    def from_dict(cls, spec: dict[str, Any], base: ExperimentConfig) -> "SearchSpace":
        """Parse and check ``spec`` (see the module docstring) against the settings of ``base``."""
        if not isinstance(spec, dict):
            raise ConfigError(f"a search space must be a table of settings, got {type(spec).__name__}")
        flat = _flatten(spec, "")
        if not flat:
            raise ConfigError("the search space is empty: give at least one setting to search, "
                              "e.g. \"train.lr\" = {log_uniform = [1e-4, 1e-2]}")
        return cls([_dimension(key, value, base) for key, value in flat.items()])

    @classmethod
    def load(cls, path: str | os.PathLike, base: ExperimentConfig) -> "SearchSpace":
        """Read a space TOML file (see the module docstring)."""
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{p}: no such search-space file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{p}: cannot read the search-space file ({exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML ({exc})") from None
        try:
            return cls.from_dict(data, base)
        except ConfigError as exc:
            raise ConfigError(f"{p}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """The spec this space reads back from (flat dotted keys)."""
        return {d.key: d.to_spec() for d in self.dimensions}

    def grid(self, points: int = 3) -> list[dict[str, Any]]:
        """Every combination of the dimensions' grid values, in order."""
        axes = [d.grid(points) for d in self.dimensions]
        return [dict(zip(self.keys, combo)) for combo in itertools.product(*axes)]

    def grid_size(self, points: int = 3) -> int:
        return math.prod(len(d.grid(points)) for d in self.dimensions)

    def sample(self, seed: int, index: int) -> dict[str, Any]:
        """Trial ``index``'s random settings (its own generator, seeded by (seed, index))."""
        rng = np.random.default_rng([seed, index])
        return {d.key: d.sample(rng) for d in self.dimensions}


def apply_params(base: ExperimentConfig, params: dict[str, Any]) -> ExperimentConfig:
    """``base`` with dotted-key settings replaced, checked (ConfigError naming the key if one does not fit)."""
    sections: dict[str, dict[str, Any]] = {}
    for key, value in params.items():
        section, name = _split_key(key, base)
        sections.setdefault(section, {})[name] = value
    config = base.replace(**sections)
    if "model" in sections:
        model_arch(config.model)  # a width the preset cannot take is refused here, not in a worker
    return config


def _split_key(key: str, base: ExperimentConfig) -> tuple[str, str]:
    section, _, name = key.partition(".")
    tables = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)
              if dataclasses.is_dataclass(getattr(base, f.name))}
    if section not in tables or not name:
        raise ConfigError(f"search key {key!r} is not a setting: write it as section.name with section one of "
                          f"{', '.join(tables)} (e.g. train.lr)")
    names = [f.name for f in dataclasses.fields(tables[section])]
    if name not in names:
        raise ConfigError(f"search key {key!r} is not a setting: [{section}] has {', '.join(names)}")
    return section, name


def _flatten(spec: dict[str, Any], prefix: str) -> dict[str, Any]:
    """{"train": {"lr": {...}}} and {"train.lr": {...}} both to {"train.lr": {...}}."""
    out: dict[str, Any] = {}
    for key, value in spec.items():
        full = prefix + str(key)
        if isinstance(value, dict) and value and not set(value) & set(KINDS) and "points" not in value:
            out.update(_flatten(value, full + "."))
        else:
            out[full] = value
    return out


def _dimension(key: str, spec: Any, base: ExperimentConfig) -> Dimension:
    if key in RESERVED:
        raise ConfigError(f"search key {key!r} cannot be searched: {RESERVED[key]}")
    section, name = _split_key(key, base)
    default = getattr(getattr(base, section), name)
    kinds = [k for k in KINDS if isinstance(spec, dict) and k in spec]
    if not isinstance(spec, dict) or len(kinds) != 1 or set(spec) - {kinds[0], "points"}:
        raise ConfigError(f"search key {key!r}: give exactly one of {', '.join(KINDS)} (and for a range, "
                          f"optionally points = N), e.g. {{log_uniform = [1e-4, 1e-2]}}; got {spec!r}")
    kind = kinds[0]
    args = spec[kind]
    points = spec.get("points", 0)
    if isinstance(points, bool) or not isinstance(points, int) or points < 0 or (points and kind == "values"):
        raise ConfigError(f"search key {key!r}: points must be a whole number >= 1 for a range "
                          f"(a list of values is its own grid), got {points!r}")
    if kind == "values":
        if not isinstance(args, list) or not args:
            raise ConfigError(f"search key {key!r}: values must be a non-empty list, got {args!r}")
        checked = [_check(base, key, v) for v in args]
        if len(set(map(repr, checked))) != len(checked):
            raise ConfigError(f"search key {key!r}: values has repeats: {args!r}")
        return Dimension(key, kind, tuple(checked))
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        raise ConfigError(f"search key {key!r} is a {type(default).__name__} setting: search it with values = [...]")
    integer = kind.startswith("int")
    if isinstance(default, int) != integer:
        allowed = "int_uniform, int_log_uniform" if integer is False else "uniform, log_uniform"
        raise ConfigError(f"search key {key!r} is a {'whole-number' if isinstance(default, int) else 'decimal'} "
                          f"setting: use {allowed} or values, not {kind}")
    number = int if integer else (int, float)
    if not (isinstance(args, list) and len(args) == 2
            and all(isinstance(v, number) and not isinstance(v, bool) for v in args)):
        what = "whole numbers" if integer else "numbers"
        raise ConfigError(f"search key {key!r}: {kind} needs [low, high], two {what}; got {args!r}")
    lo, hi = args
    if not lo < hi or not all(math.isfinite(v) for v in args):
        raise ConfigError(f"search key {key!r}: {kind} needs low < high (both finite), got [{lo}, {hi}]")
    if "log" in kind and lo <= 0:
        raise ConfigError(f"search key {key!r}: {kind} needs low > 0 (it is uniform in log space), got {lo}")
    lo, hi = (_check(base, key, v) for v in (lo, hi))  # the config's own bounds, checked at both ends
    return Dimension(key, kind, (lo, hi), points)


def _check(base: ExperimentConfig, key: str, value: Any) -> Any:
    """The value as the config stores it (e.g. 1 -> 1.0 for a float setting); ConfigError if it does not fit."""
    config = apply_params(base, {key: value})
    section, name = key.split(".", 1)
    return getattr(getattr(config, section), name)
