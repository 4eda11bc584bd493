"""Optimizers that update parameter arrays in place: Adam (and AdamW), SGD with momentum.

An optimizer holds a list of parameter arrays (NumPy or CuPy, e.g.
``net.parameters()``) and, at each ``step(grads)``, updates them in place from
a list of gradient arrays in the same order. The update rules follow
``torch.optim.Adam``, ``torch.optim.AdamW`` and ``torch.optim.SGD`` (the
single-tensor path); the tests compare trajectories against them.

Every op is written once against the array module of the parameters; state
(moments, scratch) is allocated once in the parameters' dtype and updated with
``out=`` / in-place ops, with Python floats as scalars so float32 stays float32.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from ..backend import get_array_module, to_numpy
from ..errors import ConfigError
from ._checks import real
from .schedules import ConstantSchedule, Schedule, as_schedule


class Optimizer:
    """Base: parameters, a learning-rate schedule, a step count and per-parameter buffers."""

    kind = ""
    #: names of the per-parameter state arrays saved by state_dict()
    buffer_names: tuple[str, ...] = ()

    def __init__(self, params: Sequence[Any], lr: float | Schedule):
        self.params = list(params)
        if not self.params:
            raise ConfigError(f"{self.kind}: there are no parameters to optimize")
        for i, p in enumerate(self.params):
            if getattr(getattr(p, "dtype", None), "kind", None) != "f":
                raise TypeError(f"{self.kind}: parameter {i} must be a floating-point array, got {type(p).__name__} "
                                f"of dtype {getattr(p, 'dtype', None)}")
        if not isinstance(lr, Schedule):
            real(self.kind, "lr", lr, low=0.0, low_open=True)
        self.schedule: Schedule = as_schedule(lr)
        self.step_count = 0
        self.xp = get_array_module(*self.params)
        self.buffers: dict[str, list[Any]] = {
            name: [self.xp.zeros_like(p) for p in self.params] for name in self.buffer_names
        }
        self._scratch = [self.xp.empty_like(p) for p in self.params]

    # --- learning rate ------------------------------------------------------

    @property
    def lr(self) -> float:
        """The learning rate the next step will use."""
        return self.schedule.lr_at(self.step_count)

    def set_lr(self, lr: float | Schedule) -> None:
        """Replace the learning rate (a number: constant from now on) or the schedule."""
        if not isinstance(lr, Schedule):
            real(self.kind, "lr", lr, low=0.0, low_open=True)
        self.schedule = as_schedule(lr)

    # --- stepping -----------------------------------------------------------

    def step(self, grads: Sequence[Any]) -> float:
        """Update every parameter in place from its gradient; returns the learning rate used."""
        grads = list(grads)
        if len(grads) != len(self.params):
            raise ValueError(f"{self.kind}: got {len(grads)} gradients for {len(self.params)} parameters")
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if g.shape != p.shape:
                raise ValueError(f"{self.kind}: gradient {i} has shape {tuple(g.shape)}, "
                                 f"its parameter has {tuple(p.shape)}")
        lr = self.lr
        self.step_count += 1
        for i, (p, g) in enumerate(zip(self.params, grads)):
            self._update(i, p, g, lr)
        return lr

    def _update(self, i: int, p: Any, g: Any, lr: float) -> None:
        raise NotImplementedError

    def zero_state(self) -> None:
        """Forget the moments and the step count (the schedule starts over)."""
        self.step_count = 0
        for bufs in self.buffers.values():
            for b in bufs:
                b.fill(0)

    # --- checkpoints --------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """The hyperparameters as plain data (the schedule as a dict)."""
        return {"schedule": self.schedule.to_dict()}

    def state_dict(self) -> dict[str, Any]:
        """A host copy of everything a resumed run needs.

        {"kind", "step", "lr" (of the next step), "settings" (for reference),
        "buffers": {name: [NumPy arrays in parameter order]}}.
        """
        return {
            "kind": self.kind,
            "step": self.step_count,
            "lr": self.lr,
            "settings": self.settings(),
            "buffers": {name: [to_numpy(b).copy() for b in bufs] for name, bufs in self.buffers.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the step count and buffers (copied into the existing arrays).

        The hyperparameters come from the constructor (the run's config); only a
        constant learning rate is taken from the saved ``lr``, so one changed
        during the run survives a resume. A schedule recomputes it from the step.
        """
        kind = state.get("kind")
        if kind != self.kind:
            raise ConfigError(f"this optimizer state belongs to {kind!r}, not {self.kind!r}: "
                              f"resume with the optimizer the run was started with")
        step = state.get("step")
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ConfigError(f"{self.kind} state: step must be an integer >= 0, got {step!r}")
        saved = state.get("buffers", {})
        if set(saved) != set(self.buffers):
            raise ConfigError(f"{self.kind} state: buffers {sorted(saved)} do not match "
                              f"the expected {sorted(self.buffers)}")
        for name, bufs in self.buffers.items():
            if len(saved[name]) != len(bufs):
                raise ConfigError(f"{self.kind} state: {len(saved[name])} '{name}' arrays for "
                                  f"{len(bufs)} parameters; the model does not match this optimizer state")
            for i, (src, dst) in enumerate(zip(saved[name], bufs)):
                if tuple(src.shape) != tuple(dst.shape):
                    raise ConfigError(f"{self.kind} state: '{name}' {i} has shape {tuple(src.shape)}, "
                                      f"its parameter has {tuple(dst.shape)}")
        for name, bufs in self.buffers.items():
            for src, dst in zip(saved[name], bufs):
                dst[...] = self.xp.asarray(src, dtype=dst.dtype)
        self.step_count = step
        if isinstance(self.schedule, ConstantSchedule) and "lr" in state:
            self.set_lr(state["lr"])

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({len(self.params)} params, step={self.step_count}, {args})"


