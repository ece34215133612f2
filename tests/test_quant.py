"""TFLite's fixed-point helpers (edgelower.quant.arith, edgelower.quant.fixedpoint, run on the numpy integer
algebra; MUL_HIGH and ROUNDING_SHIFT_RIGHT are gemmlowp's SaturatingRoundingDoublingHighMul and RoundingDivideByPOT)
and the q-record constructors (edgelower.quant.records) against values computed by hand from TFLite's and
gemmlowp's definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgelower.interp.numpy_algebra import NUMPY
from edgelower.interp.primitives import mul_high, rounding_shift_right
from edgelower.quant import arith, fixedpoint as fp
from edgelower.quant.records import AddQ, HardSwishQ, LogisticQ, MeanQ, RequantQ, SoftmaxQ, activation_range, \
    calculate_input_radius
from edgelower.quant.arith import INT32_MAX, INT32_MIN, quantize_multiplier

Q30, Q31 = 1 << 30, 1 << 31


def i32(values) -> np.ndarray:
    return np.asarray(values, np.int64).astype(np.int32)


def multiply_by_quantized_multiplier(x, multiplier, shift):
    return arith.multiply_by_quantized_multiplier(NUMPY, i32(x), multiplier, shift)


@pytest.mark.parametrize("real, expected", [
    (0.0, (0, 0)),
    (1.0, (Q30, 1)),                               # frexp 0.5 * 2**1
    (0.5, (Q30, 0)),
    (0.75, (1610612736, 0)),
    (3.0, (1610612736, 2)),
    (1 / 3, (1431655765, -1)),
    (-0.75, (-1610612736, 0)),
    (0.5 + 2 ** -32, (Q30 + 1, 0)),                # fraction * 2**31 = 2**30 + 0.5: std::round goes away from zero
    (1 - 2 ** -40, (Q30, 1)),                      # rounds to 2**31: halved, shift + 1
    (2 ** -32, (Q30, -31)),                        # the smallest shift TFLite keeps
    (2 ** -33, (0, 0)),                            # shift < -31 flushes to zero
])
def test_quantize_multiplier(real, expected):
    assert quantize_multiplier(real) == expected


@pytest.mark.parametrize("a, b, expected", [
    (INT32_MIN, INT32_MIN, INT32_MAX),             # the one saturating product
    (INT32_MIN, INT32_MAX, -2147483647),
    (INT32_MAX, INT32_MAX, 2147483646),
    (1, Q30, 1),                                   # 0.5 rounds up
    (-1, Q30, 0),                                  # -0.5 rounds up too (nudge 1 - 2**30, truncating division)
    (3, Q30, 2),
    (-3, Q30, -1),
    (5, Q30, 3),
])
def test_saturating_rounding_doubling_high_mul(a, b, expected):
    assert int(mul_high(i32(a), i32(b))) == expected


@pytest.mark.parametrize("x, exponent, expected", [
    (5, 1, 3), (-5, 1, -3), (3, 1, 2), (-3, 1, -2), (1, 1, 1), (-1, 1, -1),  # ties away from zero
    (6, 2, 2), (-6, 2, -2), (7, 2, 2), (5, 2, 1), (-2, 2, -1),
    (0, 31, 0), (INT32_MAX, 31, 1), (INT32_MIN, 31, -1), (INT32_MIN, 0, INT32_MIN),
])
def test_rounding_divide_by_pot(x, exponent, expected):
    assert int(rounding_shift_right(i32(x), i32(exponent))) == expected


@pytest.mark.parametrize("x, multiplier, shift, expected", [
    (100, Q30, 1, 100),                            # QuantizeMultiplier(1.0): the identity
    (-7, Q30, -1, -2),                             # SRDHM -> -3, then RDBPOT(-3, 1) -> -2: double rounding
    (3, Q30, 3, 12),                               # left shift first
    (INT32_MAX, INT32_MAX, 0, 2147483646),
    (12345, 0, 0, 0),                              # a flushed multiplier
])
def test_multiply_by_quantized_multiplier(x, multiplier, shift, expected):
    assert int(multiply_by_quantized_multiplier(x, multiplier, shift)) == expected


def test_requantize_per_channel_clamps():
    acc = np.array([[100, 100], [-300, 7]], np.int32)
    out = arith.requantize(NUMPY, acc, [Q30, Q30], [0, 1], 3, -128, 100, axis=1)
    assert out.dtype == np.int8 and out.tolist() == [[53, 100], [-128, 10]]


def test_activation_range():
    assert activation_range("NONE", 0.05, -10) == (-128, 127)
    assert activation_range("RELU", 0.05, -10) == (-10, 127)
    assert activation_range("RELU6", 0.05, -10) == (-10, 110)          # 6 / 0.05 = 120
    assert activation_range("RELU_N1_TO_1", 0.05, -10) == (-30, 10)
    assert activation_range("RELU6", 0.01, 100) == (100, 127)          # clipped to int8
    with pytest.raises(ValueError):
        activation_range("GELU", 0.1, 0)


def test_record_constructors_hand_values():
    assert SoftmaxQ.from_scale(0.1) == SoftmaxQ(1717986944, 23, -248)   # 0.1 * 2**26 = 0.8 * 2**23
    assert SoftmaxQ.from_scale(64.0) == SoftmaxQ(INT32_MAX, 31, 0)      # 2**32 capped at 2**31 - 1: radius 0
    assert LogisticQ.from_scale(0.05, 3) == LogisticQ(-3, 240, 1717986944, 23)
    assert calculate_input_radius(4, 23) == 240                         # floor(15 * 2**27 / 2**23)
    assert HardSwishQ.from_scales(0.05, 3, 0.03, -10) == HardSwishQ(-3, -10, 17476, 3, 27307, -6)
    assert AddQ.from_scales(0.25, 1, 0.5, -3, 0.5, 5) == AddQ(-1, 3, 5, 20, Q30, -1, Q30, 0, Q30, -18)
    assert MeanQ.from_scales(0.5, 4, 0.5, -4) == MeanQ(-4, -4, Q30, 1)
    per_tensor = RequantQ.per_tensor(0.5, 0.25, 0.125, 0)
    assert (per_tensor.multiplier, per_tensor.shift, per_tensor.axis) == ((Q30,), (1,), None)
    assert RequantQ.per_channel(0.5, [0.25, 0.5], 0.125, 7, axis=1) == RequantQ((Q30, Q30), (1, 2), 7, 0, -128, 127, 1)


def test_per_tensor_multiplies_scales_in_double():
    """TFLM's GetQuantizedConvolutionMultipler multiplies input and weight scales in double: with an output scale
    of exactly twice their float32 product, the ratio is 0.5 only in float32, and the multiplier is not 2**30."""
    a, b = float(np.float32(0.3)), float(np.float32(0.07))
    out = float(np.float32(2 * np.float32(a) * np.float32(b)))
    assert quantize_multiplier(float(np.float32(a) * np.float32(b)) / out) == (Q30, 0)
    assert RequantQ.per_tensor(a, b, out, 0).multiplier != (Q30,)
    assert RequantQ.per_tensor(a, b, out, 0).multiplier == RequantQ.per_channel(a, [b], out, 0).multiplier
    assert AddQ.from_sub_scales(0.3, 1, 0.07, 2, 0.2, 3) == AddQ.from_scales(0.3, 1, 0.07, 2, 0.2, 3)


def test_constructors_refuse_what_tflite_refuses():
    with pytest.raises(ValueError):
        AddQ.from_scales(1.0, 0, 1.0, 0, 2 ** -20, 0)       # output multiplier above one
    with pytest.raises(ValueError):
        HardSwishQ.from_scales(1.0, 0, 2 ** -10, 0)         # output exponent above zero
    with pytest.raises(ValueError):
        RequantQ.from_scales(0.1, 200, 0.1, 0)              # zero point outside int8


def test_gemmlowp_fixed_points():
    assert int(fp.exp_on_negative_values(NUMPY, i32(0), 5)) == INT32_MAX
    assert int(fp.logistic(NUMPY, i32(0), 4)) == Q30
    assert int(fp.tanh(NUMPY, i32(0), 4)) == 0
    for value in (-0.1, -1.0, -3.3, -10.0):
        raw = fp.exp_on_negative_values(NUMPY, i32(int(value * 2 ** 26)), 5)
        assert abs(int(raw) / Q31 - math.exp(value)) < 2 ** -20
    x = i32(np.arange(-2 ** 27, 2 ** 27, 2 ** 20))  # Q4.27 in [-1, 1)
    x = x[x != 0]
    logistic, tanh = (lambda v: fp.logistic(NUMPY, v, 4).astype(np.int64)), lambda v: fp.tanh(NUMPY, v, 4)
    assert np.all(logistic(x) + logistic(-x) == INT32_MAX)  # One() - logistic(|x|) for x < 0
    assert np.all(np.abs(tanh(x).astype(np.int64) + tanh(-x)) <= 1)
    assert np.max(np.abs(tanh(x) / Q31 - np.tanh(x / 2 ** 27))) < 2 ** -20
    raw, bits = fp.get_reciprocal(NUMPY, i32([int(3.7 * 2 ** 19)]), 12)
    assert int(bits[0]) == 1 and abs(int(raw[0]) / Q31 * 2.0 ** -int(bits[0]) - 1 / 3.7) < 2 ** -20
