"""Application presets: parsing, checks against the preset function, listing, running."""

from __future__ import annotations

import sys
import types

import pytest

from engine.applications import preset as app_preset
from engine.applications.preset import (
    KINDS,
    list_applications,
    load_application,
    parse_application,
    run_application,
)
from engine.errors import ConfigError


@pytest.fixture
def fake_kind(monkeypatch):
    """An 'ood' preset function in a stand-in module: first argument the model, then keywords."""
    calls = []

    def fake(model, n=4, seed=0):
        calls.append((model, n, seed))
        return "done"

    module = types.ModuleType("fake_ood_module")
    module.PRESET_FUNCTIONS = {"ood": fake}
    monkeypatch.setitem(sys.modules, "fake_ood_module", module)
    monkeypatch.setitem(app_preset.KIND_MODULES, "ood", "fake_ood_module")
    return calls


def test_file_round_trip(tmp_path, fake_kind):
    path = tmp_path / "mine.toml"
    path.write_text('# detect odd inputs\nkind = "ood"\nmodel = "some_model"\n[params]\nn = 9\n')
    p = load_application(path)
    assert (p.kind, p.model, p.params, p.description, p.name) == ("ood", "some_model", {"n": 9},
                                                                   "detect odd inputs", "mine")


def test_unknown_kind_params_and_keys_are_named(fake_kind):
    with pytest.raises(ConfigError, match="'paint'.*inpaint"):
        parse_application({"kind": "paint", "model": "m"})
    with pytest.raises(ConfigError, match="bogus.*allowed: n, seed"):
        parse_application({"kind": "ood", "model": "m", "params": {"bogus": 1, "n": 2}})
    with pytest.raises(ConfigError, match="modle"):
        parse_application({"kind": "ood", "modle": "m"})
    with pytest.raises(ConfigError, match="model must be"):
        parse_application({"kind": "ood", "model": 3})


def test_a_negative_or_fractional_seed_is_refused_when_the_preset_is_read_or_run(fake_kind):
    for seed in (-1, 1.5, True):
        with pytest.raises(ConfigError, match="seed must be a whole number >= 0"):
            parse_application({"kind": "ood", "model": "m", "params": {"seed": seed}})
    preset = parse_application({"kind": "ood", "model": "m", "params": {"seed": 3}})
    with pytest.raises(ConfigError, match="seed must be"):
        run_application(preset, model="m", seed=-2)  # an override, checked before the model opens


def test_compose_takes_a_weighted_list():
    p = parse_application({"kind": "compose", "model": [{"model": "a", "weight": 2}, {"model": "b"}]})
    assert p.model == [{"model": "a", "weight": 2.0}, {"model": "b", "weight": 1.0}]
    with pytest.raises(ConfigError, match="weight must be a number"):
        parse_application({"kind": "compose", "model": [{"model": "a", "weight": "x"}]})
    with pytest.raises(ConfigError, match="model must be"):
        parse_application({"kind": "inpaint", "model": [{"model": "a"}]})


def test_missing_preset_lists_names():
    with pytest.raises(ConfigError, match="no application preset 'nope'"):
        load_application("nope")


def test_run_application_opens_the_model_and_passes_params(fake_kind, monkeypatch):
    from engine.applications import models  # noqa: PLC0415

    monkeypatch.setattr(models, "open_model", lambda ref, xp=None: f"opened:{ref}")
    p = parse_application({"kind": "ood", "model": "m", "params": {"n": 3}})
    assert run_application(p, seed=5) == "done"
    assert fake_kind[-1] == ("opened:m", 3, 5)
    with pytest.raises(ConfigError, match="unknown ood param"):
        run_application(p, wrong=1)


def test_shipped_presets_all_load():
    presets = list_applications()
    assert all(p.kind in KINDS and p.description for p in presets)
    assert [p.name for p in presets] == sorted(p.name for p in presets)