class Adam(Optimizer):
    """Adam (Kingma & Ba), as ``torch.optim.Adam``; AdamW with ``decoupled_weight_decay=True``.

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
    weight_decay adds weight_decay * p to g (L2, torch.optim.Adam), or, when
    decoupled, multiplies p by (1 - lr * weight_decay) first (torch.optim.AdamW).
    EBM training commonly uses betas=(0.0, 0.999).
    """

    kind = "adam"
    buffer_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, params: Sequence[Any], lr: float | Schedule = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: bool = False):
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ConfigError(f"adam: betas must be a pair (beta1, beta2), each in [0, 1), got {betas!r}")
        self.beta1 = real("adam", "betas[0] (beta1)", betas[0], low=0.0, high=1.0, high_open=True)
        self.beta2 = real("adam", "betas[1] (beta2)", betas[1], low=0.0, high=1.0, high_open=True)
        self.eps = real("adam", "eps", eps, low=0.0)
        self.weight_decay = real("adam", "weight_decay", weight_decay, low=0.0)
        self.decoupled_weight_decay = bool(decoupled_weight_decay)
        super().__init__(params, lr)
        # A second scratch array only where the L2 term makes an effective gradient.
        coupled = self.weight_decay != 0.0 and not self.decoupled_weight_decay
        self._geff = [self.xp.empty_like(p) for p in self.params] if coupled else None

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "betas": [self.beta1, self.beta2], "eps": self.eps,
                "weight_decay": self.weight_decay, "decoupled_weight_decay": self.decoupled_weight_decay}

    def _update(self, i: int, p: Any, g: Any, lr: float) -> None:
        xp, t = self.xp, self.step_count
        m, v, tmp = self.buffers["exp_avg"][i], self.buffers["exp_avg_sq"][i], self._scratch[i]
        b1, b2, wd = self.beta1, self.beta2, self.weight_decay
        if wd != 0.0:
            if self.decoupled_weight_decay:
                p *= 1.0 - lr * wd
            else:
                assert self._geff is not None
                geff = self._geff[i]
                xp.multiply(p, wd, out=geff)
                geff += g
                g = geff
        # m <- lerp(m, g, 1 - b1), rounded as torch.lerp does (so b1 = 0 gives m = g exactly)
        xp.subtract(g, m, out=tmp)
        if b1 > 0.5:
            tmp *= 1.0 - b1
            m += tmp
        else:
            tmp *= 1.0 - (1.0 - b1)
            xp.subtract(g, tmp, out=m)
        # v <- b2 v + (1 - b2) g g
        xp.multiply(g, 1.0 - b2, out=tmp)
        tmp *= g
        v *= b2
        v += tmp
        step_size = lr / (1.0 - b1 ** t)
        bc2_sqrt = math.sqrt(1.0 - b2 ** t)
        xp.sqrt(v, out=tmp)
        tmp /= bc2_sqrt
        tmp += self.eps
        xp.divide(m, tmp, out=tmp)
        tmp *= step_size
        p -= tmp


