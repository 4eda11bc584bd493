"""The training loop: MCMC maximum likelihood, one small report per iteration.

    for report in Trainer(config, run_dir).run():
        ...   # print it, plot it; call trainer.request_stop() to end early

Each iteration draws chain starts from the replay buffer, runs the sampler on
the current model (negatives), and moves the parameters to lower the energy
of a data batch (positives) and raise that of the negatives:
    L = mean E(x+) - mean E(x-) + alpha (mean E(x+)^2 + mean E(x-)^2)
(JEM adds the classifier's cross-entropy). The loop checks every iteration
for divergence, writes checkpoints every ``checkpoint_every`` iterations and
at the end, and a run restarted from its folder continues exactly.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .. import backend
from ..errors import ConfigError, EBMError, ModelFileError
from ..fileio import atomic_write_text, remove_stale_temporaries
from ..metrics import CurveLog, grid_kl, heldout_nll, mmd2, nearest_neighbors, ood_auroc, true_nll
from ..models.io import save_model
from ..models.jem import JEM
from . import checkpoint as ckpt
from . import memory
from .config import ExperimentConfig, dumps_config
from ..data.dataset import Dataset
from .factory import build_buffer, build_data, build_model, build_sampler
from .loss import contrastive_loss
from .optimizers import clip_grad_norm, make_optimizer
from .report import Report
from .schedules import as_schedule, make_schedule

KEEP_CHECKPOINTS = 3
MAX_ROLLBACKS = 10  # per Trainer: then the run stops with a DivergenceError
N_REPORT_SAMPLES = 64


class DivergenceError(EBMError):
    """Training blew up; the message says which quantity went where and what to try."""


class Trainer:
    def __init__(self, config: ExperimentConfig, run_dir: str | Path | None = None, resume: bool = False,
                 data: tuple[Dataset, Dataset] | None = None):
        self.config = config
        t = config.train
        self.backend_info = backend.set_backend(None if t.backend == "auto" else t.backend)
        self.xp = backend.xp()
        self.dtype = np.dtype(t.dtype)
        self.train_set, self.val_set = data if data is not None else build_data(config)
        self.model = build_model(config.model, self.train_set.input_shape, t.seed, self.dtype)
        if isinstance(self.model, JEM) and self.train_set.y is None:
            raise ConfigError(f"model.kind = 'jem' needs labelled data, and {self.train_set.name} has no labels")
        self._notes: list[str] = []  # said in the next report (a memory fallback)
        self._check_memory()  # before the buffer, the device copy of the data and the activations
        t = self.config.train
        self.sampler = build_sampler(config.sampler)
        self.buffer = build_buffer(config.buffer, self.train_set, self.dtype, self.xp)
        adam_only = {"betas": tuple(t.betas)} if t.optimizer in ("adam", "adamw") else {}  # SGD has no betas
        self.optimizer = make_optimizer(t.optimizer, self.model.parameters(), lr=self._schedule(t.lr),
                                        weight_decay=t.weight_decay, **adam_only)
        self.rng = backend.make_rng(t.seed)
        self.train_x = self.xp.asarray(self.train_set.x, dtype=self.dtype)
        self.train_y = None if self.train_set.y is None else self.xp.asarray(self.train_set.y)
        self.iteration = 0
        self.curves = CurveLog()
        self.last_samples: np.ndarray | None = None
        self._stop = threading.Event()
        self._rollbacks = 0
        self._lr_scale = 1.0  # rollbacks halve the whole learning-rate schedule
        self.run_dir = Path(run_dir) if run_dir is not None else None
        if self.run_dir is not None:
            self._open_run_dir(resume)

    # --- the loop -----------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask :meth:`run` to end after the current iteration (thread-safe)."""
        self._stop.set()

    def run(self, iterations: int | None = None) -> Iterator[Report]:
        """Yield one Report per iteration until ``train.iterations`` (or ``iterations`` more) or a stop."""
        self._stop.clear()
        end = self.config.train.iterations if iterations is None else self.iteration + iterations
        try:
            while self.iteration < end and not self._stop.is_set():
                yield self.step()
        finally:
            if self.run_dir is not None and self.iteration > 0:
                self.save()

    def step(self) -> Report:
        """One iteration (see :meth:`_step`); running out of memory halves the batch and retries."""
        while True:
            before = self.iteration
            try:
                report = self._step()
                break
            except Exception as exc:
                if not memory.is_out_of_memory(exc):
                    raise
                if self.iteration != before:  # the update is done: evaluating or saving failed, and
                    # a smaller batch would not help them (a retry would run one iteration too many)
                    raise memory.MemoryLimitError(
                        f"out of memory while evaluating or saving after iteration {self.iteration} "
                        f"({type(exc).__name__}: {exc}); free memory, then resume the run") from exc
                self._shrink_batch(exc)
        if self._notes:
            report = dataclasses.replace(report, message="; ".join([*self._notes, report.message]).strip("; "))
            self._notes = []
        return report

    def _step(self) -> Report:
        """One iteration: sample negatives, update the parameters, check, maybe evaluate/save."""
        t = self.config.train
        start = time.perf_counter()
        x_pos, y_pos = self._data_batch(t.batch_size)
        x_neg, acceptance = self._negatives(t.batch_size)
        self.model.power_iteration()
        if isinstance(self.model, JEM):
            out = self.model.loss_and_grads(x_pos, y_pos, x_pos, x_neg, alpha=t.alpha, gen_weight=t.jem_gen_weight)
            loss, e_pos, e_neg, accuracy = out.total, out.energy_pos, out.energy_neg, out.accuracy
        else:
            b = x_pos.shape[0]
            e = self.model.forward(self.xp.concatenate([x_pos, x_neg]), param_grads=True)
            loss, g_pos, g_neg = contrastive_loss(e[:b], e[b:], t.alpha)
            self.model.backward(self.xp.concatenate([g_pos, g_neg]), param_grads=True, input_grad=False)
            e_pos, e_neg, accuracy = float(e[:b].mean()), float(e[b:].mean()), None
        grads = self.model.gradients()
        grad_norm = clip_grad_norm(grads, t.grad_clip or None)
        problem = self._divergence(loss, e_pos, e_neg, grad_norm)
        if problem:
            return self._diverged(problem, start)
        lr = self.optimizer.step(grads)
        self.iteration += 1
        return self._finish_iteration(loss, e_pos, e_neg, grad_norm, lr, acceptance, accuracy, start, x_neg)

    # --- memory ------------------------------------------------------------------------

    def _check_memory(self) -> None:
        """Refuse a run whose estimate does not fit, or lower its batch (train.on_memory)."""
        net = self.model.net if isinstance(self.model, JEM) else self.model
        on_device = self.xp is not np
        host = memory.available_host_bytes()
        device = memory.available_device_bytes(self.xp) if on_device else None
        sizes = dict(itemsize=self.dtype.itemsize, on_device=on_device)
        n_train, n_val = len(self.train_set), len(self.val_set)
        est = memory.estimate(self.config, net, n_train, n_val, **sizes)
        problem = memory.check(est, host, device)
        if not problem:
            return
        if self.config.train.on_memory == "smaller_batch":
            b = memory.fitting_batch(self.config, net, n_train, n_val, host_available=host,
                                     device_available=device, **sizes)
            if b is not None:
                self._notes.append(f"batch size lowered from {est.batch_size} to {b} to fit in memory "
                                   f"(train.on_memory = 'smaller_batch'): {problem.split('. ')[0]}")
                self.config = self.config.replace(train={"batch_size": b})
                return
        raise memory.MemoryLimitError(problem)

    def _shrink_batch(self, exc: BaseException) -> None:
        """After an out-of-memory error: free cached GPU blocks and halve the batch (MemoryLimitError at 1)."""
        memory.release_cached(self.xp)
        b = self.config.train.batch_size
        where = "GPU memory" if self.xp is not np else "memory"
        if b <= memory.MIN_BATCH:
            raise memory.MemoryLimitError(f"out of {where} at iteration {self.iteration + 1} even with batch size "
                                          f"{b} ({type(exc).__name__}: {exc}); use a smaller model or free memory")
        new = max(memory.MIN_BATCH, b // 2)
        self.config = self.config.replace(train={"batch_size": new})
        if self.run_dir is not None:  # a resumed run goes on with the batch that fits
            atomic_write_text(self.run_dir / "config.toml", dumps_config(self.config))
        self._notes.append(f"out of {where} at iteration {self.iteration + 1} with batch size {b} "
                           f"({type(exc).__name__}); continuing with batch size {new}")

    # --- pieces of an iteration -----------------------------------------------------

    def _schedule(self, lr: float) -> Any:
        t = self.config.train
        if t.schedule == "step":
            return make_schedule("step", lr=lr, step_size=max(1, t.iterations // 3), gamma=0.3)
        if t.schedule == "cosine":
            return make_schedule("cosine", lr=lr, total_steps=t.iterations, min_lr=lr * 0.01)
        return lr

    def _data_batch(self, n: int) -> tuple[Any, Any]:
        idx = self.rng.integers(0, self.train_x.shape[0], size=n)
        return self.train_x[idx], (None if self.train_y is None else self.train_y[idx])

    def _negatives(self, n: int) -> tuple[Any, float | None]:
        if self.buffer is not None:
            x0, idx = self.buffer.sample(n, self.rng, data=self.train_x)
        else:
            lo, hi = self.train_set.value_range
            x0 = self.rng.uniform(lo, hi, size=(n, *self.train_set.input_shape)).astype(self.dtype)
        result = self.sampler.run(self.model, x0, self.rng)
        if self.buffer is not None:
            self.buffer.push(result.x, idx)
        return result.x, result.acceptance

    def _divergence(self, loss: float, e_pos: float, e_neg: float, grad_norm: float) -> str:
        limit = self.config.train.max_energy
        for name, value in (("the loss", loss), ("E(x+)", e_pos), ("E(x-)", e_neg), ("the gradient norm", grad_norm)):
            if not math.isfinite(value):
                return f"{name} became {value}"
        for name, value in (("E(x+)", e_pos), ("E(x-)", e_neg)):
            if abs(value) > limit:
                return f"{name} reached {value:.3g} (limit train.max_energy = {limit:g})"
        return ""

    def _diverged(self, problem: str, start: float) -> Report:
        it = self.iteration + 1
        advice = ("try a smaller sampler.step_size or train.lr, a larger train.alpha, or gradient clipping "
                  "(sampler.clip_grad, train.grad_clip)")
        if self.config.train.on_divergence == "rollback" and self._rollbacks < MAX_ROLLBACKS:
            scale, step = self._lr_scale * 0.5, self.sampler.step_size * 0.5  # halvings add up over rollbacks
            # only the negatives blew up (E(x+) and the loss were fine): the parameters of this
            # iteration are good, so its own checkpoint is a place to go back to, with a smaller step
            negatives_only = problem.startswith("E(x-)")
            for path in self._rollback_candidates(include_current=negatives_only):
                try:
                    self._load_checkpoint(path)
                except EBMError:
                    continue
                self._discard_checkpoints_after(path)
                self._rollbacks += 1
                self._set_lr_scale(scale)
                self._set_sampler_step(step)
                message = (f"training diverged at iteration {it}: {problem}; rolled back to iteration "
                           f"{self.iteration} and halved the learning rate and the sampler step "
                           f"(now lr {self.optimizer.lr:.3g}, step {self.sampler.step_size:.3g})")
                return Report(self.iteration, math.nan, math.nan, math.nan, math.nan, self.optimizer.lr,
                              time.perf_counter() - start, message=message)
        good = next(iter(self._rollback_candidates()), None)
        where = "" if good is None else f"; the last good checkpoint is {good}"
        if self._rollbacks >= MAX_ROLLBACKS:
            where += f" (gave up after {self._rollbacks} rollbacks)"
        raise DivergenceError(f"training diverged at iteration {it}: {problem}. To fix it, {advice}{where}.")

    def _rollback_candidates(self, include_current: bool = False) -> list[Path]:
        """Checkpoints older than the current state (or as old, with ``include_current``), newest first.

        The check runs before the update, on the parameters of iteration ``self.iteration``:
        a checkpoint of that iteration holds the very state that diverged, and rolling
        back to it would diverge again, for ever, unless only the sampler's negatives blew up.
        """
        if self.run_dir is None:
            return []
        current = ckpt.checkpoint_path(self.checkpoint_dir, self.iteration).name
        return [p for p in reversed(ckpt.list_checkpoints(self.checkpoint_dir))
                if p.name < current or (include_current and p.name == current)]

    def _discard_checkpoints_after(self, path: Path) -> None:
        """Delete checkpoints newer than ``path``: they lead to the divergence (and resume would pick them)."""
        for newer in ckpt.list_checkpoints(self.checkpoint_dir):
            if newer.name > path.name:
                newer.unlink(missing_ok=True)

    def _set_lr_scale(self, scale: float) -> None:
        """The configured schedule times ``scale``: a cosine or step schedule keeps its shape."""
        self._lr_scale = scale
        self.optimizer.set_lr(as_schedule(self._schedule(self.config.train.lr)).scaled(scale))

    def _set_sampler_step(self, step_size: float) -> None:
        s = self.sampler
        if step_size != s.step_size:
            self.sampler = type(s)(**{**s.__dict__, "step_size": step_size})

    def _finish_iteration(self, loss: float, e_pos: float, e_neg: float, grad_norm: float, lr: float,
                          acceptance: float | None, accuracy: float | None, start: float, x_neg: Any) -> Report:
        t = self.config.train
        it = self.iteration
        samples = None
        if it % t.samples_every == 0 or it == t.iterations:
            samples = backend.to_numpy(x_neg[:N_REPORT_SAMPLES]).copy()
            self.last_samples = samples
        metrics = self.evaluate() if it % t.eval_every == 0 or it == t.iterations else {}
        save_now = self.run_dir is not None and it % t.checkpoint_every == 0
        message = f"checkpoint saved at iteration {it}" if save_now else ""
        report = Report(it, loss, e_pos, e_neg, grad_norm, lr, time.perf_counter() - start,
                        acceptance=acceptance, accuracy=accuracy, metrics=metrics, samples=samples, message=message)
        self.curves.append(it, {k: v for k, v in report.scalars().items() if k not in ("iteration", "message")})
        if save_now:  # after the curves have this iteration's row: a resume from here must not lose it
            self.save_checkpoint()
        return report

    # --- evaluation -------------------------------------------------------------------

    def evaluate(self, on: Dataset | None = None) -> dict[str, float]:
        """Validation metrics (or the same metrics on another dataset ``on``, e.g. the training set).

        Every model: mean energy of validation data (e_data, to set against the
        training E(x+)); 2D: exact NLL and KL on a grid; every model: MMD between buffer samples and
        validation data; images: mean nearest-neighbour distance of buffer samples to
        the training set (a memorisation check) and the AUROC of telling validation
        images from uniform noise by energy; JEM: classification accuracy.
        """
        v = self.val_set if on is None else on
        out: dict[str, float] = {}
        val = v.x[:2000]
        if len(val) == 0:
            return out
        if isinstance(self.model, JEM) and v.y is not None:
            out["accuracy"] = self.model.accuracy(self.xp.asarray(v.x, dtype=self.dtype), self.xp.asarray(v.y))
        # E on held-out data next to the training batches' E(x+): a gap that opens means overfitting
        out["e_data"] = float(backend.to_numpy(self.model.energy(self.xp.asarray(val[:1000], dtype=self.dtype))).mean())
        box, log_prob = self.train_set.meta.get("box"), self.train_set.meta.get("log_prob")
        if box is not None:
            out["nll"] = heldout_nll(self.model, self.xp.asarray(val, dtype=self.dtype), box, resolution=256)
            if log_prob is not None:
                out["true_nll"] = true_nll(log_prob, val)
                out["kl"] = grid_kl(log_prob, self.model, box, resolution=256)
        filled = None if self.buffer is None else self.buffer.filled_indices()[:500]
        if filled is not None and len(filled) > 0:  # never-written slots are not samples
            fake = backend.to_numpy(self.buffer.take(filled))
            out["mmd"] = mmd2(fake, val[:500])
            if val.ndim == 4:
                out["nn_distance"] = float(nearest_neighbors(fake[:100], self.train_set.x[:2000])[0].mean())
        if val.ndim == 4:
            lo, hi = v.value_range
            noise = np.random.default_rng(0).uniform(lo, hi, size=val[:500].shape).astype(self.dtype)
            energy = self.model.energy
            e_in = backend.to_numpy(energy(self.xp.asarray(val[:500], dtype=self.dtype)))
            out["ood_auroc_noise"] = ood_auroc(e_in, backend.to_numpy(energy(self.xp.asarray(noise))))
        return out

    # --- files ------------------------------------------------------------------------

    @property
    def checkpoint_dir(self) -> Path:
        assert self.run_dir is not None
        return self.run_dir / "checkpoints"

    def _open_run_dir(self, resume: bool) -> None:
        assert self.run_dir is not None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.run_dir)  # half-written files of a process that was killed
        existing = ckpt.list_checkpoints(self.checkpoint_dir)
        if resume:
            problems = []
            for path in reversed(existing):  # newest intact checkpoint wins
                try:
                    self._load_checkpoint(path)
                    self.last_samples = self._saved_samples()
                    return
                except EBMError as exc:
                    problems.append(str(exc))
            if problems:  # never restart from scratch (over a half-loaded state) without saying so
                raise ModelFileError(f"{self.run_dir} holds no intact checkpoint to resume from: "
                                     f"{'; '.join(problems)}. Start a new run in another folder")
        elif existing:
            raise ConfigError(f"{self.run_dir} already holds a run: resume it, or choose a new folder")
        atomic_write_text(self.run_dir / "config.toml", dumps_config(self.config))

    def _saved_samples(self) -> np.ndarray | None:
        """The samples the run last saved (samples.npy), so a reopened run shows them before it
        samples again; None when the file is missing or does not fit the data (it is only a picture)."""
        path = self.run_dir / "samples.npy"
        try:
            x = np.load(path, allow_pickle=False)
        except Exception:  # noqa: BLE001 - a damaged picture must not stop a resume (NumPy raises many kinds)
            return None
        ok = x.ndim >= 2 and tuple(x.shape[1:]) == tuple(self.train_set.input_shape) and x.dtype.kind == "f"
        return x[:N_REPORT_SAMPLES].astype(self.dtype) if ok and np.isfinite(x).all() else None

    def save_checkpoint(self) -> Path:
        tensors: dict[str, np.ndarray] = {}
        for name, value in self.model.state_dict().items():
            tensors[f"model/{name}"] = backend.to_numpy(value)
        opt = self.optimizer.state_dict()
        for name, arrays in opt.pop("buffers").items():
            for i, a in enumerate(arrays):
                tensors[f"optim/{name}/{i}"] = a
        curves, curve_meta = self.curves.to_arrays()  # as tensors: a CSV in the header grew without bound
        tensors.update({f"curves/{name}": a for name, a in curves.items()})
        meta: dict[str, Any] = {"iteration": self.iteration, "optimizer": opt, "rng": _rng_state(self.rng),
                                "curve_columns": curve_meta, "sampler_step": self.sampler.step_size,
                                "lr_scale": self._lr_scale}
        if self.buffer is not None:
            b = self.buffer.state_dict()
            tensors["buffer/samples"], tensors["buffer/valid"] = b.pop("samples"), b.pop("valid")
            meta["buffer"] = b
        path = ckpt.checkpoint_path(self.checkpoint_dir, self.iteration)
        ckpt.write_checkpoint(path, tensors, meta)
        ckpt.prune(self.checkpoint_dir, KEEP_CHECKPOINTS)
        return path

    def _load_checkpoint(self, path: Path) -> None:
        tensors, meta = ckpt.read_checkpoint(path)
        try:
            self._apply_checkpoint(tensors, meta, path)
        except EBMError:
            raise
        except (KeyError, ValueError, TypeError, IndexError, AttributeError, OverflowError) as exc:
            raise ModelFileError(f"checkpoint {path} does not fit this run ({type(exc).__name__}: {exc}); "
                                 "it is damaged or from another experiment") from None

    def _apply_checkpoint(self, tensors: dict[str, np.ndarray], meta: dict[str, Any], path: Path) -> None:
        model_state = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
        self.model.load_state_dict(model_state)
        opt = dict(meta["optimizer"])
        buffers: dict[str, list[np.ndarray]] = {}
        for key, value in tensors.items():
            if key.startswith("optim/"):
                _, name, i = key.split("/")
                buffers.setdefault(name, []).append((int(i), value))
        opt["buffers"] = {name: [v for _, v in sorted(items, key=lambda p: p[0])] for name, items in buffers.items()}
        self.optimizer.load_state_dict(opt)
        if self.buffer is not None and "buffer" in meta:
            self.buffer.load_state_dict({**meta["buffer"], "samples": tensors["buffer/samples"],
                                         "valid": tensors["buffer/valid"]})
        _set_rng_state(self.rng, meta["rng"])
        self.curves = read_curves(tensors, meta, str(path))
        if "sampler_step" in meta:
            self._set_sampler_step(meta["sampler_step"])
        if "lr_scale" in meta:  # older checkpoints: a constant rate is restored by the optimizer
            self._set_lr_scale(float(meta["lr_scale"]))
        self.iteration = int(meta["iteration"])

    def save(self) -> None:
        """Checkpoint plus the files a user opens: model, metrics, last samples."""
        assert self.run_dir is not None
        self.save_checkpoint()
        net = self.model.net if isinstance(self.model, JEM) else self.model
        save_model(self.run_dir / "model.safetensors", net)
        atomic_write_text(self.run_dir / "model.json", net.to_json())
        self.curves.write_csv(self.run_dir / "metrics.csv")
        if self.last_samples is not None:
            from ..export import save_samples_npy  # noqa: PLC0415

            save_samples_npy(self.last_samples, self.run_dir / "samples.npy")


def read_curves(tensors: dict[str, Any], meta: dict[str, Any], source: str) -> CurveLog:
    """The learning curves a checkpoint holds: tensors (now), a CSV in the header (older files), or none."""
    if "curve_columns" in meta:
        prefix = "curves/"
        columns = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        return CurveLog.from_arrays(columns, meta["curve_columns"], source)
    return CurveLog.from_csv(meta["curves"], source=source) if meta.get("curves") else CurveLog()


def _rng_state(rng: Any) -> Any:
    bit_gen = getattr(rng, "bit_generator", None)
    return bit_gen.state if bit_gen is not None and isinstance(bit_gen.state, dict) else None


def _set_rng_state(rng: Any, state: Any) -> None:
    if state is not None:
        rng.bit_generator.state = state
