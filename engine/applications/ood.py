"""Out-of-distribution detection by energy: data the model was trained on should score lower.

    result = ood_scores(opened, x_in, x_out)
    result.auroc                      # 1 = perfect separation, 0.5 = chance
    result.threshold, result.fpr      # E <= threshold keeps 95% of x_in; fpr of x_out passes it
    result.hist_in, result.hist_out   # counts over the shared result.bin_edges

An EBM assigns low energy to inputs like its training data. Reading the energy
as a score "how unusual is this input" gives a detector with no extra
training; the AUROC measures how well it separates the two sets over all
thresholds (engine.metrics.ood_auroc, from Mann-Whitney ranks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backend
from ..errors import ConfigError
from ..metrics import ood_auroc
from .chains import array_module, energy_of
from .inputs import load_inputs
from .models import OpenedModel, open_model

TPR_TARGET = 0.95


@dataclass
class OODResult:
    """energy_in: (N,), energy_out: (M,) float64; bin_edges: (B + 1,) shared by hist_in, hist_out:
    (B,) counts; auroc in [0, 1]; threshold: the energy at which ``tpr`` (>= 0.95) of the
    in-distribution inputs score at or below it; fpr: the fraction of OOD inputs that do too."""

    energy_in: np.ndarray
    energy_out: np.ndarray
    bin_edges: np.ndarray
    hist_in: np.ndarray
    hist_out: np.ndarray
    auroc: float
    threshold: float
    tpr: float
    fpr: float
    name_in: str = "in"
    name_out: str = "out"

    def histogram_rows(self) -> list[tuple[float, float, int, int]]:
        """(bin low, bin high, count in, count out) per bin, for a CSV."""
        e = self.bin_edges
        return [(float(e[i]), float(e[i + 1]), int(self.hist_in[i]), int(self.hist_out[i]))
                for i in range(len(self.hist_in))]


def energies(model: OpenedModel | Any, x: Any, batch_size: int = 256) -> np.ndarray:
    """E(x) of x: (N, *shape) in batches, as a host float64 array (N,)."""
    energy = energy_of(model)
    xp = array_module(energy)
    x = np.asarray(backend.to_numpy(x), dtype=np.float32)
    parts = [backend.to_numpy(energy.energy(xp.asarray(x[i:i + batch_size]))).astype(np.float64)
             for i in range(0, len(x), batch_size)]
    return np.concatenate(parts) if parts else np.zeros(0)


def threshold_at_tpr(energy_in: np.ndarray, energy_out: np.ndarray,
                     tpr: float = TPR_TARGET) -> tuple[float, float, float]:
    """(threshold, achieved tpr, fpr): the smallest energy t with P(E_in <= t) >= tpr, and
    the fraction of OOD energies at or below it (lower energy = accepted as in-distribution)."""
    if not 0.0 < tpr <= 1.0:
        raise ConfigError(f"the target true-positive rate must be in (0, 1], got {tpr}")
    e_in = np.sort(np.asarray(energy_in, dtype=np.float64))
    t = float(e_in[max(0, math.ceil(tpr * e_in.size) - 1)])
    return t, float((e_in <= t).mean()), float((np.asarray(energy_out) <= t).mean())


def score_energies(energy_in: Any, energy_out: Any, bins: int = 30, name_in: str = "in",
                   name_out: str = "out") -> OODResult:
    """OODResult from energies already computed: in (N,), out (M,)."""
    e_in = np.asarray(backend.to_numpy(energy_in), dtype=np.float64).reshape(-1)
    e_out = np.asarray(backend.to_numpy(energy_out), dtype=np.float64).reshape(-1)
    if int(bins) < 1:
        raise ConfigError(f"bins must be >= 1, got {bins}")
    auroc = ood_auroc(e_in, e_out)  # raises on empty or non-finite energies
    both = np.concatenate([e_in, e_out])
    edges = np.histogram_bin_edges(both, bins=int(bins))
    threshold, tpr, fpr = threshold_at_tpr(e_in, e_out)
    return OODResult(e_in, e_out, edges, np.histogram(e_in, edges)[0], np.histogram(e_out, edges)[0],
                     auroc, threshold, tpr, fpr, name_in, name_out)


def ood_scores(model: OpenedModel | Any, x_in: Any, x_out: Any, bins: int = 30,
               name_in: str = "in", name_out: str = "out") -> OODResult:
    """Energies of x_in: (N, *shape) and x_out: (M, *shape), their histograms and the AUROC."""
    return score_energies(energies(model, x_in), energies(model, x_out), bins, name_in, name_out)


# --- preset function -----------------------------------------------------------------------------


def ood_datasets(model: Any, in_data: str = "builtin_digits", out_data: str = "builtin_shapes",
                 n: int = 500, bins: int = 30, seed: int = 0) -> OODResult:
    """ood_scores on n inputs of each named set ("noise", a built-in set or a file; images are
    brought to the model's input shape, see inputs.load_inputs)."""
    opened = open_model(model)
    x_in, _ = load_inputs(in_data, n, opened.input_shape, opened.value_range, seed)
    x_out, _ = load_inputs(out_data, n, opened.input_shape, opened.value_range, seed + 1)
    return ood_scores(opened, x_in, x_out, bins, str(in_data), str(out_data))


PRESET_FUNCTIONS = {"ood": ood_datasets}
