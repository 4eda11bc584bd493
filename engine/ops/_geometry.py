"""Index arithmetic shared by the convolution paths."""

from __future__ import annotations


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def tap_range(tap: int, padding: int, stride: int, size_in: int, size_out: int) -> tuple[int, int, int]:
    """Outputs o in [o0, o1) whose tap lands inside the input, at rows h0 + stride*(o - o0)."""
    o0 = max(0, -((tap - padding) // stride))  # ceil((padding - tap) / stride)
    o1 = min(size_out, (size_in - 1 - tap + padding) // stride + 1)
    return o0, max(o0, o1), tap - padding + stride * o0


def strided(start: int, count: int, stride: int) -> slice:
    """count indices start, start + stride, ... as a slice."""
    return slice(start, start + stride * (count - 1) + 1, stride)
