"""gemmlowp's fixed-point transcendentals (google/gemmlowp fixedpoint/fixedpoint.h), bit for bit, written against
the integer algebra (edgelower.quant.algebra).

TFLite's int8 LOGISTIC, TANH and SOFTMAX run these on `FixedPoint<int32_t, IntegerBits>` values: a raw int32 `r`
standing for r / 2**(31 - IntegerBits). Values here are int32 values of the algebra; plain additions wrap modulo
2**32 (gemmlowp's operator+ and operator- are unchecked), and the saturations gemmlowp spells out are spelled out.
Multiplication of fixed-point values is MUL_HIGH (SaturatingRoundingDoublingHighMul) on the raws, and integer bits
add up. Everything that depends on the template parameters (integer bits, exponents, the barrel shifter's steps)
is decided here in Python, at compile time.
"""

from __future__ import annotations

from edgelower.quant.algebra import INT32, INT64, IntegerAlgebra

INT32_MIN, INT32_MAX = INT32.min, INT32.max


def saturating_rounding_multiply_by_pot(A: IntegerAlgebra, x, exponent: int):
    """gemmlowp SaturatingRoundingMultiplyByPOT<exponent>: a saturating left shift, or a rounding right shift."""
    if exponent <= 0:
        return A.rounding_shift_right(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    return A.where(A.gt(x, threshold), INT32_MAX, A.where(A.lt(x, -threshold), INT32_MIN, A.shift_left(x, exponent)))


def rescale(A: IntegerAlgebra, x, src_integer_bits: int, dst_integer_bits: int):
    """gemmlowp Rescale<dst>(FixedPoint<int32, src>)."""
    return saturating_rounding_multiply_by_pot(A, x, src_integer_bits - dst_integer_bits)


def rounding_half_sum(A: IntegerAlgebra, a, b: int):
    """gemmlowp RoundingHalfSum (int32): (a + b + sign) / 2 computed in int64, C's truncating division."""
    total = A.add(A.cast(a, INT64), b)
    total = A.add(total, A.where(A.ge(total, 0), 1, -1, INT64))
    return A.cast(A.trunc_div(total, 2), INT32)


def one(integer_bits: int) -> int:
    """FixedPoint<int32, n>::One(): 2**(31 - n), saturated to INT32_MAX for n == 0."""
    return INT32_MAX if integer_bits == 0 else 1 << (31 - integer_bits)


def constant_pot(exponent: int, integer_bits: int) -> int:
    """FixedPoint<int32, n>::ConstantPOT<exponent>(): the raw of 2**exponent."""
    return 1 << (31 - integer_bits + exponent)


def exp_on_interval_between_negative_one_quarter_and_0_excl(A: IntegerAlgebra, a):
    """exp(a) for a in [-1/4, 0), Q0.31 in and out: a 4th-order Taylor expansion around -1/8."""
    constant_term = 1895147668       # exp(-1/8)
    constant_1_over_3 = 715827883
    x = A.add(a, constant_pot(-3, 0))
    x2 = A.mul_high(x, x)
    x3 = A.mul_high(x2, x)
    x4 = A.mul_high(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(A, x4, -2)
    poly = saturating_rounding_multiply_by_pot(A, A.add(A.mul_high(A.add(x4_over_4, x3), constant_1_over_3), x2), -1)
    return A.add(A.mul_high(A.add(x, poly), constant_term), constant_term)


# exp(-2**k) in Q0.31 for the barrel shifter of exp_on_negative_values, k = -2 .. 4.
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401),
               (4, 242))


