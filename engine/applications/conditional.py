"""Class-conditional sampling with a JEM: draw inputs the classifier reads as a chosen class.

    result = sample_per_class(opened_jem, n_per_class=8, n_steps=200)
    result.samples       # (K, n, *shape): row k sampled from E(x, k) = -f(x)[k]
    result.predicted     # (K, n): the classifier's own class for each sample
    result.agreement     # fraction of samples classified as the class they were drawn for

A JEM's logits define a joint energy E(x, y) = -f(x)[y]; Langevin on it with y
fixed samples p(x | y). Whether the classifier then agrees with y measures how
well the generative and discriminative readings of one network fit together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backend
from ..errors import ConfigError
from ..models.jem import JEM, softmax
from .chains import Progress, make_sampler, run_frames
from .models import OpenedModel, open_model


@dataclass
class ConditionalResult:
    """classes: (K,) the conditioning classes; samples: (K, n, *shape); predicted: (K, n) argmax class;
    confidence: (K, n) the classifier's probability of its predicted class; class_prob: (K, n) its
    probability of the conditioning class; energies: (K, n) E(x, y) at the end; filmstrip:
    (F, K, n, *shape); steps: (F,); class_names: names of all classes or None."""

    classes: np.ndarray
    samples: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    class_prob: np.ndarray
    energies: np.ndarray
    filmstrip: np.ndarray
    steps: np.ndarray
    class_names: tuple[str, ...] | None = None

    @property
    def agreement(self) -> float:
        """Fraction of samples the classifier assigns to the class they were drawn for."""
        return float((self.predicted == self.classes[:, None]).mean())

    def agreement_per_class(self) -> np.ndarray:
        """(K,) the same fraction for each conditioning class."""
        return (self.predicted == self.classes[:, None]).mean(axis=1)


def sample_per_class(jem: OpenedModel | JEM, n_per_class: int = 8, n_steps: int | None = 100,
                     classes: Any = None, step_size: float | None = None, noise: float | str | None = None,
                     clip_grad: float | None = None, clamp: Any = None, frames: int = 6,
                     seed: int = 0, progress: Progress | None = None) -> ConditionalResult:
    """n_per_class samples for each class in ``classes`` (default: all K), from uniform noise in the
    clamp range by Langevin on E(x, y); sampler settings default to the training sampler.
    progress: see chains.run_frames."""
    model = jem.model if isinstance(jem, OpenedModel) else jem
    if not isinstance(model, JEM):
        raise ConfigError("class-conditional sampling needs a JEM (a classifier with one logit per class); "
                          "this model has a single energy output: open a JEM model such as jem_digits")
    k_all = model.num_classes
    cls = np.arange(k_all) if classes is None else np.asarray(classes, dtype=np.int64).reshape(-1)
    if cls.size == 0 or cls.min() < 0 or cls.max() >= k_all:
        raise ConfigError(f"classes must be class indices in [0, {k_all}), got {classes!r}")
    n = int(n_per_class)
    if n < 1:
        raise ConfigError(f"n_per_class must be >= 1, got {n_per_class}")
    sampler, steps = make_sampler(jem, n_steps, step_size, noise, clip_grad, clamp)
    default = jem.value_range if isinstance(jem, OpenedModel) else (-1.0, 1.0)
    lo, hi = sampler.clamp if sampler.clamp is not None else default
    shape = tuple(model.input_shape)
    rng = np.random.default_rng([seed, 17])
    x0 = rng.uniform(lo, hi, size=(cls.size * n, *shape)).astype(np.float32)
    params = model.parameters()
    xp = backend.get_array_module(*params[:1])
    labels = np.repeat(cls, n)
    run = run_frames(model.conditional(xp.asarray(labels)), x0, sampler, steps, frames, seed, progress=progress)
    probs = backend.to_numpy(softmax(model.logits(xp.asarray(run.x)))).astype(np.float64)
    predicted = probs.argmax(axis=1)
    k = cls.size
    return ConditionalResult(
        classes=cls, samples=run.x.reshape(k, n, *shape), predicted=predicted.reshape(k, n),
        confidence=probs.max(axis=1).reshape(k, n), class_prob=probs[np.arange(labels.size), labels].reshape(k, n),
        energies=run.energies[-1].reshape(k, n), filmstrip=run.filmstrip.reshape(-1, k, n, *shape),
        steps=run.steps, class_names=_class_names(jem))


def _class_names(jem: Any) -> tuple[str, ...] | None:
    from ..data.builtin import DIGIT_CLASSES, SHAPE_CLASSES  # noqa: PLC0415

    names = {"builtin_digits": DIGIT_CLASSES, "builtin_shapes": SHAPE_CLASSES}
    found = names.get(jem.dataset) if isinstance(jem, OpenedModel) else None
    return tuple(found) if found is not None and len(found) == jem.num_classes else None


# --- preset function -----------------------------------------------------------------------------


def conditional_samples(model: Any, n_per_class: int = 8, n_steps: int | None = 100, classes: Any = None,
                        step_size: float | None = None, noise: float | str | None = None,
                        clip_grad: float | None = None, frames: int = 6, seed: int = 0) -> ConditionalResult:
    """sample_per_class on the model named ``model`` (a shipped name, run folder or file)."""
    return sample_per_class(open_model(model), n_per_class, n_steps, classes, step_size, noise, clip_grad,
                            frames=frames, seed=seed)


PRESET_FUNCTIONS = {"conditional": conditional_samples}
