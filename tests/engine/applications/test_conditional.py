"""Class-conditional sampling with the shipped JEM: its classifier agrees with the conditioning class."""

from __future__ import annotations

import numpy as np
import pytest

from engine.applications.conditional import conditional_samples, sample_per_class
from engine.applications.models import open_model
from engine.errors import ConfigError


@pytest.fixture(scope="module")
def jem():
    return open_model("jem_digits")


def test_shipped_jem_samples_are_classified_as_their_class(jem):
    r = sample_per_class(jem, n_per_class=2, n_steps=20, frames=3)
    assert r.samples.shape == (10, 2, 1, 28, 28) and r.filmstrip.shape == (3, 10, 2, 1, 28, 28)
    assert r.class_names == tuple(str(d) for d in range(10))
    # the classifier's own reading, computed independently of the result's bookkeeping
    pred = np.asarray(jem.model.predict(r.samples.reshape(-1, 1, 28, 28))).reshape(10, 2)
    np.testing.assert_array_equal(pred, r.predicted)
    assert r.agreement == (pred == np.arange(10)[:, None]).mean()
    assert r.agreement > 0.5  # chance is 0.1; measured 1.0 (20 to 200 steps)
    assert (r.confidence >= r.class_prob - 1e-12).all() and (r.confidence <= 1).all()
    lo, hi = jem.value_range
    assert r.samples.min() >= lo and r.samples.max() <= hi


def test_conditional_energy_goes_down_and_classes_subset(jem):
    r = sample_per_class(jem, n_per_class=3, n_steps=10, classes=[3, 7], frames=2)
    assert r.samples.shape == (2, 3, 1, 28, 28) and list(r.classes) == [3, 7]
    x0 = r.filmstrip[0].reshape(-1, 1, 28, 28)
    labels = np.repeat([3, 7], 3)
    e0 = np.asarray(jem.model.energy_xy(x0, labels))
    e1 = np.asarray(jem.model.energy_xy(r.samples.reshape(-1, 1, 28, 28), labels))
    np.testing.assert_allclose(e1.reshape(2, 3), r.energies, rtol=1e-5, atol=1e-5)
    assert e1.mean() < e0.mean()


def test_needs_a_jem_and_valid_classes(jem):
    with pytest.raises(ConfigError, match="needs a JEM"):
        conditional_samples("digits_convnet", n_steps=1)
    with pytest.raises(ConfigError, match="classes"):
        sample_per_class(jem, classes=[10], n_steps=1)
