"""The MCMC maximum-likelihood loss ("analysis by synthesis").

    L = mean E(x+) - mean E(x-) + alpha * (mean E(x+)^2 + mean E(x-)^2)

Its gradient lowers the energy of data and raises that of negatives; the
alpha term keeps the energies near zero.
"""

from __future__ import annotations

from typing import Any


def contrastive_loss(e_pos: Any, e_neg: Any, alpha: float) -> tuple[float, Any, Any]:
    """e_pos: (B+,), e_neg: (B-,) -> (loss, dL/de_pos, dL/de_neg)."""
    n_pos, n_neg, alpha = e_pos.shape[0], e_neg.shape[0], float(alpha)
    loss = float(e_pos.mean() - e_neg.mean() + alpha * ((e_pos * e_pos).mean() + (e_neg * e_neg).mean()))
    g_pos = (1.0 + 2.0 * alpha * e_pos) / n_pos
    g_neg = (-1.0 + 2.0 * alpha * e_neg) / n_neg
    return loss, g_pos, g_neg
