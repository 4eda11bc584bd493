"""The engine stays free of Qt (and works without CuPy): DESIGN.md rules 1 and 2."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run_python(code: str) -> dict:
    """Run ``code`` in a fresh interpreter at the repo root; it prints one JSON line."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"subprocess failed:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


# Makes ``import cupy`` fail as if it were not installed, so that a module which
# needs cupy at import time shows up even on a machine that has it.
_BLOCK_CUPY = """
import sys
class _NoCupy:
    def find_spec(self, name, path=None, target=None):
        if name == "cupy" or name.startswith(("cupy.", "cupyx", "cupy_backends")):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None
sys.meta_path.insert(0, _NoCupy())
"""


def test_import_engine_is_qt_free_and_cheap() -> None:
    result = _run_python(
        """
        import json, sys
        sys.path.insert(0, ".")
        import engine
        print(json.dumps(sorted(m for m in sys.modules
                                if m.split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6", "cupy", "cupyx", "gui"))))
        """
    )
    assert result == [], f"`import engine` loaded {result}"


def test_every_engine_module_imports_without_qt_or_cupy() -> None:
    result = _run_python(
        _BLOCK_CUPY
        + """
import importlib, json, pkgutil, sys, traceback
sys.path.insert(0, ".")
import engine
names, failures = ["engine"], {}
for mod in pkgutil.walk_packages(engine.__path__, "engine.", onerror=lambda name: None):
    names.append(mod.name)
for name in names:
    try:
        importlib.import_module(name)
    except Exception:
        failures[name] = traceback.format_exc(limit=3)
qt = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6", "gui"))
print(json.dumps({"names": names, "failures": failures, "qt": qt}))
"""
    )
    assert "engine.backend" in result["names"], result["names"]
    assert not result["failures"], "engine modules failed to import without cupy:\n" + "\n".join(
        f"{name}:\n{tb}" for name, tb in result["failures"].items()
    )
    loaded = sorted({name.split(".")[0] for name in result["qt"]})
    assert not loaded, f"importing the engine loaded {loaded} ({len(result['qt'])} modules)"


def test_import_contracts() -> None:
    """``lint-imports`` (contracts in pyproject.toml); grimp alone if import-linter is missing."""
    if importlib.util.find_spec("importlinter") is not None:
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from importlinter.cli import lint_imports; "
                "sys.exit(lint_imports(no_cache=True, no_logo=True))",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, f"lint-imports failed:\n{proc.stdout}\n{proc.stderr}"
        return
    grimp = pytest.importorskip("grimp", reason="neither import-linter nor grimp is installed")
    sys.path.insert(0, str(REPO))
    try:
        graph = grimp.build_graph("engine", include_external_packages=True, cache_dir=None)
    finally:
        sys.path.remove(str(REPO))
    bad = []
    for module in sorted(graph.find_descendants("engine") | {"engine"}):
        for imported in graph.find_modules_directly_imported_by(module):
            top = imported.split(".")[0]
            if top in ("PySide6", "pyqtgraph", "gui"):
                bad.append(f"{module} -> {imported}")
            if top in ("cupy", "cupyx") and module != "engine.backend":
                bad.append(f"{module} -> {imported}")
    assert not bad, f"forbidden imports in engine: {bad}"