class SGD(Optimizer):
    """SGD with momentum, dampening, Nesterov and L2 weight decay, as ``torch.optim.SGD``.

    d = g + weight_decay p;  b = d at the first step, else momentum b + (1 - dampening) d;
    d = d + momentum b (Nesterov) or b;  p -= lr d.
    """

    kind = "sgd"

    def __init__(self, params: Sequence[Any], lr: float | Schedule = 1e-2, momentum: float = 0.0,
                 dampening: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0):
        self.momentum = real("sgd", "momentum", momentum, low=0.0, high=1.0, high_open=True)
        self.dampening = real("sgd", "dampening", dampening, low=0.0, high=1.0)
        self.nesterov = bool(nesterov)
        self.weight_decay = real("sgd", "weight_decay", weight_decay, low=0.0)
        if self.nesterov and (self.momentum == 0.0 or self.dampening != 0.0):
            raise ConfigError(f"sgd: nesterov needs momentum > 0 and dampening = 0, "
                              f"got momentum={self.momentum:g}, dampening={self.dampening:g}")
        self.buffer_names = ("momentum_buffer",) if self.momentum != 0.0 else ()
        super().__init__(params, lr)
        self._geff = [self.xp.empty_like(p) for p in self.params] if self.weight_decay != 0.0 else None

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "momentum": self.momentum, "dampening": self.dampening,
                "nesterov": self.nesterov, "weight_decay": self.weight_decay}

    def _update(self, i: int, p: Any, g: Any, lr: float) -> None:
        xp, tmp = self.xp, self._scratch[i]
        if self.weight_decay != 0.0:
            assert self._geff is not None
            geff = self._geff[i]
            xp.multiply(p, self.weight_decay, out=geff)
            geff += g
            g = geff
        d = g
        if self.momentum != 0.0:
            buf = self.buffers["momentum_buffer"][i]
            if self.step_count == 1:
                buf[...] = g
            else:
                buf *= self.momentum
                if self.dampening != 0.0:
                    xp.multiply(g, 1.0 - self.dampening, out=tmp)
                    buf += tmp
                else:
                    buf += g
            if self.nesterov:
                xp.multiply(buf, self.momentum, out=tmp)
                tmp += g
                d = tmp
            else:
                d = buf
        xp.multiply(d, lr, out=tmp)
        p -= tmp


def clip_grad_norm(grads: Sequence[Any], max_norm: float | None, eps: float = 1e-6) -> float:
    """Scale ``grads`` in place so that their global L2 norm is at most ``max_norm``.

    As ``torch.nn.utils.clip_grad_norm_``: total = sqrt(sum of every squared
    entry); if total > max_norm, every gradient is multiplied by
    max_norm / (total + eps). Returns the total norm before clipping (a Python
    float; NaN or inf when a gradient is not finite, which leaves the gradients
    unscaled so the caller can detect the divergence). max_norm None only measures.
    """
    if max_norm is not None:
        max_norm = real("clip_grad_norm", "max_norm", max_norm, low=0.0, low_open=True)
    grads = list(grads)
    if not grads:
        return 0.0
    xp = get_array_module(*grads)
    # One reduction per array, one host transfer for all of them.
    norms = xp.stack([xp.linalg.norm(g.reshape(-1)).astype(xp.float64) for g in grads])
    total = float(xp.sqrt(xp.sum(norms * norms)))
    if max_norm is None or not math.isfinite(total):
        return total
    coef = max_norm / (total + eps)
    if coef < 1.0:
        for g in grads:
            g *= coef
    return total


def make_optimizer(kind: str, params: Sequence[Any], **settings: Any) -> Optimizer:
    """An optimizer by name from plain settings: "adam", "adamw" (decoupled decay) or "sgd"."""
    name = str(kind).strip().lower()
    classes: dict[str, type[Optimizer]] = {"adam": Adam, "adamw": Adam, "sgd": SGD}
    if name not in classes:
        raise ConfigError(f"unknown optimizer {kind!r}; allowed: {sorted(classes)}")
    if name == "adamw":
        settings = {"decoupled_weight_decay": True, **settings}
    if "betas" in settings and isinstance(settings["betas"], list):
        settings["betas"] = tuple(settings["betas"])
    try:
        return classes[name](params, **settings)
    except TypeError as exc:
        if "unexpected keyword" not in str(exc):
            raise
        import inspect  # noqa: PLC0415 - only for the message

        allowed = [p for p in inspect.signature(classes[name]).parameters if p != "params"]
        raise ConfigError(f"{name}: unknown setting(s) in {sorted(settings)}; allowed: {allowed}") from None
