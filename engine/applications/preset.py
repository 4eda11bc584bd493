"""Application presets: one TOML file per ready-made use of a model (resources/applications/NAME.toml).

    # one-line description shown in lists
    kind = "inpaint"          # inpaint | denoise | interpolate | compose | conditional | ood | texture
    model = "digits_convnet"  # a shipped model name, a run folder or a .safetensors file
                              # (compose: a list of {model = "...", weight = 1.0} tables)
    [params]                  # keyword arguments of the kind's preset function
    mask = "center"

Each kind has a *preset function* whose first argument is the opened model
(compose: the list of (OpenedModel, weight)) and whose keyword arguments are
the ``[params]``. The function is found in the kind's module (see
``KIND_MODULES``), which maps kinds to functions in a module-level dict
``PRESET_FUNCTIONS = {"inpaint": inpaint_images, ...}``. ``load_application``
checks the params against that function's signature when the module exists
(ConfigError naming the unknown ones); :func:`run_application` opens the
model(s) and calls it.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

APPLICATIONS_DIR = Path(__file__).resolve().parent.parent.parent / "resources" / "applications"
KINDS = ("inpaint", "denoise", "interpolate", "compose", "conditional", "ood", "texture")
KIND_MODULES = {
    "inpaint": "engine.applications.inpaint",
    "denoise": "engine.applications.inpaint",
    "interpolate": "engine.applications.interpolate",
    "compose": "engine.applications.compose",
    "conditional": "engine.applications.conditional",
    "ood": "engine.applications.ood",
    "texture": "engine.applications.texture",
}
_TOP_KEYS = ("kind", "model", "params")


@dataclass(frozen=True)
class ApplicationPreset:
    """One application preset.

    kind: one of KINDS. model: a model reference (str), a list of {"model": str,
    "weight": float} for compose, or None when the file names none.
    params: keyword arguments of the kind's preset function. description: the
    file's first comment line. name: the file's stem. path: the file, or None.
    """

    kind: str
    model: str | list[dict[str, Any]] | None
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    name: str = ""
    path: Path | None = None


def list_applications(kind: str | None = None) -> list[ApplicationPreset]:
    """The presets in resources/applications/ (sorted by name), optionally only one kind.

    A broken preset file raises ConfigError naming it.
    """
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"unknown application kind {kind!r}; allowed: {', '.join(KINDS)}")
    presets = [load_application(p) for p in sorted(APPLICATIONS_DIR.glob("*.toml"))]
    return [p for p in presets if kind is None or p.kind == kind]


def load_application(name_or_path: str | os.PathLike[str]) -> ApplicationPreset:
    """Read a preset by name (resources/applications/NAME.toml) or path; ConfigError if bad."""
    path = _find(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"could not read the application preset {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the application preset {path} is not valid TOML: {exc}") from None
    return parse_application(data, name=path.stem, path=path, description=_first_comment(text))


def parse_application(data: dict[str, Any], name: str = "", path: Path | None = None,
                      description: str = "") -> ApplicationPreset:
    """An ApplicationPreset from a parsed TOML table (checks kind, model and params)."""
    where = f"application preset {path or name or '(table)'}"
    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} in {where}; allowed: {', '.join(_TOP_KEYS)}")
    kind = data.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{where}: kind = {kind!r} is not an application kind; allowed: {', '.join(KINDS)}")
    model = _check_model(data.get("model"), kind, where)
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise ConfigError(f"{where}: params must be a table ([params]), got {params!r}")
    check_params(kind, params, where)
    return ApplicationPreset(kind, model, dict(params), description, name, path)


def preset_function(kind: str) -> Callable[..., Any] | None:
    """The kind's preset function, or None while its module is not installed."""
    if kind not in KINDS:
        raise ConfigError(f"unknown application kind {kind!r}; allowed: {', '.join(KINDS)}")
    module_name = KIND_MODULES[kind]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:  # only that module missing; a broken import inside it is a bug
            return None
        raise
    return getattr(module, "PRESET_FUNCTIONS", {}).get(kind)


