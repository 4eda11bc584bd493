"""Optimizers, gradient clipping and schedules against torch.optim, plus resume and validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.errors import ConfigError
from engine.training import (SGD, Adam, ConstantSchedule, CosineSchedule, StepSchedule, WarmupSchedule,
                             clip_grad_norm, make_optimizer, make_schedule)

torch = pytest.importorskip("torch")

SHAPES = [(4, 3), (3,), (2, 2, 3)]
STEPS = 20


def _init(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in SHAPES]


def _noise(seed: int = 1) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s) for s in SHAPES] for _ in range(STEPS)]


def _grads(params: list[np.ndarray], noise: list[np.ndarray]) -> list[np.ndarray]:
    """A gradient that depends on the parameters, so trajectory errors would compound."""
    return [np.sin(3.0 * p) + 0.5 * p + n for p, n in zip(params, noise)]


def _run_ours(make, steps: int = STEPS) -> tuple[list[np.ndarray], list[float]]:
    params, noise = _init(), _noise()
    opt = make(params)
    lrs = []
    for k in range(steps):
        lrs.append(opt.step(_grads(params, noise[k])))
    return params, lrs


def _run_torch(make, make_sched=None, steps: int = STEPS) -> tuple[list[np.ndarray], list[float]]:
    params = [torch.tensor(p, requires_grad=True) for p in _init()]
    noise = _noise()
    opt = make(params)
    sched = make_sched(opt) if make_sched else None
    lrs = []
    for k in range(steps):
        for p, g in zip(params, _grads([p.detach().numpy() for p in params], noise[k])):
            p.grad = torch.from_numpy(g)
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
    return [p.detach().numpy().copy() for p in params], lrs


def _assert_close(ours: list[np.ndarray], ref: list[np.ndarray]) -> None:
    for a, b in zip(ours, ref):
        assert a.dtype == np.float64
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


ADAM_CASES = [
    dict(lr=1e-2),
    dict(lr=0.05, betas=(0.0, 0.999)),
    dict(lr=0.05, betas=(0.3, 0.9), eps=1e-6),
    dict(lr=1e-2, weight_decay=0.1),
    dict(lr=1e-2, betas=(0.0, 0.999), weight_decay=0.05),
]


@pytest.mark.parametrize("kw", ADAM_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_adam_matches_torch(kw):
    ours, _ = _run_ours(lambda p: Adam(p, **kw))
    ref, _ = _run_torch(lambda p: torch.optim.Adam(p, **kw))
    _assert_close(ours, ref)


@pytest.mark.parametrize("kw", [dict(lr=1e-2, weight_decay=0.1), dict(lr=0.05, betas=(0.0, 0.999), weight_decay=0.5)])
def test_adamw_matches_torch(kw):
    ours, _ = _run_ours(lambda p: Adam(p, decoupled_weight_decay=True, **kw))
    ref, _ = _run_torch(lambda p: torch.optim.AdamW(p, **kw))
    _assert_close(ours, ref)
    ours2, _ = _run_ours(lambda p: make_optimizer("adamw", p, **kw))
    _assert_close(ours2, ref)


SGD_CASES = [
    dict(lr=0.05),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.8, dampening=0.3),
    dict(lr=0.05, momentum=0.9, weight_decay=0.01),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.02, momentum=0.5, nesterov=True, weight_decay=0.2),
]


@pytest.mark.parametrize("kw", SGD_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_sgd_matches_torch(kw):
    ours, _ = _run_ours(lambda p: SGD(p, **kw))
    ref, _ = _run_torch(lambda p: torch.optim.SGD(p, **kw))
    _assert_close(ours, ref)


def test_step_schedule_matches_steplr():
    ours, our_lrs = _run_ours(lambda p: Adam(p, lr=StepSchedule(0.05, step_size=3, gamma=0.5)))
    ref, ref_lrs = _run_torch(lambda p: torch.optim.Adam(p, lr=0.05),
                              lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5))
    np.testing.assert_allclose(our_lrs, ref_lrs, rtol=1e-14)
    _assert_close(ours, ref)


def test_cosine_schedule_matches_cosineannealinglr():
    ours, our_lrs = _run_ours(lambda p: SGD(p, lr=CosineSchedule(0.1, total_steps=STEPS, min_lr=1e-3), momentum=0.9))
    ref, ref_lrs = _run_torch(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
                              lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=STEPS, eta_min=1e-3))
    np.testing.assert_allclose(our_lrs, ref_lrs, rtol=1e-12)
    _assert_close(ours, ref)


def test_warmup_matches_linearlr_then_cosine():
    w, total = 4, STEPS - 4
    sched = make_schedule("cosine", lr=0.05, total_steps=total, min_lr=0.0, warmup_steps=w)
    assert isinstance(sched, WarmupSchedule)

    def torch_sched(o):
        warm = torch.optim.lr_scheduler.LinearLR(o, start_factor=1.0 / w, end_factor=1.0, total_iters=w - 1)
        cos = torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total)
        return torch.optim.lr_scheduler.SequentialLR(o, [warm, cos], milestones=[w])

    ours, our_lrs = _run_ours(lambda p: Adam(p, lr=sched, betas=(0.0, 0.999)))
    ref, ref_lrs = _run_torch(lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.0, 0.999)), torch_sched)
    np.testing.assert_allclose(our_lrs, ref_lrs, rtol=1e-12)
    assert our_lrs[0] == pytest.approx(0.05 / w) and our_lrs[w - 1] == our_lrs[w] == 0.05
    _assert_close(ours, ref)


def test_schedule_values():
    assert ConstantSchedule(0.1).lr_at(1000) == 0.1
    s = StepSchedule(1.0, step_size=2, gamma=0.5)
    assert [s.lr_at(t) for t in range(5)] == [1.0, 1.0, 0.5, 0.5, 0.25]
    c = CosineSchedule(1.0, total_steps=4, min_lr=0.2)
    assert c.lr_at(0) == 1.0 and c.lr_at(2) == pytest.approx(0.6) and c.lr_at(4) == c.lr_at(99) == 0.2
    assert make_schedule(**c.to_dict()) == c
    wc = make_schedule("step", lr=1.0, step_size=2, warmup_steps=3)
    assert make_schedule(**wc.to_dict()) == wc


@pytest.mark.parametrize("max_norm", [0.5, 3.0, 1e3])
def test_clip_grad_norm_matches_torch(max_norm):
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal(s) for s in SHAPES]
    tgrads = [torch.tensor(g) for g in grads]
    params = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in SHAPES]
    for p, g in zip(params, tgrads):
        p.grad = g.clone()
    ref_total = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    total = clip_grad_norm(grads, max_norm)
    assert isinstance(total, float)
    assert total == pytest.approx(ref_total, rel=1e-14)
    assert total == pytest.approx(math.sqrt(sum(float((g0 ** 2).sum()) for g0 in tgrads)), rel=1e-14)
    for g, p in zip(grads, params):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-14, atol=0)
    clipped = math.sqrt(sum(float((g ** 2).sum()) for g in grads))
    assert clipped <= max_norm * (1 + 1e-12)


def test_clip_grad_norm_float32_and_nonfinite():
    grads = [np.full((3,), 4.0, np.float32), np.full((2, 2), 3.0, np.float32)]
    total = clip_grad_norm(grads, 1.0)
    assert total == pytest.approx(math.sqrt(3 * 16 + 4 * 9), rel=1e-6)
    assert all(g.dtype == np.float32 for g in grads)
    assert math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads)) == pytest.approx(1.0, rel=1e-5)
    bad = [np.array([1.0, np.nan]), np.array([2.0])]
    assert math.isnan(clip_grad_norm(bad, 1.0))
    assert bad[1][0] == 2.0  # left alone: the caller detects the divergence
    assert clip_grad_norm([], 1.0) == 0.0
    with pytest.raises(ConfigError, match="max_norm must be > 0"):
        clip_grad_norm(grads, 0.0)


@pytest.mark.parametrize("make", [
    lambda p: Adam(p, lr=CosineSchedule(0.05, total_steps=STEPS, min_lr=1e-3), betas=(0.0, 0.999), weight_decay=0.01),
    lambda p: Adam(p, lr=0.02, decoupled_weight_decay=True, weight_decay=0.1),
    lambda p: SGD(p, lr=StepSchedule(0.05, 4, 0.5), momentum=0.9, nesterov=True),
    lambda p: SGD(p, lr=0.05),
], ids=["adam-cosine", "adamw", "sgd-nesterov-step", "sgd-plain"])
def test_resume_is_bit_identical(make):
    noise = _noise()
    straight = _init()
    opt = make(straight)
    for k in range(STEPS):
        opt.step(_grads(straight, noise[k]))

    first = _init()
    opt1 = make(first)
    for k in range(STEPS // 2):
        opt1.step(_grads(first, noise[k]))
    state = opt1.state_dict()
    saved_params = [p.copy() for p in first]
    opt1.step(_grads(first, noise[STEPS // 2]))  # moving on must not change the saved state
    assert state["step"] == STEPS // 2

    resumed = saved_params
    opt2 = make(resumed)
    opt2.load_state_dict(state)
    assert opt2.step_count == STEPS // 2 and opt2.lr == opt1.schedule.lr_at(STEPS // 2)
    for k in range(STEPS // 2, STEPS):
        opt2.step(_grads(resumed, noise[k]))
    for a, b in zip(resumed, straight):
        assert np.array_equal(a, b)


def test_state_dict_contents_and_constant_lr_restored():
    params = _init()
    opt = Adam(params, lr=1e-3, betas=(0.0, 0.999))
    opt.step(_grads(params, _noise()[0]))
    opt.set_lr(5e-4)  # e.g. changed from the GUI during the run
    state = opt.state_dict()
    assert state["kind"] == "adam" and state["step"] == 1 and state["lr"] == 5e-4
    assert set(state["buffers"]) == {"exp_avg", "exp_avg_sq"}
    assert [b.shape for b in state["buffers"]["exp_avg"]] == SHAPES
    assert state["settings"]["betas"] == [0.0, 0.999]
    other = Adam(_init(), lr=1e-3, betas=(0.0, 0.999))
    other.load_state_dict(state)
    assert other.lr == 5e-4
    with pytest.raises(ConfigError, match="belongs to 'adam'"):
        SGD(_init(), lr=0.1).load_state_dict(state)
    with pytest.raises(ConfigError, match="shape"):
        Adam([np.zeros(2), np.zeros(3), np.zeros((2, 2, 3))]).load_state_dict(state)


def test_float32_stays_float32_and_in_place():
    rng = np.random.default_rng(0)
    params = [rng.standard_normal((5, 4)).astype(np.float32), rng.standard_normal(4).astype(np.float32)]
    ids = [id(p) for p in params]
    before = [p.copy() for p in params]
    for opt in (Adam(params, lr=1e-3, betas=(0.0, 0.999), weight_decay=0.1),
                SGD(params, lr=1e-2, momentum=0.9, nesterov=True, weight_decay=0.1)):
        opt.step([np.ones_like(p) for p in params])
        assert all(p.dtype == np.float32 for p in params)
        assert all(b.dtype == np.float32 for bufs in opt.buffers.values() for b in bufs)
    assert [id(p) for p in params] == ids
    assert not np.array_equal(params[0], before[0])


def test_adam_beta1_zero_first_moment_is_gradient():
    params = [np.zeros(3)]
    opt = Adam(params, lr=0.1, betas=(0.0, 0.999))
    g = np.array([0.1, -2.0, 3.0])
    opt.step([g])
    assert np.array_equal(opt.buffers["exp_avg"][0], g)


def test_energy_net_parameters_update_in_place():
    from engine.models import EnergyNet
    from engine.models.presets import mlp_2d

    net = EnergyNet(mlp_2d(width=8, depth=1), seed=0, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((16, 2))
    opt = Adam(net.parameters(), lr=1e-2, betas=(0.0, 0.999))
    first = None
    for _ in range(5):
        e = net.forward(x)
        loss = float(e.mean())
        first = loss if first is None else first
        net.backward(np.full_like(e, 1.0 / len(e)))
        clip_grad_norm(net.gradients(), 10.0)
        opt.step(net.gradients())
    assert float(net.energy(x).mean()) < first


@pytest.mark.parametrize("make, match", [
    (lambda p: Adam(p, lr=0.0), "adam: lr must be > 0"),
    (lambda p: Adam(p, lr=-1e-3), "adam: lr must be > 0"),
    (lambda p: Adam(p, lr=float("inf")), "lr must be a finite number > 0"),
    (lambda p: Adam(p, lr="fast"), "lr must be a finite number > 0"),
    (lambda p: Adam(p, betas=(1.0, 0.999)), r"beta1\) must be in \[0, 1\)"),
    (lambda p: Adam(p, betas=(0.9, -0.1)), r"beta2\) must be in \[0, 1\)"),
    (lambda p: Adam(p, betas=0.9), "betas must be a pair"),
    (lambda p: Adam(p, eps=-1.0), "eps must be >= 0"),
    (lambda p: Adam(p, weight_decay=-0.1), "weight_decay must be >= 0"),
    (lambda p: SGD(p, lr=-1.0), "sgd: lr must be > 0"),
    (lambda p: SGD(p, momentum=1.0), r"momentum must be in \[0, 1\)"),
    (lambda p: SGD(p, dampening=1.5), r"dampening must be in \[0, 1\]"),
    (lambda p: SGD(p, nesterov=True), "nesterov needs momentum > 0"),
    (lambda p: SGD(p, momentum=0.9, nesterov=True, dampening=0.1), "nesterov needs momentum > 0 and dampening = 0"),
    (lambda p: SGD([], lr=0.1), "no parameters"),
    (lambda p: make_optimizer("rmsprop", p), "unknown optimizer 'rmsprop'; allowed"),
    (lambda p: make_optimizer("adam", p, momentum=0.9), r"adam: unknown setting\(s\) in \['momentum'\]"),
    (lambda p: StepSchedule(0.1, step_size=0), "step_size must be an integer >= 1"),
    (lambda p: StepSchedule(0.1, step_size=2, gamma=0.0), r"gamma must be in \(0, 1\]"),
    (lambda p: CosineSchedule(0.1, total_steps=10, min_lr=0.5), r"min_lr must be in \[0, 0.1\]"),
    (lambda p: CosineSchedule(0.1, total_steps=2.5), "total_steps must be an integer >= 1"),
    (lambda p: make_schedule("exp", lr=0.1), "unknown learning-rate schedule"),
    (lambda p: make_schedule("cosine", lr=0.1), r"missing setting\(s\) \['total_steps'\]"),
    (lambda p: make_schedule("constant", lr=0.1, warmup_steps=-1), "warmup_steps must be an integer >= 0"),
])
def test_settings_are_validated(make, match):
    with pytest.raises(ConfigError, match=match):
        make(_init())


def test_step_checks_gradients():
    params = _init()
    opt = SGD(params, lr=0.1)
    with pytest.raises(ValueError, match="got 2 gradients for 3 parameters"):
        opt.step(_grads(params, _noise()[0])[:2])
    with pytest.raises(ValueError, match="gradient 1 has shape"):
        opt.step([np.zeros((4, 3)), np.zeros(4), np.zeros((2, 2, 3))])
    assert opt.step_count == 0


@pytest.mark.parametrize("settings", [
    {"kind": "constant", "lr": 0.3},
    {"kind": "step", "lr": 0.3, "step_size": 4, "gamma": 0.5},
    {"kind": "cosine", "lr": 0.3, "total_steps": 10, "min_lr": 0.01},
    {"kind": "cosine", "lr": 0.3, "total_steps": 10, "min_lr": 0.01, "warmup_steps": 3},
])
def test_a_scaled_schedule_is_the_same_curve_times_the_factor(settings):
    schedule = make_schedule(**settings)
    half = schedule.scaled(0.5)
    assert type(half) is type(schedule)
    for step in range(16):
        assert half.lr_at(step) == pytest.approx(0.5 * schedule.lr_at(step), rel=1e-12)
