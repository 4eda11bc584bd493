"""Which convolution path is chosen (both paths are checked in test_ops_conv; gemm in test_blas)."""

import numpy as np
import pytest

from engine.ops import blas, conv_rows


def test_row_window_path_is_chosen_where_it_saves_memory_traffic():
    if not blas.has_direct_blas():
        pytest.skip("NumPy is not linked to an OpenBLAS with cblas symbols")
    # W2's layers at 32 images: 64 and 128 channels in, 16x16 and 8x8 out; 256 in, 4x4 out
    assert conv_rows.pays_off(out_channels=128, kernel=4, stride=2, oh=16, ow=16, n=32)
    assert conv_rows.pays_off(out_channels=256, kernel=4, stride=2, oh=8, ow=8, n=32)
    assert not conv_rows.pays_off(out_channels=512, kernel=4, stride=2, oh=4, ow=4, n=32)
    assert not conv_rows.pays_off(out_channels=64, kernel=3, stride=2, oh=16, ow=16, n=32)  # k not a multiple of s
    assert not conv_rows.pays_off(out_channels=64, kernel=2, stride=2, oh=16, ow=16, n=32)  # one row offset
    assert not conv_rows.pays_off(out_channels=64, kernel=3, stride=1, oh=32, ow=32, n=32)
