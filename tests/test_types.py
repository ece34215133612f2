"""Element types and quantization ranges: DType knows its bit width and integer range (the one definition of
int8's range), QParams its [qmin, qmax], and the one rounding helper rounds exactly in its argument's precision."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgelower.ir.graph import DType, QParams, TensorType
from edgelower.quant.arith import round_half_away

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("dtype, bits, lo, hi", [
    (DType.INT2, 2, -2, 1), (DType.INT4, 4, -8, 7), (DType.INT8, 8, -128, 127), (DType.UINT8, 8, 0, 255),
    (DType.INT16, 16, -32768, 32767), (DType.INT32, 32, -2 ** 31, 2 ** 31 - 1),
    (DType.INT64, 64, -2 ** 63, 2 ** 63 - 1), (DType.BOOL, 8, 0, 1),
])
def test_integer_types_know_their_width_and_range(dtype, bits, lo, hi):
    assert (dtype.bits, dtype.min, dtype.max) == (bits, lo, hi)
    if bits >= 8 and dtype is not DType.BOOL:
        info = np.iinfo(dtype.numpy)
        assert (info.min, info.max, info.bits) == (lo, hi, bits)


def test_sub_byte_types_hold_values_unpacked_and_refuse_a_byte_count():
    assert DType.INT4.numpy == np.int8 and DType.INT2.numpy == np.int8
    with pytest.raises(ValueError, match="int4 has no byte layout"):
        TensorType((3, 5), DType.INT4).nbytes
    assert TensorType((3, 5), DType.INT16).nbytes == 30
    with pytest.raises(ValueError):
        DType.FLOAT32.min


def test_qparams_ranges():
    assert (QParams((0.1,), (0,)).qmin, QParams((0.1,), (0,)).qmax) == (DType.INT8.min, DType.INT8.max)
    assert QParams.narrow((0.1,), (0,)).qmin == -DType.INT8.max
    bias = QParams.for_dtype(DType.INT32, (0.1, 0.2), (0, 0), 0)
    assert (bias.qmin, bias.qmax, bias.axis) == (DType.INT32.min, DType.INT32.max, 0)
    assert "range=[-127, 127]" in str(TensorType((2,), DType.INT8, QParams.narrow((0.1,), (0,))))
    assert "range" not in str(TensorType((2,), DType.INT8, QParams((0.1,), (0,))))


def test_int8_range_is_written_in_one_place():
    """No -128 / 127 literal in the compiler, the passes or the backends: the int8 range comes from DType."""
    found = subprocess.run(["grep", "-rnE", "-e", r"-128|127", "compiler", "passes", "backends"], cwd=ROOT,
                           capture_output=True, text=True).stdout.splitlines()
    # The zoo's MLP has a 128-wide hidden layer ("64-128-64-10"), not an int8 bound.
    assert [line for line in found if "64-128-64-10" not in line] == []


def test_round_half_away_is_exact_in_float32_and_float64():
    below_half32 = np.nextafter(np.float32(0.5), np.float32(0))
    assert np.float32(below_half32 + np.float32(0.5)) == 1.0  # why floor(|x| + 0.5) is wrong
    got = round_half_away(np.float32([below_half32, -below_half32, 0.5, -0.5, 1.5, 2.5, -2.5, 8388609.0]))
    assert got.dtype == np.float32 and got.tolist() == [0, 0, 1, -1, 2, 3, -3, 8388609]
    below_half64 = np.nextafter(0.5, 0.0)
    assert [int(round_half_away(v)) for v in (below_half64, -below_half64, 0.5, 2.5, -3.5, 2.0 ** 60 + 1)] == \
        [0, 0, 1, 3, -4, 2 ** 60]
    assert np.isnan(round_half_away(np.float32(np.nan))) and round_half_away(np.inf) == np.inf
