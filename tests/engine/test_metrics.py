"""Metrics: grid likelihoods against closed forms, MMD/AUROC/NN against naive references, CurveLog round trips."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from engine import metrics
from engine.errors import ConfigError, EBMError
from engine.metrics import CurveLog
from engine.models.energy_net import EnergyNet
from engine.models.presets import mlp_2d


class GaussianEnergy:
    """E(x) = 0.5 (x - mu)^T P (x - mu) + c, so Z = 2 pi / sqrt(det P) * exp(-c)."""

    input_shape = (2,)

    def __init__(self, mu=(0.3, -0.2), cov=((1.0, 0.3), (0.3, 0.5)), c=1.7):
        self.mu, self.cov, self.c = np.array(mu), np.array(cov), c
        self.prec = np.linalg.inv(self.cov)
        self.log_z = math.log(2 * math.pi) + 0.5 * math.log(np.linalg.det(self.cov)) - c

    def energy(self, x):
        d = np.asarray(x, dtype=np.float64) - self.mu
        return 0.5 * np.einsum("ni,ij,nj->n", d, self.prec, d) + self.c

    def energy_and_grad(self, x):
        d = np.asarray(x, dtype=np.float64) - self.mu
        return self.energy(x), d @ self.prec

    def sample(self, n, seed=0):
        return np.random.default_rng(seed).multivariate_normal(self.mu, self.cov, size=n)


class MixtureEnergy:
    """A normalised isotropic Gaussian mixture: E = -log p, log Z = 0."""

    input_shape = (2,)

    def __init__(self, means=((1.0, 1.0), (-1.5, 0.3), (0.2, -2.0)), sigma=0.15, weights=(0.3, 0.3, 0.4)):
        self.means, self.sigma, self.weights = np.array(means), sigma, np.array(weights)

    def log_prob(self, x):
        x = np.asarray(x, dtype=np.float64)
        d2 = ((x[:, None, :] - self.means[None]) ** 2).sum(-1)
        lp = np.log(self.weights)[None] - d2 / (2 * self.sigma**2) - math.log(2 * math.pi * self.sigma**2)
        m = lp.max(1)
        return m + np.log(np.exp(lp - m[:, None]).sum(1))

    def energy(self, x):
        return -self.log_prob(x)

    def energy_and_grad(self, x):
        raise NotImplementedError

    def sample(self, n, seed=0):
        rng = np.random.default_rng(seed)
        k = rng.choice(len(self.weights), size=n, p=self.weights)
        return self.means[k] + self.sigma * rng.standard_normal((n, 2))


BOX = (-6.0, 6.0, -6.0, 6.0)


# --------------------------------------------------------------------------- grid likelihoods


def test_grid_log_partition_gaussian_exact():
    e = GaussianEnergy()
    assert metrics.grid_log_partition(e, BOX, 256) == pytest.approx(e.log_z, abs=1e-6)
    assert metrics.grid_log_partition(e, BOX) == pytest.approx(e.log_z, abs=1e-6)  # default resolution


def test_heldout_nll_gaussian_equals_exact_nll():
    e = GaussianEnergy()
    x = e.sample(500)
    exact = float(np.mean(e.energy(x))) + e.log_z
    assert metrics.heldout_nll(e, x, BOX) == pytest.approx(exact, abs=1e-6)
    # the same number as -mean log p with the known density
    assert metrics.true_nll(lambda p: -e.energy(p) - e.log_z, x) == pytest.approx(exact, abs=1e-12)


def test_heldout_nll_mixture_matches_true_nll():
    m = MixtureEnergy()
    x = m.sample(1000, seed=1)
    true = metrics.true_nll(m.log_prob, x)
    assert metrics.grid_log_partition(m, BOX) == pytest.approx(0.0, abs=1e-9)
    assert metrics.heldout_nll(m, x, BOX) == pytest.approx(true, abs=1e-3)
    # narrow components are still integrated well on a coarser grid
    assert metrics.heldout_nll(m, x, BOX, resolution=128) == pytest.approx(true, abs=1e-3)


def test_box_ignores_mass_outside_and_box_forms():
    e = GaussianEnergy(mu=(0.0, 0.0), cov=((1.0, 0.0), (0.0, 1.0)), c=0.0)
    # [-1, 1]^2 holds erf(1/sqrt 2)^2 of the mass
    inside = math.erf(1 / math.sqrt(2)) ** 2
    log_z = metrics.grid_log_partition(e, ((-1, 1), (-1, 1)), 256)
    assert log_z == pytest.approx(e.log_z + math.log(inside), abs=1e-4)
    assert log_z == metrics.grid_log_partition(e, (-1, 1, -1, 1), 256)


def test_grid_batching_and_shapes():
    e = GaussianEnergy()
    full = metrics.grid_log_partition(e, BOX, (60, 40), batch_size=10**6)
    small = metrics.grid_log_partition(e, BOX, (60, 40), batch_size=77)
    assert full == pytest.approx(small, abs=1e-12)
    log_p, xs, ys, log_z = metrics.grid_log_density(e, BOX, (60, 40))
    assert log_p.shape == (40, 60) and xs.shape == (60,) and ys.shape == (40,)
    area = (xs[1] - xs[0]) * (ys[1] - ys[0])
    assert np.exp(log_p).sum() * area == pytest.approx(1.0, abs=1e-12)
    # row = y, column = x
    r, c = 7, 31
    assert log_p[r, c] == pytest.approx(-e.energy(np.array([[xs[c], ys[r]]]))[0] - log_z)


def test_default_resolution_accurate_for_swish_mlp():
    """A sharpened Swish MLP: the default grid agrees with a twice finer one to well under 1e-3 nats."""
    net = EnergyNet(mlp_2d(width=16, depth=2), seed=3, dtype=np.float64)
    for layer in net.layers:
        if "weight" in layer.params:
            layer.params["weight"] *= 3.0
    box = (-3, 3, -3, 3)
    fine = metrics.grid_log_partition(net, box, 2 * metrics.DEFAULT_GRID_RESOLUTION)
    default = metrics.grid_log_partition(net, box)
    assert abs(default - fine) < 3e-4
    # a float32 network gives the same answer to float32 accuracy
    net32 = EnergyNet(mlp_2d(width=16, depth=2), seed=3)
    net32.load_state_dict(net.state_dict())
    assert metrics.grid_log_partition(net32, box, 128) == pytest.approx(
        metrics.grid_log_partition(net, box, 128), abs=1e-5)


def test_grid_refuses_bad_input():
    with pytest.raises(ConfigError, match="2D"):
        metrics.grid_log_partition(EnergyNet({"input_shape": [3], "layers": [
            {"type": "linear", "in_features": 3, "out_features": 1}]}), BOX, 8)
    with pytest.raises(ConfigError, match="box"):
        metrics.grid_log_partition(GaussianEnergy(), (1, 0, 0, 1), 8)
    with pytest.raises(ConfigError, match="resolution"):
        metrics.grid_log_partition(GaussianEnergy(), BOX, 1)
    with pytest.raises(ConfigError, match=r"\(N, 2\)"):
        metrics.heldout_nll(GaussianEnergy(), np.zeros((4, 3)), BOX, 8)


def test_grid_kl_closed_form():
    s, mu = 1.3, np.array([0.4, -0.3])
    p = GaussianEnergy(mu=(0, 0), cov=((1, 0), (0, 1)), c=0.0)
    q = GaussianEnergy(mu=tuple(mu), cov=((s * s, 0), (0, s * s)), c=0.0)
    exact = 0.5 * (2 / s**2 + mu @ mu / s**2 - 2 + 2 * math.log(s**2))
    true_log_prob = lambda x: -p.energy(x) - p.log_z  # noqa: E731
    box = (-9, 9, -9, 9)
    assert metrics.grid_kl(true_log_prob, q, box, 256) == pytest.approx(exact, abs=1e-6)
    assert metrics.grid_kl(true_log_prob, p, box, 256) == pytest.approx(0.0, abs=1e-12)
    m = MixtureEnergy()
    assert metrics.grid_kl(m.log_prob, m, BOX, 128) == pytest.approx(0.0, abs=1e-12)
    assert metrics.grid_kl(m.log_prob, p, BOX, 128) > 0.5


# --------------------------------------------------------------------------- MMD


def _naive_mmd2(x, y, widths):
    x, y = x.reshape(len(x), -1), y.reshape(len(y), -1)

    def k(a, b):
        d = ((a[:, None] - b[None]) ** 2).sum(-1)
        return sum(np.exp(-d / (2 * h * h)) for h in widths)

    m, n = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
            - 2 * k(x, y).mean())


def test_mmd_matches_naive():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(37, 2)), rng.normal(0.5, 1.2, size=(23, 2))
    for widths in ([0.7], [0.3, 1.0, 3.0]):
        ref = _naive_mmd2(x, y, widths)
        for bs in (5, 16, 1024):
            arg = widths[0] if len(widths) == 1 else widths
            assert metrics.mmd2(x, y, arg, batch_size=bs) == pytest.approx(ref, rel=1e-10, abs=1e-13)
    h = metrics.median_bandwidth(x, y)
    pooled = np.concatenate([x, y])
    d = np.sqrt(((pooled[:, None] - pooled[None]) ** 2).sum(-1))
    assert h == pytest.approx(np.median(d[np.triu_indices(len(pooled), 1)]))
    assert metrics.mmd2(x, y) == pytest.approx(_naive_mmd2(x, y, [h]), rel=1e-10)


def test_mmd_images_and_separation():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(-1, 1, (40, 1, 6, 6)), rng.uniform(-1, 1, (30, 1, 6, 6))
    c = rng.uniform(-0.2, 1, (30, 1, 6, 6))
    assert metrics.mmd2(a, b, 2.0) == pytest.approx(_naive_mmd2(a, b, [2.0]), rel=1e-10, abs=1e-13)
    assert metrics.mmd2(a, c) > 10 * abs(metrics.mmd2(a, b))


def test_mmd_2000_points_is_fast_and_near_zero():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(2000, 2)), rng.normal(size=(2000, 2))
    same = metrics.mmd2(x, y, [0.5, 1.0, 2.0], batch_size=512)
    shifted = metrics.mmd2(x, y + 0.3, [0.5, 1.0, 2.0], batch_size=512)
    assert abs(same) < 5e-3 and shifted > 10 * abs(same)


def test_mmd_refuses_bad_input():
    x = np.zeros((5, 2))
    with pytest.raises(ConfigError, match="same size"):
        metrics.mmd2(x, np.zeros((5, 3)))
    with pytest.raises(ConfigError, match="at least 2"):
        metrics.mmd2(x, np.zeros((1, 2)))
    with pytest.raises(ConfigError, match="bandwidth"):
        metrics.mmd2(x, x, [1.0, -1.0])
    assert metrics.median_bandwidth(x, x) == 1.0  # all points coincide


# --------------------------------------------------------------------------- images


def test_nearest_neighbors_matches_brute_force():
    rng = np.random.default_rng(3)
    train = rng.integers(0, 256, size=(53, 1, 5, 5)).astype(np.uint8)
    samples = rng.uniform(0, 255, size=(19, 1, 5, 5)).astype(np.float32)
    samples[4] = train[17]  # a memorised sample
    samples[9] = train[52]
    dist, idx = metrics.nearest_neighbors(samples, train, batch_size=4, train_batch_size=10)
    d = np.sqrt(((samples.reshape(19, 1, -1).astype(np.float64)
                  - train.reshape(1, 53, -1).astype(np.float64)) ** 2).sum(-1))
    np.testing.assert_array_equal(idx, d.argmin(1))
    np.testing.assert_allclose(dist, d.min(1), rtol=1e-12)
    assert dist[4] == 0.0 and idx[4] == 17 and dist[9] == 0.0 and idx[9] == 52
    assert dist.shape == (19,) and idx.dtype == np.int64


def test_nearest_neighbors_ties_go_to_lowest_index():
    train = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    dist, idx = metrics.nearest_neighbors(np.array([[1.0, 0.0], [0.0, 0.0]]), train, train_batch_size=1)
    np.testing.assert_array_equal(idx, [0, 0])
    np.testing.assert_allclose(dist, [0.0, 1.0])
    with pytest.raises(ConfigError, match="same shape"):
        metrics.nearest_neighbors(np.zeros((2, 3)), train)


def _naive_auroc(e_in, e_out):
    wins = sum((o > i) + 0.5 * (o == i) for o in e_out for i in e_in)
    return wins / (len(e_in) * len(e_out))


def test_ood_auroc_matches_pair_count_with_ties():
    rng = np.random.default_rng(4)
    for trial in range(5):
        e_in = rng.integers(0, 6, size=rng.integers(1, 40)).astype(np.float32)
        e_out = rng.integers(2, 9, size=rng.integers(1, 40)).astype(np.float64)
        auc = metrics.ood_auroc(e_in, e_out)
        assert auc == pytest.approx(_naive_auroc(e_in, e_out), abs=1e-12)
        assert auc + metrics.ood_auroc(e_out, e_in) == pytest.approx(1.0, abs=1e-12)
    e_in, e_out = rng.normal(size=300), rng.normal(1.0, size=200)
    assert metrics.ood_auroc(e_in, e_out) == pytest.approx(_naive_auroc(e_in, e_out), abs=1e-12)
    assert metrics.ood_auroc([0, 1], [2, 3]) == 1.0  # OOD has higher energy: perfect
    assert metrics.ood_auroc([2, 3], [0, 1]) == 0.0
    assert metrics.ood_auroc([1, 1], [1, 1, 1]) == 0.5
    with pytest.raises(EBMError, match="NaN"):
        metrics.ood_auroc([0.0, np.nan], [1.0])
    with pytest.raises(ConfigError):
        metrics.ood_auroc([], [1.0])


def test_accuracy():
    logits = np.array([[0.1, 2.0, 0.3], [5.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    assert metrics.accuracy(logits, np.array([1, 0, 0, 0])) == 0.75  # tie -> lowest index
    assert metrics.accuracy(logits, [1.0, 0.0, 2.0, 0.0]) == 1.0
    with pytest.raises(ConfigError):
        metrics.accuracy(logits, [1, 0])


# --------------------------------------------------------------------------- CurveLog


def test_curvelog_round_trip(tmp_path):
    log = CurveLog()
    log.append(0, loss=0.5, e_pos=np.float32(-1.25))
    log.append(10, {"loss": 0.1 + 0.2, "acc": np.float64(0.75)})
    log.append(20, nll=float("nan"), loss=float("inf"), phase="warmup", count=np.int64(3))
    assert log.columns == ["iteration", "loss", "e_pos", "acc", "nll", "phase", "count"]
    path = log.write_csv(tmp_path / "metrics.csv")
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]  # no temporary file left
    text = path.read_text()
    assert text.splitlines()[0] == "iteration,loss,e_pos,acc,nll,phase,count"
    assert text.splitlines()[1] == "0,0.5,-1.25,,,,"
    back = CurveLog.read_csv(path)
    assert back.columns == log.columns and len(back) == 3
    assert back.rows[1] == {"iteration": 10, "loss": 0.1 + 0.2, "acc": 0.75}  # exact float round trip
    assert math.isnan(back.rows[2]["nll"]) and back.rows[2]["loss"] == math.inf
    assert back.rows[2]["phase"] == "warmup" and back.rows[2]["count"] == 3
    it, loss = back.series("loss")
    np.testing.assert_array_equal(it, [0, 10, 20])
    np.testing.assert_array_equal(loss, [0.5, 0.1 + 0.2, math.inf])
    it, acc = back.series("acc")
    assert it.tolist() == [10] and acc.tolist() == [0.75]
    # rewriting replaces the file
    back.append(30, loss=0.0)
    back.write_csv(path)
    assert len(CurveLog.read_csv(path)) == 4


def test_curvelog_errors(tmp_path):
    log = CurveLog()
    with pytest.raises(ConfigError):
        log.append(1, iteration=3)
    with pytest.raises(ConfigError):
        log.append(1.5, loss=1.0)
    with pytest.raises(ConfigError):
        log.append(1, loss=[1, 2])
    with pytest.raises(EBMError, match="could not write"):
        log.write_csv(tmp_path / "missing" / "m.csv")
    with pytest.raises(EBMError, match="could not read"):
        CurveLog.read_csv(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("step,loss\n1,2\n")
    with pytest.raises(EBMError, match="iteration"):
        CurveLog.read_csv(bad)
    bad.write_text("iteration,loss\n1,2,3\n")
    with pytest.raises(EBMError, match="line 2"):
        CurveLog.read_csv(bad)
    log.extend([{"iteration": 5, "loss": 1.0}])
    assert log.rows == [{"iteration": 5, "loss": 1.0}]
    assert not any(name.endswith(".tmp") for name in os.listdir(tmp_path))


def test_curvelog_keeps_long_runs_compact():
    """A row of six curves takes about 80 bytes (a dict per row took about 450)."""
    import tracemalloc

    log = CurveLog()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1, 5001):
            log.append(i, loss=i * 1e-3, e_pos=-1.0 / i, e_neg=1.0 / i, grad_norm=0.5, lr=1e-4, seconds=0.01)
        per_row = (tracemalloc.get_traced_memory()[0] - before) / 5000
    finally:
        tracemalloc.stop()
    assert per_row < 150, per_row
    it, loss = log.series("loss")
    assert it[-1] == 5000 and loss[-1] == 5.0


def test_curvelog_arrays_round_trip_and_refuse_damage():
    """Checkpoints keep the curves as arrays (a CSV in the safetensors header grew without bound)."""
    log = CurveLog()
    log.append(1, loss=0.5, phase="warmup")
    log.append(2, loss=float("nan"), count=3)
    log.append(3, acc=0.25)
    tensors, meta = log.to_arrays()
    back = CurveLog.from_arrays(tensors, meta)
    assert back.to_csv() == log.to_csv() and back.columns == log.columns
    assert back.rows[0] == {"iteration": 1, "loss": 0.5, "phase": "warmup"} and back.rows[2] == log.rows[2]
    assert math.isnan(back.rows[1]["loss"]) and back.rows[1]["count"] == 3 and type(back.rows[1]["count"]) is int
    empty = CurveLog.from_arrays(*CurveLog().to_arrays())
    assert len(empty) == 0
    bad_kinds = {**tensors, "0/kinds": np.full(3, 9, dtype=np.uint8)}
    for damaged_tensors, damaged_meta in [
        ({k: v for k, v in tensors.items() if k != "1/values"}, meta),  # a column missing
        ({**tensors, "0/values": tensors["0/values"][:2]}, meta),  # a short column
        (bad_kinds, meta),  # an unknown cell kind
        (tensors, {**meta, "names": ["loss", "loss", "count", "acc"]}),  # repeated names
        (tensors, {**meta, "text": {}}),  # a text cell without its text
    ]:
        with pytest.raises(EBMError, match="learning curves are damaged"):
            CurveLog.from_arrays(damaged_tensors, damaged_meta, source="ckpt")
