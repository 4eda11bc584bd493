"""2D toy densities: deterministic sampling, exact log-densities that integrate to 1
and agree with the samples."""

from __future__ import annotations

import numpy as np
import pytest

from engine.data.toy2d import DEFAULT_BOX, TOY_DATASETS, get_toy, toy_names

NAMES = list(TOY_DATASETS)
REQUIRED = {"8gaussians", "25gaussians", "two_spirals", "checkerboard", "rings", "pinwheel",
            "swiss_roll", "two_moons"}

# one fine grid over the box: 480 x 480 cells of side 9/480, cell centres
_M = 480
_H = (DEFAULT_BOX[1] - DEFAULT_BOX[0]) / _M
_C = DEFAULT_BOX[0] + _H * (np.arange(_M) + 0.5)
_GRID = np.stack(np.meshgrid(_C, _C, indexing="ij"), axis=-1).reshape(-1, 2)  # [i, j] -> (x_i, y_j)


@pytest.fixture(scope="module")
def grid_logp() -> dict[str, np.ndarray]:
    return {name: TOY_DATASETS[name].log_prob(_GRID).reshape(_M, _M) for name in NAMES}


def test_registry_has_every_density_with_exact_log_prob() -> None:
    assert REQUIRED <= set(TOY_DATASETS)
    assert toy_names() == NAMES
    for name, d in TOY_DATASETS.items():
        assert d.name == name and d.description
        assert d.box == DEFAULT_BOX
        assert d.log_prob is not None and d.has_log_prob
    with pytest.raises(KeyError, match="8gaussians"):
        get_toy("nope")


@pytest.mark.parametrize("name", NAMES)
def test_sampling_is_deterministic_and_float32(name: str) -> None:
    d = TOY_DATASETS[name]
    a = d.sample(500, 7)
    b = d.sample(500, np.random.default_rng(7))
    c = d.sample(500, 8)
    assert a.shape == (500, 2) and a.dtype == np.float32 and a.flags.c_contiguous
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert d.sample(0, 0).shape == (0, 2)


@pytest.mark.parametrize("name", NAMES)
def test_samples_lie_roughly_in_the_box(name: str) -> None:
    x = TOY_DATASETS[name].sample(20000, 1)
    assert np.all(np.isfinite(x))
    assert np.mean(np.all(np.abs(x) <= 4.0, axis=1)) > 0.995
    assert np.mean(np.all(np.abs(x) <= 4.5, axis=1)) > 0.9995


@pytest.mark.parametrize("name", NAMES)
def test_log_prob_integrates_to_one(name: str, grid_logp: dict[str, np.ndarray]) -> None:
    lp = grid_logp[name]
    assert lp.dtype == np.float64 and not np.any(np.isnan(lp))
    z = np.exp(lp).sum() * _H * _H
    assert abs(z - 1.0) < 1e-2, z


@pytest.mark.parametrize("name", NAMES)
def test_samples_agree_with_log_prob(name: str, grid_logp: dict[str, np.ndarray]) -> None:
    d = TOY_DATASETS[name]
    x = d.sample(20000, 123)
    p = np.exp(grid_logp[name])
    # 1) mean log-density of the samples = E_p[log p] from the grid (minus the entropy)
    lp_grid = np.where(p > 0, grid_logp[name], 0.0)
    neg_entropy = float(np.sum(p * lp_grid) * _H * _H)
    lps = d.log_prob(x)
    assert np.all(np.isfinite(lps))
    assert abs(lps.mean() - neg_entropy) < 0.05, (lps.mean(), neg_entropy)
    # 2) chi-square of a 12 x 12 histogram against the grid's bin probabilities
    bins = 12
    k = _M // bins
    probs = (p * _H * _H).reshape(bins, k, bins, k).sum(axis=(1, 3))
    counts, _, _ = np.histogram2d(x[:, 0].astype(np.float64), x[:, 1].astype(np.float64), bins=bins,
                                  range=[DEFAULT_BOX[:2], DEFAULT_BOX[2:]])
    expected = probs * len(x)
    ok = expected >= 5
    chi2 = np.sum((counts[ok] - expected[ok]) ** 2 / expected[ok])
    dof = int(ok.sum()) - 1
    assert chi2 / dof < 1.6, (chi2, dof)
    assert counts[~ok].sum() <= max(0.01 * len(x), expected[~ok].sum() * 2 + 30)


def test_log_prob_prefers_the_data_over_shifted_points() -> None:
    for d in TOY_DATASETS.values():
        x = d.sample(2000, 5)
        shifted = x + np.float32(0.77)
        with np.errstate(divide="ignore"):
            assert d.log_prob(x).mean() > d.log_prob(shifted).mean()


def test_known_values() -> None:
    # checkerboard: 1/32 on the black squares, -inf elsewhere
    cb = TOY_DATASETS["checkerboard"].log_prob(np.array([[-3.5, -3.5], [-1.5, -3.5], [5.0, 0.0]]))
    np.testing.assert_allclose(cb[0], -np.log(32.0))
    assert cb[1] == -np.inf and cb[2] == -np.inf
    # 8 gaussians: at a centre, the peak of one component dominates
    g8 = TOY_DATASETS["8gaussians"]
    s = 0.5 / np.sqrt(2.0)
    centre = np.array([[2.0 * np.sqrt(2.0), 0.0]])
    np.testing.assert_allclose(g8.log_prob(centre), np.log(1.0 / (8 * 2 * np.pi * s * s)), rtol=1e-6)


def test_log_prob_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        TOY_DATASETS["rings"].log_prob(np.zeros((3, 3)))
    with pytest.raises(ValueError):
        TOY_DATASETS["rings"].sample(-1, 0)
