"""OOD scores: AUROC against an independent pairwise count, the 95% TPR threshold, and the shipped model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.applications.inputs import load_inputs
from engine.applications.ood import (
    ood_datasets,
    ood_scores,
    score_energies,
    threshold_at_tpr,
)
from engine.energies.analytic import GaussianMixture
from engine.errors import ConfigError, EBMError


def _pairwise_auroc(e_in: np.ndarray, e_out: np.ndarray) -> float:
    """Mann-Whitney by brute force: P(E_out > E_in) + P(E_out == E_in) / 2 over all pairs."""
    diff = e_out[:, None] - e_in[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


@pytest.mark.parametrize("shift", [0.0, 0.5, 2.0])
def test_auroc_matches_the_pairwise_count_and_theory(shift):
    rng = np.random.default_rng(4)
    e_in, e_out = rng.normal(0, 1, 3000), rng.normal(shift, 1, 2000)
    r = score_energies(e_in, e_out, bins=20)
    assert r.auroc == pytest.approx(_pairwise_auroc(e_in, e_out), abs=1e-12)
    # two unit Gaussians shifted by d: AUROC = Phi(d / sqrt 2)
    assert r.auroc == pytest.approx(0.5 * (1 + math.erf(shift / 2.0)), abs=0.02)
    assert r.hist_in.sum() == 3000 and r.hist_out.sum() == 2000 and len(r.bin_edges) == 21
    assert r.bin_edges[0] == min(e_in.min(), e_out.min()) and r.bin_edges[-1] == max(e_in.max(), e_out.max())


def test_ties_count_half():
    r = score_energies(np.array([1.0, 2.0]), np.array([2.0, 3.0]))
    assert r.auroc == pytest.approx(_pairwise_auroc(np.array([1.0, 2.0]), np.array([2.0, 3.0])))
    assert r.auroc == pytest.approx((1 + 0.5 + 1 + 1) / 4)


def test_threshold_keeps_95_percent_of_the_inliers():
    rng = np.random.default_rng(0)
    e_in, e_out = rng.normal(0, 1, 1001), rng.normal(3, 1, 500)
    t, tpr, fpr = threshold_at_tpr(e_in, e_out)
    assert tpr == (e_in <= t).mean() and tpr >= 0.95
    assert (e_in < t).mean() < 0.95  # the smallest such threshold
    assert fpr == (e_out <= t).mean()
    assert t == np.quantile(e_in, 0.95, method="inverted_cdf")  # the empirical 95% quantile
    # many Gaussian samples: t -> 1.645, FPR -> P(N(3, 1) <= 1.645) = 0.088
    t, _, fpr = threshold_at_tpr(rng.normal(0, 1, 40000), rng.normal(3, 1, 40000))
    assert t == pytest.approx(1.645, abs=0.03) and fpr == pytest.approx(0.088, abs=0.01)
    with pytest.raises(ConfigError):
        threshold_at_tpr(e_in, e_out, tpr=1.5)
    with pytest.raises(EBMError):
        score_energies(np.array([np.nan]), np.array([1.0]))


def test_scores_of_an_analytic_energy():
    energy = GaussianMixture(means=[[0.0, 0.0]], stds=1.0)
    rng = np.random.default_rng(1)
    x_in, x_out = rng.normal(0, 1, (400, 2)), rng.normal(0, 1, (400, 2)) + [4.0, 0.0]
    r = ood_scores(energy, x_in, x_out)
    np.testing.assert_allclose(r.energy_in, energy.energy(x_in.astype(np.float32)), rtol=1e-5)
    assert r.auroc > 0.95


@pytest.mark.parametrize("out_data", ["noise", "builtin_shapes"])
def test_shipped_digits_model_tells_digits_from_other_inputs(out_data):
    r = ood_datasets("digits_convnet", in_data="builtin_digits", out_data=out_data, n=200)
    assert r.auroc > 0.9  # measured 1.0 for both (digit energies ~0.37, shapes ~6.9, noise ~10)
    assert r.fpr < 0.2 and r.tpr >= 0.95
    assert r.energy_in.shape == r.energy_out.shape == (200,)


def test_inputs_are_brought_to_the_model_shape():
    x, y = load_inputs("builtin_shapes", 5, (1, 28, 28))
    assert x.shape == (5, 1, 28, 28) and x.dtype == np.float32 and y.shape == (5,)
    assert -1.0 <= x.min() and x.max() <= 1.0
    rgb, _ = load_inputs("builtin_digits", 3, (3, 16, 16), value_range=(0.0, 1.0))
    assert rgb.shape == (3, 3, 16, 16) and rgb.min() >= 0.0 and (rgb[:, 0] == rgb[:, 1]).all()
    noise, none = load_inputs("noise", 4, (2,), value_range=(-3.0, 3.0))
    assert none is None and noise.shape == (4, 2) and np.abs(noise).max() <= 3.0
    with pytest.raises(EBMError):
        load_inputs("no_such_set", 2, (2,))
