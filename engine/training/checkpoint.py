"""Checkpoints: everything a run needs to continue exactly, in one safetensors file.

Tensors: model state ("model/<name>"), optimizer buffers ("optim/<buffer>/<i>"),
replay buffer ("buffer/samples", "buffer/valid"). Metadata (JSON strings):
iteration, random-generator state, optimizer scalars, buffer layout and the
learning curves so far. Written atomically; a run keeps the newest few.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save as st_save

from ..errors import ModelFileError
from ..fileio import atomic_write_bytes, remove_stale_temporaries

FORMAT = "ebm-studio-checkpoint"
_NAME = re.compile(r"^ckpt-(\d{8})\.safetensors$")


def checkpoint_path(folder: Path, iteration: int) -> Path:
    return folder / f"ckpt-{iteration:08d}.safetensors"


def write_checkpoint(path: Path, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Atomically write host arrays plus JSON-able metadata."""
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    header = {"format": FORMAT, **{k: json.dumps(v) for k, v in meta.items()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, st_save(arrays, metadata=header))


def read_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(tensors, metadata); ModelFileError for a file that is not a complete checkpoint."""
    try:
        with safe_open(str(path), framework="numpy") as f:
            header = f.metadata() or {}
            if header.get("format") != FORMAT:
                raise ModelFileError(f"{path} is not an EBM Studio checkpoint")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except ModelFileError:
        raise
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"checkpoint {path} is unreadable ({exc}); it may be truncated") from None
    except Exception as exc:  # noqa: BLE001 - e.g. a dtype NumPy lacks (F8_E4M3 -> AttributeError)
        raise ModelFileError(f"checkpoint {path} is unreadable ({type(exc).__name__}: {exc}); "
                             "it is damaged") from None
    try:
        meta = {k: json.loads(v) for k, v in header.items() if k != "format"}
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"checkpoint {path} has corrupt metadata ({exc})") from None
    _check_contents(Path(path), tensors, meta)
    return tensors, meta


def _check_contents(path: Path, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Checks before any of a checkpoint is applied: a sane iteration that matches the file
    name, finite model and optimizer tensors. ModelFileError otherwise."""
    if "iteration" in meta:
        it = meta["iteration"]
        if isinstance(it, bool) or not isinstance(it, int) or it < 0:
            raise ModelFileError(f"checkpoint {path} has no valid iteration count ({it!r}); it is damaged")
        named = _NAME.match(path.name)
        if named and int(named.group(1)) != it:
            raise ModelFileError(f"checkpoint {path} says iteration {it} but its name says "
                                 f"{int(named.group(1))}; it is damaged")
    for name, value in tensors.items():
        if value.dtype.kind == "f" and not name.startswith("buffer/") and not np.isfinite(value).all():
            raise ModelFileError(f"checkpoint {path}: tensor {name} holds NaN or inf (the run had diverged); "
                                 "an earlier checkpoint is used where there is one")


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoint files in the folder, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _NAME.match(p.name))


def prune(folder: Path, keep: int) -> None:
    """Keep the newest ``keep`` checkpoints; drop the temporaries of writes a kill interrupted."""
    for old in list_checkpoints(folder)[:-keep]:
        try:
            os.unlink(old)
        except OSError:
            pass
    remove_stale_temporaries(folder)