def check_params(kind: str, params: dict[str, Any], where: str = "the application") -> None:
    """ConfigError naming params the kind's preset function does not take (skipped if it is unknown)."""
    seed = params.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:  # NumPy refuses negative seeds
        raise ConfigError(f"{where}: seed must be a whole number >= 0, got {seed!r}")
    fn = preset_function(kind)
    if fn is None:
        return
    allowed = preset_params(fn)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown {kind} param(s) {', '.join(unknown)}; "
                          f"allowed: {', '.join(allowed)}")


def preset_params(fn: Callable[..., Any]) -> list[str]:
    """The keyword parameters of a preset function (all but its first, the model)."""
    params = list(inspect.signature(fn).parameters.values())[1:]
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def run_application(preset: ApplicationPreset | str | os.PathLike[str], model: Any = None,
                    xp: Any = None, **overrides: Any) -> Any:
    """Run a preset: open its model(s) and call the kind's preset function with params + overrides.

    model: a reference or OpenedModel to use instead of the preset's (compose: a list of
    (reference, weight)). Returns what the preset function returns.
    """
    from .models import open_model  # noqa: PLC0415 - keeps preset parsing light

    if not isinstance(preset, ApplicationPreset):
        preset = load_application(preset)
    fn = preset_function(preset.kind)
    if fn is None:
        raise ConfigError(f"the {preset.kind} application is not installed ({KIND_MODULES[preset.kind]} is missing)")
    params = {**preset.params, **overrides}
    check_params(preset.kind, params, f"application {preset.name or preset.kind}")
    ref = preset.model if model is None else model
    if ref is None:
        raise ConfigError(f"application {preset.name or preset.kind} names no model; give one")
    if preset.kind == "compose":
        items = ref if isinstance(ref, list) else [ref]
        opened: Any = [_open_weighted(item, xp, open_model) for item in items]
    else:
        opened = open_model(ref, xp=xp)
    return fn(opened, **params)


def _open_weighted(item: Any, xp: Any, open_model: Callable[..., Any]) -> tuple[Any, float]:
    if isinstance(item, dict):
        return open_model(item["model"], xp=xp), float(item.get("weight", 1.0))
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return open_model(item[0], xp=xp), float(item[1])
    return open_model(item, xp=xp), 1.0


def _find(name_or_path: str | os.PathLike[str]) -> Path:
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.is_file():
        return path
    if "/" not in text and "\\" not in text:
        candidate = APPLICATIONS_DIR / (text if text.endswith(".toml") else f"{text}.toml")
        if candidate.is_file():
            return candidate
    names = ", ".join(sorted(p.stem for p in APPLICATIONS_DIR.glob("*.toml"))) or "(none)"
    raise ConfigError(f"no application preset {text!r}; give a .toml file or one of: {names}")


def _check_model(model: Any, kind: str, where: str) -> str | list[dict[str, Any]] | None:
    if model is None or isinstance(model, str):
        return model
    if kind == "compose" and isinstance(model, list):
        out = []
        for i, item in enumerate(model):
            if not isinstance(item, dict) or not isinstance(item.get("model"), str):
                raise ConfigError(f"{where}: model[{i}] must be a table {{model = \"NAME\", weight = 1.0}}, "
                                  f"got {item!r}")
            extra = sorted(set(item) - {"model", "weight"})
            if extra:
                raise ConfigError(f"{where}: unknown key(s) {', '.join(extra)} in model[{i}]; allowed: model, weight")
            weight = item.get("weight", 1.0)
            if isinstance(weight, bool) or not isinstance(weight, (int, float)):
                raise ConfigError(f"{where}: model[{i}].weight must be a number, got {weight!r}")
            out.append({"model": item["model"], "weight": float(weight)})
        return out
    allowed = "a model reference (string)" + (" or a list of {model, weight} tables" if kind == "compose" else "")
    raise ConfigError(f"{where}: model must be {allowed}, got {model!r}")


def _first_comment(text: str) -> str:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            return stripped.lstrip("#").strip()
        if stripped:
            return ""
    return ""
