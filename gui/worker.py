"""Training off the GUI thread.

A QThread owns the Trainer and every engine array; the GUI talks to it only
through a command queue and listens to its signals (queued across threads),
which carry small host copies: batches of reports (at most ~25 per second),
the energy landscape (at most a few per second), chains, state changes and
errors. The GUI thread never waits on the worker.
"""

from __future__ import annotations

import dataclasses
import math
import queue
import sys
import time
import traceback
from typing import Any

import numpy as np
from PySide6.QtCore import QThread, Signal

from engine import backend
from engine.errors import EBMError
from engine.metrics import grid_energy
from engine.ops import blas
from engine.samplers.base import Record
from engine.training.config import ExperimentConfig
from engine.training.factory import build_sampler
from engine.training.report import Report
from engine.training.trainer import Trainer

from .session import Chain, Landscape

# The worker holds the GIL between NumPy calls; a shorter switch interval than Python's 5 ms
# lets the GUI thread in sooner, so events do not queue up behind training.
sys.setswitchinterval(0.002)

REPORT_INTERVAL = 0.04  # s between report batches (25 per second at most)
LANDSCAPE_INTERVAL = 0.3  # s between landscape refreshes while training
BUFFER_INTERVAL = 1.0  # s between replay-buffer snapshots while training
LANDSCAPE_RESOLUTION = 128
PREVIEW_POINTS = 2000
PREVIEW_IMAGES = 64


