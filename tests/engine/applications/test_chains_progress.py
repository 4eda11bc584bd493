"""The progress callback of the applications' chains: same chain, monotone reports, a raise stops it."""

from __future__ import annotations

import numpy as np
import pytest

from engine.applications.chains import PROGRESS_CALLS, make_sampler, run_frames
from engine.applications.inpaint import inpaint
from engine.applications.interpolate import interpolate
from engine.energies.analytic import GaussianMixture


def _energy() -> GaussianMixture:
    return GaussianMixture(means=[[-1.0, 0.0], [1.0, 0.5]], stds=0.7)


def test_progress_reports_every_piece_and_leaves_the_chain_unchanged():
    energy = _energy()
    x0 = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    sampler, n = make_sampler(energy, n_steps=237, step_size=0.01)
    plain = run_frames(energy, x0, sampler, n, 5, seed=3)
    calls = []
    watched = run_frames(energy, x0, sampler, n, 5, seed=3, progress=lambda d, t: calls.append((d, t)))
    np.testing.assert_array_equal(watched.filmstrip, plain.filmstrip)  # cut into pieces: the same chain
    np.testing.assert_array_equal(watched.energies, plain.energies)
    done = [d for d, _ in calls]
    assert calls[0] == (0, 237) and calls[-1] == (237, 237) and all(t == 237 for _, t in calls)
    assert all(b > a for a, b in zip(done, done[1:]))
    assert len(calls) - 1 <= PROGRESS_CALLS + 5  # about PROGRESS_CALLS pieces (+ cuts at the 5 frames)
    assert max(np.diff(done)) <= -(-237 // PROGRESS_CALLS)


def test_an_exception_from_progress_ends_the_run():
    class Stop(Exception):
        pass

    seen = []

    def progress(done, total):
        seen.append(done)
        if done >= 40:
            raise Stop

    with pytest.raises(Stop):
        inpaint(_energy(), np.zeros((8, 2), np.float32), np.array([False, True]), n_steps=400, step_size=0.01,
                clamp=False, progress=progress)
    assert seen[-1] < 400


def test_interpolate_reports_progress_only_when_refining():
    calls = []
    a, b = np.array([-1.0, 0.0], np.float32), np.array([1.0, 0.5], np.float32)
    interpolate(_energy(), a, b, n=5, refine_steps=0, progress=lambda d, t: calls.append(d))
    assert calls == []
    interpolate(_energy(), a, b, n=5, refine_steps=10, step_size=0.01, progress=lambda d, t: calls.append(d))
    assert calls[0] == 0 and calls[-1] == 10


@pytest.mark.parametrize("sampler", ["langevin", "mala"])
def test_composition_reports_progress_without_changing_its_samples(sampler):
    from engine.applications.compose import sample_composed
    from engine.energies.analytic import Ring

    parts = [(_energy(), 1.0), (Ring(radius=1.0, width=0.3), 0.5)]
    plain = sample_composed(parts, n=64, n_steps=120, sampler=sampler, seed=1)
    calls = []
    watched = sample_composed(parts, n=64, n_steps=120, sampler=sampler, seed=1,
                              progress=lambda d, t: calls.append((d, t)))
    np.testing.assert_array_equal(watched.x, plain.x)
    assert calls[0] == (0, 120) and calls[-1] == (120, 120)
    assert 2 < len(calls) <= PROGRESS_CALLS + 2


def test_texture_synthesis_reports_progress_and_stops_when_progress_raises():
    from engine.applications.models import open_model
    from engine.applications.texture import synthesize

    class Stop(Exception):
        pass

    model = open_model("texture_convnet")
    calls = []
    r = synthesize(model, size=32, n_steps=10, margin=0, progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 10) and calls[-1] == (10, 10) and r.canvas.shape[-2:] == (32, 32)

    def stop_at_half(done, total):
        if done >= total // 2:
            raise Stop
    with pytest.raises(Stop):
        synthesize(model, size=32, n_steps=10, margin=0, progress=stop_at_half)