def exp_on_negative_values(A: IntegerAlgebra, a, integer_bits: int):
    """exp(a) for a <= 0, from FixedPoint<int32, integer_bits> to Q0.31 (gemmlowp exp_on_negative_values)."""
    fractional_bits = 31 - integer_bits
    one_quarter = constant_pot(-2, integer_bits)
    a_mod_quarter_minus_one_quarter = A.sub(A.bitwise_and(a, one_quarter - 1), one_quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        A, rescale(A, a_mod_quarter_minus_one_quarter, integer_bits, 0))
    remainder = A.sub(a_mod_quarter_minus_one_quarter, a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = A.bitwise_and(remainder, 1 << (fractional_bits + exponent))
            result = A.where(A.ne(bit, 0), A.mul_high(result, multiplier), result)
    if integer_bits > 5:
        result = A.where(A.lt(a, -(1 << (36 - integer_bits))), 0, result)
    return A.where(A.eq(a, 0), one(0), result)


def _newton_reciprocal_half_denominator(A: IntegerAlgebra, a):
    """The Newton-Raphson core shared by one_over_one_plus_x and one_minus_x_over_one_plus_x: x ~ 1 / d in Q2.29,
    d = (1 + a) / 2 in Q0.31, three iterations from 48/17 - 32/17 d."""
    half_denominator = rounding_half_sum(A, a, one(0))
    constant_48_over_17 = 1515870810
    constant_neg_32_over_17 = -1010580540
    x = A.add(A.mul_high(half_denominator, constant_neg_32_over_17), constant_48_over_17)
    for _ in range(3):
        half_denominator_times_x = A.mul_high(half_denominator, x)
        one_minus = A.sub(A.const(one(2), INT32), half_denominator_times_x)
        x = A.add(x, rescale(A, A.mul_high(x, one_minus), 4, 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(A: IntegerAlgebra, a):
    """1 / (1 + a) for a in (0, 1), Q0.31 in and out."""
    return rescale(A, _newton_reciprocal_half_denominator(A, a), 1, 0)  # ExactMulByPot<-1>: Q2.29 -> Q1.30, same raw


def one_minus_x_over_one_plus_x_for_x_in_0_1(A: IntegerAlgebra, a):
    """(1 - a) / (1 + a) for a in (0, 1), Q0.31 in and out."""
    return rescale(A, A.sub(_newton_reciprocal_half_denominator(A, a), one(2)), 2, 0)


def logistic(A: IntegerAlgebra, a, integer_bits: int):
    """gemmlowp logistic: FixedPoint<int32, integer_bits> -> Q0.31."""
    positive = A.gt(a, 0)
    abs_input = A.where(positive, a, A.neg(a))
    result_if_positive = one_over_one_plus_x_for_x_in_0_1(A, exp_on_negative_values(A, A.neg(abs_input),
                                                                                      integer_bits))
    result_if_negative = A.sub(A.const(one(0), INT32), result_if_positive)
    return A.where(A.eq(a, 0), 1 << 30, A.where(positive, result_if_positive, result_if_negative))


def tanh(A: IntegerAlgebra, a, integer_bits: int):
    """gemmlowp tanh: FixedPoint<int32, integer_bits> -> Q0.31."""
    negative = A.lt(a, 0)
    n = A.where(negative, a, A.neg(a))
    # neg_tanh_on_negative_values: ExactMulByPot<1> reads the same raw with one more integer bit.
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(A, exp_on_negative_values(A, n, integer_bits + 1))
    return A.where(A.eq(a, 0), 0, A.where(negative, A.neg(t), t))


def get_reciprocal(A: IntegerAlgebra, x, x_integer_digits: int):
    """TFLite's GetReciprocal (reference/softmax.h helper, kernels/internal/common.h): 1 / x for a positive
    FixedPoint<int32, x_integer_digits>, as (Q0.31 raw of the scaled reciprocal, num_bits_over_unit). The
    normalized x is (x << headroom_plus_one) read as uint32, minus 2**31; x == 0 (a sum that wrapped) shifts in
    zeros whatever the amount, so the amount is capped at 31, inside int32's width."""
    headroom_plus_one = A.clz(x)
    num_bits_over_unit = A.sub(A.const(x_integer_digits, INT32), headroom_plus_one)
    shifted = A.add(A.shift_left(x, A.minimum(headroom_plus_one, 31)), INT32_MIN)
    return one_over_one_plus_x_for_x_in_0_1(A, shifted), num_bits_over_unit
