"""gemmlowp's fixed-point transcendentals (google/gemmlowp fixedpoint/fixedpoint.h), vectorized, bit for bit.

TFLite's int8 LOGISTIC, TANH and SOFTMAX run these on `FixedPoint<int32_t, IntegerBits>` values: a raw int32 `r`
standing for r / 2**(31 - IntegerBits). Here raw values are int64 numpy arrays holding int32 values; every
operation reproduces the C result, including int32 wraparound of plain additions (gemmlowp's operator+ and
operator- are unchecked) and the saturations gemmlowp spells out. Multiplication of fixed-point values is
SaturatingRoundingDoublingHighMul on the raws, and integer bits add up.
"""

from __future__ import annotations

import numpy as np

from edgelower.quant.arith import INT32_MAX, INT32_MIN, rounding_divide_by_pot
from edgelower.quant.arith import saturating_rounding_doubling_high_mul as srdhm


def wrap32(x) -> np.ndarray:
    """int32 two's-complement wraparound of an int64 array."""
    return np.asarray(x, np.int64).astype(np.int32).astype(np.int64)


def saturating_rounding_multiply_by_pot(x, exponent: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingMultiplyByPOT<exponent>: a saturating left shift, or a rounding right shift."""
    x = np.asarray(x, np.int64)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, x << exponent))


def rescale(x, src_integer_bits: int, dst_integer_bits: int) -> np.ndarray:
    """gemmlowp Rescale<dst>(FixedPoint<int32, src>)."""
    return saturating_rounding_multiply_by_pot(x, src_integer_bits - dst_integer_bits)


def rounding_half_sum(a, b) -> np.ndarray:
    """gemmlowp RoundingHalfSum (int32): (a + b + sign) / 2 in int64, C truncating division."""
    total = np.asarray(a, np.int64) + np.asarray(b, np.int64)
    total = total + np.where(total >= 0, 1, -1)
    return wrap32(np.sign(total) * (np.abs(total) // 2))


def one(integer_bits: int) -> int:
    """FixedPoint<int32, n>::One(): 2**(31 - n), saturated to INT32_MAX for n == 0."""
    return INT32_MAX if integer_bits == 0 else 1 << (31 - integer_bits)


def constant_pot(exponent: int, integer_bits: int) -> int:
    """FixedPoint<int32, n>::ConstantPOT<exponent>(): the raw of 2**exponent."""
    return 1 << (31 - integer_bits + exponent)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out: a 4th-order Taylor expansion around -1/8."""
    constant_term = 1895147668       # exp(-1/8)
    constant_1_over_3 = 715827883
    x = wrap32(np.asarray(a, np.int64) + constant_pot(-3, 0))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    poly = saturating_rounding_multiply_by_pot(wrap32(srdhm(wrap32(x4_over_4 + x3), constant_1_over_3) + x2), -1)
    return wrap32(constant_term + srdhm(constant_term, wrap32(x + poly)))


# exp(-2**k) in Q0.31 for the barrel shifter of exp_on_negative_values, k = -2 .. 4.
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401),
               (4, 242))


def exp_on_negative_values(a, integer_bits: int) -> np.ndarray:
    """exp(a) for a <= 0, from FixedPoint<int32, integer_bits> to Q0.31 (gemmlowp exp_on_negative_values)."""
    a = np.asarray(a, np.int64)
    fractional_bits = 31 - integer_bits
    one_quarter = constant_pot(-2, integer_bits)
    mask = one_quarter - 1
    a_mod_quarter_minus_one_quarter = wrap32((a & mask) - one_quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0))
    remainder = wrap32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = np.int64(1) << (fractional_bits + exponent)
            result = np.where((remainder & bit) != 0, srdhm(result, multiplier), result)
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits))
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, one(0), result)


def _newton_reciprocal_half_denominator(a) -> tuple[np.ndarray, np.ndarray]:
    """The Newton-Raphson core shared by one_over_one_plus_x and one_minus_x_over_one_plus_x: x ~ 1 / d in Q2.29,
    d = (1 + a) / 2 in Q0.31, three iterations from 48/17 - 32/17 d."""
    half_denominator = rounding_half_sum(a, one(0))
    constant_48_over_17 = 1515870810
    constant_neg_32_over_17 = -1010580540
    x = wrap32(constant_48_over_17 + srdhm(half_denominator, constant_neg_32_over_17))
    for _ in range(3):
        half_denominator_times_x = srdhm(half_denominator, x)
        one_minus = wrap32(one(2) - half_denominator_times_x)
        x = wrap32(x + rescale(srdhm(x, one_minus), 4, 2))
    return half_denominator, x


def one_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    """1 / (1 + a) for a in (0, 1), Q0.31 in and out."""
    _, x = _newton_reciprocal_half_denominator(a)
    return rescale(x, 1, 0)  # ExactMulByPot<-1> turns Q2.29 into Q1.30 with the same raw


def one_minus_x_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    """(1 - a) / (1 + a) for a in (0, 1), Q0.31 in and out."""
    _, x = _newton_reciprocal_half_denominator(a)
    return rescale(wrap32(x - one(2)), 2, 0)


def logistic(a, integer_bits: int) -> np.ndarray:
    """gemmlowp logistic: FixedPoint<int32, integer_bits> -> Q0.31."""
    a = np.asarray(a, np.int64)
    positive = a > 0
    abs_input = np.where(positive, a, wrap32(-a))
    result_if_positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(wrap32(-abs_input), integer_bits))
    result_if_negative = wrap32(one(0) - result_if_positive)
    return np.where(a == 0, 1 << 30, np.where(positive, result_if_positive, result_if_negative))


def tanh(a, integer_bits: int) -> np.ndarray:
    """gemmlowp tanh: FixedPoint<int32, integer_bits> -> Q0.31."""
    a = np.asarray(a, np.int64)
    negative = a < 0
    n = np.where(negative, a, wrap32(-a))
    # neg_tanh_on_negative_values: ExactMulByPot<1> reads the same raw with one more integer bit.
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    return np.where(a == 0, 0, np.where(negative, wrap32(-t), t))


def count_leading_zeros32(x) -> np.ndarray:
    """Leading zero bits of x as a uint32 (x >= 0 here)."""
    x = np.asarray(x, np.int64) & 0xFFFFFFFF
    bit_length = np.zeros_like(x)
    for k in range(32):
        bit_length += (x >> k) > 0
    return 32 - bit_length


def get_reciprocal(x, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLite's GetReciprocal (reference/softmax.h helper, kernels/internal/common.h): 1 / x for a positive
    FixedPoint<int32, x_integer_digits>, as (Q0.31 raw of the scaled reciprocal, num_bits_over_unit)."""
    x = np.asarray(x, np.int64)
    headroom_plus_one = count_leading_zeros32(x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted = ((x << headroom_plus_one) & 0xFFFFFFFF) - (1 << 31)
    return one_over_one_plus_x_for_x_in_0_1(wrap32(shifted)), num_bits_over_unit
