"""Static checks of the CUDA source: every kernel declared, emulated, deterministic."""

from __future__ import annotations

import re

from engine import kernels

from .emulate import EMULATORS
from .fake_cupy import POINTER_TYPES, SCALAR_TYPES, signatures


def test_every_listed_kernel_is_defined_once_and_emulated():
    src = kernels.source()
    sigs = signatures(src)
    names = kernels.kernel_names()
    assert len(names) == len(set(names))
    assert sorted(sigs) == sorted(names)
    assert len(re.findall(r'extern "C" __global__', src)) == len(names)
    assert sorted(EMULATORS) == sorted(names)


def test_kernel_parameters_have_types_the_launch_check_knows():
    for name, params in signatures(kernels.source()).items():
        for base, pointer in params:
            assert base in (POINTER_TYPES if pointer else SCALAR_TYPES), (name, base, pointer)


def test_kernels_are_deterministic_gathers():
    """No atomics (order-dependent float sums) and no cuRAND (the noise is in-kernel Philox)."""
    src = kernels.source()
    assert "atomic" not in src
    assert "curand" not in src.lower()


def test_reductions_match_the_launch_block():
    assert kernels.BLOCK == 256 and "#define REDUCE_BLOCK 256" in kernels.HEADER
    assert "--fmad=false" in kernels.OPTIONS  # mul then add rounds as NumPy's two passes
