"""JEM: a classifier read as an energy-based model (Grathwohl et al., 2020).

A network f maps x: (N, *input_shape) to K logits f(x): (N, K). JEM reads

    E(x, y) = -f(x)[y]                    (joint:       p(x, y) ~ exp(f(x)[y]))
    E(x)    = -logsumexp_y f(x)[y]        (marginal:    p(x) ~ sum_y exp(f(x)[y]))
    p(y | x) = softmax(f(x))[y]           (the classifier, unchanged)

and trains with the hybrid loss

    L = CE(f(x_lab), y) + gen_weight * [mean E(x+) - mean E(x-) + alpha (mean E(x+)^2 + mean E(x-)^2)]

where x+ are data (usually the labelled batch itself, or unlabelled data) and
x- are samples drawn from the model by Langevin dynamics on E(x) (or on
E(x, y) for class-conditional samples). The bracket is the project's
contrastive loss (engine.training.loss); alpha = 0 gives the plain JEM
generative term.

The network is an :class:`~engine.models.energy_net.EnergyNet` whose last layer
has K outputs; gradients of a (N, K) output gradient run through its layers'
own backward, with the network's layout conversions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from ..backend import DEFAULT_DTYPE, get_array_module
from ..errors import ConfigError
from ..layers import Layer
from ..training.loss import contrastive_loss
from .energy_net import EnergyNet


def logsumexp(f: Any) -> Any:
    """log sum_k exp(f[:, k]), stable: f: (N, K) -> (N,)."""
    xp = get_array_module(f)
    m = f.max(axis=1)
    return m + xp.log(xp.exp(f - m[:, None]).sum(axis=1))


def softmax(f: Any) -> Any:
    """Row-wise softmax: f: (N, K) -> (N, K)."""
    xp = get_array_module(f)
    p = xp.exp(f - f.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return p


def cross_entropy(logits: Any, y: Any) -> tuple[float, Any]:
    """Mean cross-entropy -mean log softmax(logits)[y] and its gradient.

    logits: (N, K); y: (N,) integer labels in [0, K) -> (loss, dL/dlogits: (N, K)).
    """
    xp = get_array_module(logits)
    n = logits.shape[0]
    rows = xp.arange(n)
    lse = logsumexp(logits)
    loss = float((lse - logits[rows, y]).mean())
    g = softmax(logits)
    g[rows, y] -= 1.0
    g *= 1.0 / n
    return loss, g


@dataclass(frozen=True)
class JEMLoss:
    """The pieces of one hybrid-loss evaluation (plain floats)."""

    total: float  # cross_entropy + gen_weight * generative
    cross_entropy: float  # mean CE on the labelled batch (0 without one)
    generative: float  # mean E(x+) - mean E(x-) + alpha (...), 0 without x+/x-
    energy_pos: float  # mean E(x+) (nan without x+)
    energy_neg: float  # mean E(x-) (nan without x-)
    accuracy: float  # on the labelled batch (nan without one)


class JEM:
    """A K-class classifier network read as an energy (satisfies the Energy protocol).

    network: an EnergyNet with K >= 2 outputs per sample, or its config
        (then built with ``seed``, ``dtype``, ``xp``).
    """

    def __init__(self, network: EnergyNet | dict[str, Any], seed: int | None = 0, dtype: Any = DEFAULT_DTYPE,
                 xp: Any = None):
        self.net = network if isinstance(network, EnergyNet) else EnergyNet(network, seed=seed, dtype=dtype, xp=xp)
        if self.net.output_size < 2:
            raise ConfigError(f"JEM needs a classifier with at least 2 outputs (one logit per class); "
                              f"this network has {self.net.output_size}")
        self.input_shape: tuple[int, ...] = self.net.input_shape
        self.num_classes: int = self.net.output_size

    # --- the network's parameters (for optimizers and model files) ------------------------------

    @property
    def layers(self) -> list[Layer]:
        return self.net.layers

    @property
    def dtype(self) -> Any:
        return self.net.dtype

    @property
    def config(self) -> dict[str, Any]:
        return self.net.config

    def named_params(self) -> Iterator[tuple[str, Layer, str]]:
        return self.net.named_params()

    def parameters(self) -> list[Any]:
        return self.net.parameters()

    def gradients(self) -> list[Any]:
        return self.net.gradients()

    def state_dict(self) -> dict[str, Any]:
        return self.net.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state)

    def power_iteration(self) -> None:
        self.net.power_iteration()

    def to_json(self) -> str:
        return self.net.to_json()

    # --- evaluation --------------------------------------------------------------------------

    def logits(self, x: Any) -> Any:
        """f(x): (N, K) for x: (N, *input_shape); nothing saved."""
        return self.net.outputs(x)

    def energy(self, x: Any) -> Any:
        """E(x) = -logsumexp_y f(x)[y]: (N,)."""
        return -logsumexp(self.net.outputs(x))

    def energy_xy(self, x: Any, y: Any, check: bool = True) -> Any:
        """E(x, y) = -f(x)[y]: (N,); y: an int or (N,) labels (range-checked unless check=False)."""
        f = self.net.outputs(x)
        xp = get_array_module(f)
        y = self._labels(y, f.shape[0], xp, check)
        return -f[xp.arange(f.shape[0]), y]

    def energy_and_grad(self, x: Any, y: Any = None, check: bool = True) -> tuple[Any, Any]:
        """(E: (N,), dE/dx: x.shape), no parameter gradients.

        y None: the marginal E(x) = -logsumexp f(x), dE/df = -softmax f(x).
        y an int or (N,) labels: the conditional E(x, y) = -f(x)[y], dE/df = -onehot(y),
        for class-conditional sampling.
        """
        f = self.net.outputs(x, save=True, param_grads=False)
        xp = get_array_module(f)
        if y is None:
            e = -logsumexp(f)
            g = softmax(f)
            g *= -1.0
        else:
            y = self._labels(y, f.shape[0], xp, check)
            rows = xp.arange(f.shape[0])
            e = -f[rows, y]
            g = xp.zeros_like(f)
            g[rows, y] = -1.0
        return e, self.backward_outputs(g, param_grads=False)

    def conditional(self, y: Any) -> "ClassConditional":
        """The energy E(., y) for fixed labels, as an Energy for the samplers (labels checked once)."""
        return ClassConditional(self, y)

    def predict(self, x: Any, batch_size: int | None = None) -> Any:
        """argmax_y f(x)[y]: (N,) integer labels (in chunks of batch_size when given)."""
        xp = get_array_module(x)
        if batch_size is None or x.shape[0] <= batch_size:
            return self.net.outputs(x).argmax(axis=1)
        return xp.concatenate([self.net.outputs(x[i:i + batch_size]).argmax(axis=1)
                               for i in range(0, x.shape[0], batch_size)])

    def accuracy(self, x: Any, y: Any, batch_size: int | None = 256) -> float:
        """Fraction of x: (N, *input_shape) whose predicted class equals y: (N,)."""
        pred = self.predict(x, batch_size)
        y = self._labels(y, pred.shape[0], get_array_module(pred))
        return float((pred == y).mean())

    # --- gradients ---------------------------------------------------------------------------

    def backward_outputs(self, g_out: Any, param_grads: bool = True) -> Any:
        """g_out: dL/df (N, K) after ``net.outputs(x, save=True, ...)`` -> dL/dx (N, *input_shape)."""
        return self.net.backward_outputs(g_out, param_grads)

    def loss_and_grads(self, x_lab: Any, y: Any, x_pos: Any, x_neg: Any, alpha: float = 0.0,
                       gen_weight: float = 1.0) -> JEMLoss:
        """The hybrid loss; leaves dL/dtheta in :meth:`gradients` (aligned with :meth:`parameters`).

        x_lab: (B, *input_shape) labelled data with y: (B,) labels, or both None;
        x_pos: (B+, ...) data for the generative term and x_neg: (B-, ...)
        model samples, or both None (a plain classifier step).
        L = CE(f(x_lab), y) + gen_weight * [mean E(x+) - mean E(x-) + alpha (mean E(x+)^2 + mean E(x-)^2)].
        One forward and one backward run on the concatenated batch.
        """
        if (x_lab is None) != (y is None):
            raise ConfigError("JEM loss: give labelled data and its labels together (or neither)")
        if (x_pos is None) != (x_neg is None):
            raise ConfigError("JEM loss: the generative term needs both data (x_pos) and model samples (x_neg)")
        if x_lab is None and x_pos is None:
            raise ConfigError("JEM loss: nothing to train on (no labelled batch and no generative batches)")
        parts = [a for a in (x_lab, x_pos, x_neg) if a is not None]
        if any(a.shape[0] == 0 for a in parts):
            raise ConfigError("JEM loss: a batch is empty; every batch given needs at least one sample")
        xp = get_array_module(*parts)
        n_lab = 0 if x_lab is None else x_lab.shape[0]
        if x_lab is not None:
            y = self._labels(y, n_lab, xp)  # before the forward: a bad label leaves no half-done state
        x = parts[0] if len(parts) == 1 else xp.concatenate([xp.asarray(a, dtype=self.net.dtype) for a in parts])
        f = self.net.outputs(x, save=True, param_grads=True)
        g = xp.zeros_like(f)
        ce = gen = 0.0
        e_pos_mean = e_neg_mean = acc = float("nan")
        if x_lab is not None:
            f_lab = f[:n_lab]
            ce, g_lab = cross_entropy(f_lab, y)
            g[:n_lab] = g_lab
            acc = float((f_lab.argmax(axis=1) == y).mean())
        if x_pos is not None:
            n_pos = x_pos.shape[0]
            f_pos, f_neg = f[n_lab:n_lab + n_pos], f[n_lab + n_pos:]
            e_pos, e_neg = -logsumexp(f_pos), -logsumexp(f_neg)
            gen, g_pos, g_neg = contrastive_loss(e_pos, e_neg, alpha)
            w = float(gen_weight)
            # dE/df = -softmax(f)
            g[n_lab:n_lab + n_pos] = softmax(f_pos) * (-w * g_pos)[:, None]
            g[n_lab + n_pos:] = softmax(f_neg) * (-w * g_neg)[:, None]
            e_pos_mean, e_neg_mean = float(e_pos.mean()), float(e_neg.mean())
        self.net.backward_outputs(g, param_grads=True, input_grad=False)
        total = ce + float(gen_weight) * gen if x_pos is not None else ce
        return JEMLoss(total=total, cross_entropy=ce, generative=gen, energy_pos=e_pos_mean,
                       energy_neg=e_neg_mean, accuracy=acc)

    # --- helpers -----------------------------------------------------------------------------

    def _labels(self, y: Any, n: int, xp: Any, check: bool = True) -> Any:
        """y (an int or labels) as an (n,) integer array on xp; the range [0, K) is checked when asked."""
        if not isinstance(y, bool) and isinstance(y, int):
            if check and not 0 <= y < self.num_classes:
                raise ConfigError(f"JEM: class {y} is outside [0, {self.num_classes})")
            return xp.full(n, y, dtype=xp.int64)
        y = xp.asarray(y)
        if y.ndim == 0:
            return self._labels(int(y), n, xp, check)
        if not np.issubdtype(y.dtype, np.integer):
            raise ConfigError(f"JEM: labels must be integers, got dtype {y.dtype}")
        if y.shape != (n,):
            raise ConfigError(f"JEM: expected {n} labels, got shape {tuple(y.shape)}")
        if check and n:
            lo, hi = int(y.min()), int(y.max())
            if lo < 0 or hi >= self.num_classes:
                raise ConfigError(f"JEM: labels must lie in [0, {self.num_classes}), got values from {lo} to {hi}; "
                                  "check the dataset's number of classes")
        return y

    def __repr__(self) -> str:
        return f"JEM(num_classes={self.num_classes}, net={self.net!r})"


class ClassConditional:
    """E(x) = E_jem(x, y) = -f(x)[y] for fixed labels y: an Energy for class-conditional sampling.

    y: an int (every sample) or (N,) labels matching the batch the samplers pass;
    checked here once, not on every Langevin step.
    """

    def __init__(self, jem: JEM, y: Any):
        self.jem = jem
        self.input_shape = jem.input_shape
        if isinstance(y, bool) or not isinstance(y, int):
            xp = get_array_module(y)
            arr = xp.asarray(y)
            if arr.ndim == 0:
                y = int(arr)
            else:
                self.y: Any = jem._labels(arr, int(arr.shape[0]), xp)
        if isinstance(y, int):
            if not 0 <= y < jem.num_classes:
                raise ConfigError(f"JEM: class {y} is outside [0, {jem.num_classes})")
            self.y = y

    def energy(self, x: Any) -> Any:
        """E(x, y): (N,)."""
        return self.jem.energy_xy(x, self.y, check=False)

    def energy_and_grad(self, x: Any) -> tuple[Any, Any]:
        """(E(x, y): (N,), dE/dx: x.shape)."""
        return self.jem.energy_and_grad(x, self.y, check=False)