class TrainingWorker(QThread):
    reports = Signal(list)  # list[Report]
    landscape = Signal(object)  # Landscape
    chain = Signal(object)  # Chain
    buffer_samples = Signal(object)  # (n, *shape) random entries of the replay buffer
    data_ready = Signal(object, object, object, object)  # preview, labels, box, value_range
    state = Signal(str)  # "starting", "running", "paused", "finished", "error", "failed" (could not start), "stopped"
    error = Signal(str, str)  # (message for a dialog, details for the log)
    progress = Signal(int, int, float)  # iteration, total, it/s
    backend_info = Signal(str)
    saved = Signal(str)  # run folder after a save
    exported = Signal(str)  # path of an exported model

    def __init__(self, config: ExperimentConfig, run_dir: str, resume: bool = False, parent: Any = None):
        super().__init__(parent)
        self.config = config
        self.run_dir = run_dir
        self.resume = resume
        self._commands: queue.Queue = queue.Queue()
        self._rate = 0.0

    # --- commands (any thread) -------------------------------------------------------

    def train(self) -> None:
        self._commands.put(("train",))

    def pause(self) -> None:
        self._commands.put(("pause",))

    def step_once(self) -> None:
        self._commands.put(("step",))

    def stop(self) -> None:
        """Save and end the thread (after the current iteration)."""
        self._commands.put(("stop",))

    def update_settings(self, config: ExperimentConfig) -> None:
        """New learning rate / sampler / schedule settings, applied between iterations."""
        self._commands.put(("settings", config))

    def request_chain(self, x0: np.ndarray, n_steps: int) -> None:
        """Run the sampler from x0 (one state, (*input_shape)) and emit the chain."""
        self._commands.put(("chain", np.asarray(x0, dtype=np.float64), int(n_steps)))

    def request_landscape(self) -> None:
        self._commands.put(("landscape",))

    def save_run(self) -> None:
        """Checkpoint and write the run folder's files now; ``saved`` follows."""
        self._commands.put(("save",))

    def export_model(self, path: str, fmt: str) -> None:
        """Write the model as "safetensors" or "onnx"; ``exported`` or ``error`` follows."""
        self._commands.put(("export", path, fmt))

    # --- the thread ------------------------------------------------------------------

    def run(self) -> None:  # noqa: C901 - one loop, one place for the worker's states
        self.state.emit("starting")
        try:
            trainer = Trainer(self.config, run_dir=self.run_dir, resume=self.resume)
        except EBMError as exc:
            self.error.emit(str(exc), str(exc))
            self.state.emit("failed")  # the thread ends here: nothing to train until a new start
            return
        except Exception as exc:  # noqa: BLE001 - shown in a dialog, never a traceback
            self.error.emit(f"Could not start the experiment: {exc}", traceback.format_exc())
            self.state.emit("failed")
            return
        self.trainer = trainer
        self.backend_info.emit(_backend_text(trainer))
        self._emit_data(trainer)
        if trainer.iteration > 0:  # resumed: show where it stands
            self.reports.emit(list(_history_reports(trainer)))
        self._emit_landscape(trainer)
        self.progress.emit(trainer.iteration, self.config.train.iterations, 0.0)
        running = False
        pending: list = []
        last_flush = last_landscape = last_buffer = time.perf_counter()
        self.state.emit("paused")
        while True:
            try:
                command = self._commands.get(block=not running)
            except queue.Empty:
                command = None
            if command is not None:
                kind = command[0]
                if kind == "stop":
                    self._flush(pending)
                    self._save(trainer)
                    self.state.emit("stopped")
                    return
                if kind == "train":
                    running = trainer.iteration < self.config.train.iterations
                    self.state.emit("running" if running else "finished")
                elif kind == "pause":
                    running = False
                    self._flush(pending)
                    self._emit_landscape(trainer)
                    self._emit_buffer(trainer)
                    self.state.emit("paused")
                elif kind == "step":
                    running = False
                    ok = self._iterate(trainer, pending)
                    self._flush(pending)
                    if ok:
                        self._emit_landscape(trainer)
                    self.state.emit("paused" if ok else "error")
                elif kind == "settings":
                    finished = trainer.iteration >= self.config.train.iterations
                    self._apply_settings(trainer, command[1])
                    if finished and trainer.iteration < self.config.train.iterations:
                        self.state.emit("paused")  # more iterations asked for: training can go on
                    self.progress.emit(trainer.iteration, self.config.train.iterations, self._rate)
                elif kind == "chain":
                    self._run_chain(trainer, command[1], command[2])
                elif kind == "landscape":
                    self._emit_landscape(trainer)
                elif kind == "save":
                    self._flush(pending)
                    self._save(trainer)
                elif kind == "export":
                    self._export(trainer, command[1], command[2])
                continue  # look for more commands before the next iteration
            if not running:
                continue
            if not self._iterate(trainer, pending):
                running = False
                self._flush(pending)
                self.state.emit("error")
                continue
            now = time.perf_counter()
            if now - last_flush >= REPORT_INTERVAL:
                self._flush(pending)
                last_flush = now
            if now - last_landscape >= LANDSCAPE_INTERVAL:
                self._emit_landscape(trainer)
                last_landscape = time.perf_counter()
            if now - last_buffer >= BUFFER_INTERVAL:
                self._emit_buffer(trainer)
                last_buffer = time.perf_counter()
            if trainer.iteration >= self.config.train.iterations:
                running = False
                self._flush(pending)
                self._emit_landscape(trainer)
                self._save(trainer)
                self.state.emit("finished")

    # --- pieces -----------------------------------------------------------------------

    def _iterate(self, trainer: Trainer, pending: list) -> bool:
        """One iteration into ``pending``; False (and an error signal) when it failed."""
        start = time.perf_counter()
        try:
            pending.append(trainer.step())
        except EBMError as exc:
            self.error.emit(str(exc), str(exc))
            return False
        except Exception as exc:  # noqa: BLE001
            self.error.emit(f"Training stopped: {type(exc).__name__}: {exc}", traceback.format_exc())
            return False
        dt = time.perf_counter() - start
        self._rate = 1.0 / dt if self._rate == 0.0 else 0.9 * self._rate + 0.1 / max(dt, 1e-9)
        return True

    def _flush(self, pending: list) -> None:
        if pending:
            self.reports.emit(list(pending))
            self.progress.emit(pending[-1].iteration, self.config.train.iterations, self._rate)
            pending.clear()

    def _save(self, trainer: Trainer) -> None:
        if trainer.iteration > 0:
            try:
                trainer.save()
                self.saved.emit(str(trainer.run_dir))
            except (EBMError, OSError) as exc:
                self.error.emit(f"Could not save the run: {exc}", traceback.format_exc())

    def _export(self, trainer: Trainer, path: str, fmt: str) -> None:
        from engine.export import export_onnx  # noqa: PLC0415 - onnx only when asked
        from engine.models.io import save_model  # noqa: PLC0415
        from engine.models.jem import JEM  # noqa: PLC0415

        net = trainer.model.net if isinstance(trainer.model, JEM) else trainer.model
        try:
            export_onnx(net, path) if fmt == "onnx" else save_model(path, net)
        except (EBMError, OSError) as exc:
            self.error.emit(f"Could not export the model: {exc}", traceback.format_exc())
            return
        self.exported.emit(path)

    def _emit_buffer(self, trainer: Trainer) -> None:
        if trainer.buffer is None or len(trainer.train_set.input_shape) != 3:
            return
        filled = backend.to_numpy(trainer.buffer.filled_indices())
        if len(filled) == 0:
            return
        idx = np.sort(np.random.default_rng().choice(filled, size=min(PREVIEW_IMAGES, len(filled)), replace=False))
        self.buffer_samples.emit(backend.to_numpy(trainer.buffer.take(backend.xp().asarray(idx))).copy())

    def _emit_data(self, trainer: Trainer) -> None:
        data = trainer.train_set
        rng = np.random.default_rng(0)
        n = PREVIEW_IMAGES if len(data.input_shape) == 3 else PREVIEW_POINTS
        idx = np.sort(rng.choice(len(data), size=min(n, len(data)), replace=False))
        labels = None if data.y is None else data.y[idx].copy()
        self.data_ready.emit(data.x[idx].copy(), labels, data.meta.get("box"), data.value_range)

    def _emit_landscape(self, trainer: Trainer) -> None:
        box = trainer.train_set.meta.get("box")
        if box is None and trainer.train_set.input_shape == (2,):
            lo, hi = trainer.train_set.value_range
            box = (lo, hi, lo, hi)
        if box is None:
            return
        try:
            e, xs, ys, area = grid_energy(trainer.model, box, LANDSCAPE_RESOLUTION)
        except EBMError:
            return
        finite = np.isfinite(e)
        if not finite.all():
            e = np.where(finite, e, np.nanmax(np.where(finite, e, -np.inf)))
        m = float((-e).max())
        log_z = m + math.log(float(np.exp(-e - m).sum())) + math.log(area)
        self.landscape.emit(Landscape(trainer.iteration, e, xs, ys, log_z))

    def _apply_settings(self, trainer: Trainer, config: ExperimentConfig) -> None:
        trainer.optimizer.set_lr(config.train.lr)
        trainer.sampler = build_sampler(config.sampler)
        trainer.config = trainer.config.replace(sampler=vars(config.sampler).copy(),
                                                train={"lr": config.train.lr, "iterations": config.train.iterations,
                                                       "alpha": config.train.alpha})
        self.config = trainer.config

    def _run_chain(self, trainer: Trainer, x0: np.ndarray, n_steps: int) -> None:
        try:
            start = backend.xp().asarray(x0.reshape(1, *trainer.train_set.input_shape), dtype=trainer.dtype)
            result = trainer.sampler.run(trainer.model, start, backend.make_rng(None), n_steps=n_steps,
                                         record=Record(energies=True, chain_ids=(0,), every=1))
        except EBMError as exc:
            self.error.emit(str(exc), str(exc))
            return
        states = result.chain_states[:, 0]
        energies = result.chain_energies[:, 0]
        self.chain.emit(Chain(states, energies, self.config.sampler.kind, result.acceptance))


def _backend_text(trainer: Trainer) -> str:
    """The backend line for the window, with the library that runs the GEMMs on the CPU."""
    info = trainer.backend_info
    if info.name != "numpy":
        return str(info)
    return f"{info}, GEMMs by {blas.gemm_library().split(' (')[0]}"


def _history_reports(trainer: Trainer) -> list[Report]:
    """Reports rebuilt from a resumed run's curves, so its plots come back."""
    out = []
    for row in trainer.curves.rows:
        values = {k: v for k, v in row.items() if isinstance(v, (int, float))}
        it = int(values.pop("iteration"))
        metrics = {k[4:]: v for k, v in values.items() if k.startswith("val_")}

        def get(key: str) -> float:
            return float(values.get(key, math.nan))

        out.append(Report(it, get("loss"), get("e_pos"), get("e_neg"), get("grad_norm"), get("lr"),
                          get("seconds"), acceptance=values.get("acceptance"), accuracy=values.get("accuracy"),
                          metrics=metrics))
    if out and trainer.last_samples is not None:
        out[-1] = dataclasses.replace(out[-1], samples=trainer.last_samples)
    return out
