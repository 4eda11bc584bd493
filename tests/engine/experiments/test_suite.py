import json
import math

import pytest

from engine import cli
from engine.data import toy2d
from engine.errors import ConfigError, DataError
from engine.experiments import suite
from engine.experiments.suite import (
    BenchmarkResult,
    compare,
    load_results,
    run_suite,
    select_cases,
    suite_cases,
)
from engine.models.presets import mlp_2d
from engine.training.config import dumps_config, load_config


def test_the_suite_covers_every_toy_with_both_samplers_and_the_digits():
    cases = suite_cases()
    assert set(suite.TOY_NAMES) == set(toy2d.TOY_DATASETS)  # a new toy needs a new SUITE_VERSION
    assert {(c.dataset, c.sampler) for c in cases if not c.image} == \
           {(t, s) for t in toy2d.TOY_DATASETS for s in ("langevin", "mala")}
    assert [c.dataset for c in cases if c.image] == ["builtin_digits"]
    assert len({c.name for c in cases}) == len(cases)
    # presets keep their tuned settings; the budget and seed are the suite's
    mala = next(c for c in cases if c.name == "rings_mala").config()
    assert mala.sampler.kind == "mala" and mala.sampler.step_size == 0.002  # rings' tuned step
    assert mala.train.iterations == suite.BUDGETS[False]["2d"] and mala.train.seed == suite.SEED
    assert next(c for c in cases if c.name == "checkerboard_langevin").config(quick=True).sampler.kind == "langevin"
    assert next(c for c in cases if c.image).config(quick=True).train.iterations == suite.BUDGETS[True]["image"]


def test_only_selects_cases_by_pattern():
    assert [c.name for c in select_cases("8gaussians_*")] == ["8gaussians_langevin", "8gaussians_mala"]
    assert [c.name for c in select_cases("digits")] == ["builtin_digits_langevin"]
    with pytest.raises(ConfigError, match="matches no case"):
        select_cases("no_such_case")


def test_quick_suite_on_two_cases_writes_files_that_round_trip(tmp_path, monkeypatch):
    # the two_moons preset with a narrow network: the 256x256-grid evaluation of the real one
    # takes most of a quick case's time
    preset = load_config(suite.PRESET_DIR / "two_moons.toml")
    presets = tmp_path / "presets"
    presets.mkdir()
    small = preset.replace(model={"preset": "", "layers": mlp_2d(16, 2)["layers"]}, buffer={"capacity": 256})
    (presets / "two_moons.toml").write_text(dumps_config(small), encoding="utf-8")
    monkeypatch.setattr(suite, "PRESET_DIR", presets)
    seen = []
    result = run_suite(quick=True, only="two_moons_*", on_result=seen.append)
    assert [r["case"] for r in result.rows] == ["two_moons_langevin", "two_moons_mala"] == [r["case"] for r in seen]
    lang, mala = result.rows
    for r in result.rows:
        assert r["iterations"] == suite.BUDGETS[True]["2d"] and not r["diverged"]
        assert all(math.isfinite(r[k]) for k in ("val_nll", "true_nll", "kl", "mmd", "seconds"))
        assert r["true_nll"] < r["val_nll"]  # a model after 25 iterations is worse than the true density
    assert math.isnan(lang["acceptance"]) and 0.0 < mala["acceptance"] <= 1.0
    assert result.info["quick"] is True and result.info["suite_version"] == suite.SUITE_VERSION
    json_path, csv_path = result.save(tmp_path / "out")
    for path in (json_path, csv_path):
        back = load_results(path)
        assert back.info == result.info
        for a, b in zip(result.rows, back.rows):
            assert a.keys() == b.keys()
            assert all(a[k] == b[k] or (isinstance(a[k], float) and math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def _result(quick=False, version=suite.SUITE_VERSION, **values):
    rows = [{"case": "c1", "dataset": "d", "sampler": "mala", "iterations": 5, "val_nll": values.get("nll", 3.0),
             "true_nll": 2.8, "kl": 0.2, "mmd": 0.01, "acceptance": values.get("acc", 0.8), "seconds": 10.0,
             "diverged": ""},
            {"case": "img", "dataset": "builtin_digits", "sampler": "langevin", "iterations": 5, "val_nll": math.nan,
             "true_nll": math.nan, "kl": math.nan, "mmd": 0.3, "acceptance": math.nan, "seconds": 20.0,
             "diverged": ""}]
    return BenchmarkResult(rows, {"suite_version": version, "quick": quick})


def test_compare_flags_the_better_side_for_min_and_max_metrics():
    rows = {(r.case, r.metric): r for r in compare(_result(nll=3.0, acc=0.8), _result(nll=2.9, acc=0.6))}
    nll, acc = rows[("c1", "val_nll")], rows[("c1", "acceptance")]
    assert nll.better == "b" and nll.delta == pytest.approx(-0.1)  # lower NLL wins
    assert acc.better == "a" and acc.delta == pytest.approx(-0.2)  # higher acceptance wins
    assert rows[("c1", "mmd")].better == "same"
    assert ("img", "val_nll") not in rows and ("img", "acceptance") not in rows  # metrics the case lacks
    assert rows[("img", "mmd")].better == "same"
    swapped = {(r.case, r.metric): r.better for r in compare(_result(nll=2.9, acc=0.6), _result(nll=3.0, acc=0.8))}
    assert swapped[("c1", "val_nll")] == "a" and swapped[("c1", "acceptance")] == "b"


def test_compare_refuses_other_versions_and_quick_against_full():
    with pytest.raises(DataError, match="suite version"):
        compare(_result(), _result(version=suite.SUITE_VERSION + 1))
    with pytest.raises(DataError, match="quick"):
        compare(_result(quick=True), _result(quick=False))


def test_a_corrupted_or_foreign_file_is_a_data_error_naming_it(tmp_path):
    path = tmp_path / "benchmark.json"
    path.write_text(_result().to_json()[:-40], encoding="utf-8")  # cut short
    with pytest.raises(DataError, match="benchmark.json"):
        load_results(path)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"rows": []}), encoding="utf-8")
    with pytest.raises(DataError, match="not a benchmark result"):
        load_results(other)
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(DataError, match="t.csv"):
        load_results(table)


def test_cli_compare_prints_the_table(tmp_path, capsys):
    _result(nll=3.0).save(tmp_path / "a")
    _result(nll=2.5).save(tmp_path / "b")
    status = cli.main(["benchmark", "--compare", str(tmp_path / "a" / "benchmark.json"),
                       str(tmp_path / "b" / "benchmark.csv")])
    assert status == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "| c1 | val_nll |" in x)
    assert line.split("|")[3:7] == [" 3.0000 ", " 2.5000 ", " -0.5000 ", " B "]
    _result(quick=True).save(tmp_path / "q")
    assert cli.main(["benchmark", "--compare", str(tmp_path / "a" / "benchmark.json"),
                     str(tmp_path / "q" / "benchmark.json")]) == 2
    assert "quick" in capsys.readouterr().err
    assert cli.main(["benchmark"]) == 2  # neither --out nor --compare
