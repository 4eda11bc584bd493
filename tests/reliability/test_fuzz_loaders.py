"""Every loader, fed 150 mutated files each: it loads them or refuses them with an
EBMError naming the file; nothing else escapes and nothing hangs. ``tools/fuzz_loaders.py``
runs the same targets with thousands of inputs."""

from __future__ import annotations

import warnings

import pytest

from tests.reliability.fuzz import Summary, fuzz, run_one, targets

N_INPUTS = 150  # per target: about 15 s for all targets; the script runs thousands
TARGETS = targets()


def _describe(summary: Summary) -> str:
    lines = [f"{summary.target}: {len(summary.crashes)} crashes, {len(summary.hangs)} hangs"]
    for mutation, tb in summary.crashes[:3]:
        lines.append(f"  after {mutation}:\n{tb}")
    lines += [f"  hang after {m} ({s:.1f} s)" for m, s in summary.hangs[:3]]
    return "\n".join(lines)


@pytest.mark.parametrize("name", list(TARGETS))
def test_mutated_files_load_or_are_refused_with_an_ebm_error(name, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # damaged weights overflow on purpose
        summary = fuzz(TARGETS[name], N_INPUTS, seed=0, workdir=tmp_path)
    assert summary.inputs == N_INPUTS
    assert not summary.crashes and not summary.hangs, _describe(summary)
    assert sum(summary.refused.values()) > 0  # the mutations did reach the checks


def test_the_harness_reports_crashes_and_hangs(tmp_path):
    from tests.reliability.fuzz import Target

    def crash(path):
        raise KeyError("boom")

    def spin(path):
        while True:
            pass

    crashing = Target("crash", lambda _: b"x", crash)
    assert run_one(crashing, b"x", tmp_path).kind == "crash"
    hanging = Target("hang", lambda _: b"x", spin)
    assert run_one(hanging, b"x", tmp_path, limit=0.2).kind == "hang"
