"""The CUDA module compiles with NVRTC for Ampere (sm_80) and Hopper (sm_90), without a GPU.

NVRTC needs no device: this runs wherever CuPy's NVRTC binding and the NVRTC
library load (``pip install cupy-cuda12x nvidia-cuda-nvrtc-cu12``) and is
skipped elsewhere. The options are those CuPy's RawModule passes (-arch,
-ftz=true, --device-as-default-execution-space) plus engine.kernels.OPTIONS;
a cubin target runs ptxas too, so register and shared-memory limits are checked.
"""

from __future__ import annotations

import re

import pytest

from engine import kernels

CUPY_OPTIONS = ("-ftz=true", "--device-as-default-execution-space")


@pytest.fixture(scope="module")
def nvrtc():
    try:
        from cupy_backends.cuda.libs import nvrtc as lib  # noqa: PLC0415

        lib.getVersion()
    except Exception as exc:  # noqa: BLE001 - not installed, or the library does not load
        pytest.skip(f"NVRTC is not available here ({type(exc).__name__}: {exc})")
    return lib


def _compile(nvrtc, source: str, target: str) -> tuple[bytes | str, str]:
    """(PTX or cubin, log) for '-arch=' + target; raises nvrtc.NVRTCError with the log attached."""
    prog = nvrtc.createProgram(source, "engine_kernels.cu", (), ())
    try:
        try:
            nvrtc.compileProgram(prog, (f"-arch={target}", *CUPY_OPTIONS, *kernels.OPTIONS))
        except nvrtc.NVRTCError as exc:
            raise AssertionError(f"NVRTC ({target}) failed:\n{nvrtc.getProgramLog(prog)}") from exc
        log = nvrtc.getProgramLog(prog)
        out = nvrtc.getPTX(prog) if target.startswith("compute_") else nvrtc.getCUBIN(prog)
        return out, log
    finally:
        nvrtc.destroyProgram(prog)


@pytest.mark.parametrize("arch", ["80", "90"])
def test_module_compiles_to_machine_code(nvrtc, arch):
    cubin, log = _compile(nvrtc, kernels.source(), f"sm_{arch}")
    assert len(cubin) > 1000
    assert "warning" not in log.lower(), log


def test_ptx_has_every_kernel_as_an_entry(nvrtc):
    ptx, _ = _compile(nvrtc, kernels.source(), "compute_90")
    ptx = ptx.decode() if isinstance(ptx, bytes) else ptx
    entries = set(re.findall(r"\.entry\s+(\w+)\(", ptx))
    assert entries == set(kernels.kernel_names())


def test_the_check_catches_a_broken_kernel(nvrtc):
    broken = kernels.source().replace("tanhf(", "tanh_f(", 1)
    with pytest.raises(AssertionError, match="tanh_f"):
        _compile(nvrtc, broken, "compute_90")
