/*
 * TFLite's int8 fixed-point arithmetic in C99, bit for bit: the helpers every int8 kernel requantizes with, and the
 * gemmlowp fixed-point functions (exp, 1/(1+x), logistic, tanh) behind TFLite's int8 activations and softmax.
 * Internal header of the runtime; compiler/quant/arith.py and fixedpoint.py, written over the primitive integer ops
 * (compiler/interp/primitives.py), are its twin, and the tests hold the two to the same bits.
 *
 * Sources mirrored: google/gemmlowp fixedpoint/fixedpoint.h
 * (SaturatingRoundingDoublingHighMul, RoundingDivideByPOT, SaturatingRoundingMultiplyByPOT, RoundingHalfSum,
 * exp_on_negative_values, one_over_one_plus_x_for_x_in_0_1, one_minus_x_over_one_plus_x_for_x_in_0_1, logistic,
 * tanh) and tensorflow/lite/kernels/internal/common.h + common.cc (MultiplyByQuantizedMultiplier with TFLite's
 * default double rounding, GetReciprocal, CountLeadingZeros), reference/hard_swish.h (the int16 helpers).
 *
 * Overflow: gemmlowp and TFLite leave int32 overflow undefined. Here every sum that could wrap is computed in
 * uint32_t, so it wraps modulo 2^32 (two's complement), which is what the int32 primitive ops compute with their
 * wraps; the conversion back to int32_t is the implementation-defined one every C99 compiler on a two's complement
 * target defines as modulo. Right shifts of negative values are arithmetic (implementation-defined in C99, and so
 * on every compiler the runtime targets: gcc, clang, armcc, iar).
 *
 * No float or double appears in this file: the int8 kernels built on it link no floating-point helper.
 */
#ifndef EL_FIXEDPOINT_H
#define EL_FIXEDPOINT_H

#include "edgelower.h"

/* ---- wrapping and saturating integer steps --------------------------------------------------------------------- */

static inline int32_t el_wrap_add(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t el_wrap_sub(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* a * 2^shift modulo 2^32, for shift in [0, 31]. */
static inline int32_t el_wrap_shl(int32_t a, int32_t shift)
{
    return (int32_t)((uint32_t)a << shift);
}

static inline int32_t el_clamp_i32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static inline int8_t el_sat_s8(int32_t v)
{
    return (int8_t)el_clamp_i32(v, -128, 127);
}

/* Leading zero bits of x as uint32 (32 for 0): TFLite's CountLeadingZeros. */
static inline int32_t el_clz32(uint32_t x)
{
    int32_t n = 0;
    if (x == 0u) {
        return 32;
    }
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

/* ---- requantization: gemmlowp primitives and MultiplyByQuantizedMultiplier ------------------------------------- */

/* gemmlowp SaturatingRoundingDoublingHighMul (int32): the high 32 bits of 2*a*b, rounded to nearest, ties away from
 * zero; INT32_MIN * INT32_MIN saturates to INT32_MAX. The int64 division truncates toward zero, as in gemmlowp. */
static inline int32_t el_srdhm(int32_t a, int32_t b)
{
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* gemmlowp RoundingDivideByPOT (int32): x / 2^exponent rounded to nearest, ties away from zero; exponent in
 * [0, 31]. */
static inline int32_t el_rdbpot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLite MultiplyByQuantizedMultiplier(int32_t x, int32_t multiplier, int shift), double rounding (TFLite's default,
 * TFLite Micro's reference and compiler/quant/arith.py):
 *   RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * 2^max(shift, 0), multiplier), max(-shift, 0)).
 * The left shift wraps modulo 2^32 like compiler/quant/arith.py (TFLite only left-shifts values that fit). Valid shifts
 * are [-31, 31]; QuantizeMultiplier never gives one below -31 (it flushes the multiplier to 0 instead). */
static inline int32_t el_mbqm(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    return el_rdbpot(el_srdhm(el_wrap_shl(x, left), multiplier), right);
}

/* clamp(v + offset, lo, hi) with the sum in int32, wrapping (TFLite's `acc += output_offset`, and the int32 ADD of
 * compiler/quant/arith.py's requantize): every int8 epilogue ends with it. */
static inline int32_t el_offset_clamp(int32_t v, int32_t offset, int32_t lo, int32_t hi)
{
    return el_clamp_i32(el_wrap_add(v, offset), lo, hi);
}

/* One int32 accumulator to int8: MultiplyByQuantizedMultiplier, plus the output offset, clamped to the activation
 * range (TFLite's ConvPerChannel / FullyConnected epilogue). */
static inline int8_t el_requant_one(int32_t acc, int32_t multiplier, int32_t shift, int32_t output_offset,
                                    int32_t act_min, int32_t act_max)
{
    return (int8_t)el_offset_clamp(el_mbqm(acc, multiplier, shift), output_offset, act_min, act_max);
}

/* el_requant (edgelower.h) applied to value v of channel c. */
static inline int8_t el_requant_apply(const el_requant *q, int32_t c, int32_t v)
{
    const int32_t i = q->per_channel ? c : 0;
    return el_requant_one(el_wrap_add(v, q->input_offset), q->multiplier[i], q->shift[i], q->output_offset,
                          q->act_min, q->act_max);
}

/* ---- gemmlowp FixedPoint<int32_t, k> ------------------------------------------------------------------------------
 * A raw int32 r in Qk (k integer bits, 31 - k fractional bits) stands for r / 2^(31 - k). Multiplying Qa by Qb is
 * el_srdhm on the raws and gives Q(a+b); the functions below name the Q format of their arguments and results. */

/* SaturatingRoundingMultiplyByPOT<exponent>: x * 2^exponent, saturating when exponent > 0, rounding to nearest
 * (RoundingDivideByPOT) when exponent < 0. Rescale<dst>(Qsrc) is this with exponent = src - dst. */
static inline int32_t el_fp_mul_pot(int32_t x, int32_t exponent)
{
    int32_t threshold;
    if (exponent == 0) {
        return x;
    }
    if (exponent < 0) {
        return el_rdbpot(x, -exponent);
    }
    threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1u);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return el_wrap_shl(x, exponent);
}

/* gemmlowp RoundingHalfSum (int32): (a + b) / 2 rounded to nearest, ties away from zero. */
static inline int32_t el_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/* exp(a) for a in [-1/4, 0), Q0 -> Q0: gemmlowp exp_on_interval_between_negative_one_quarter_and_0_excl, a Taylor
 * expansion around -1/8. */
static inline int32_t el_fp_exp_on_interval(int32_t a)
{
    const int32_t constant_term = 1895147668;    /* exp(-1/8) in Q0 */
    const int32_t constant_1_over_3 = 715827883; /* 1/3 in Q0 */
    const int32_t x = el_wrap_add(a, 1 << 28);   /* a + 1/8 */
    const int32_t x2 = el_srdhm(x, x);
    const int32_t x3 = el_srdhm(x2, x);
    const int32_t x4 = el_srdhm(x2, x2);
    const int32_t x4_over_4 = el_rdbpot(x4, 2);
    const int32_t poly = el_rdbpot(el_wrap_add(el_srdhm(el_wrap_add(x4_over_4, x3), constant_1_over_3), x2), 1);
    return el_wrap_add(constant_term, el_srdhm(constant_term, el_wrap_add(x, poly)));
}

/* exp(a) for a <= 0, Q`integer_bits` -> Q0: gemmlowp exp_on_negative_values. integer_bits in [0, 30]. The input is
 * split into its remainder modulo 1/4 (el_fp_exp_on_interval) and a barrel shifter over the bits above it, each a
 * multiplication by exp(-2^e). */
static inline int32_t el_fp_exp_on_negative_values(int32_t a, int32_t integer_bits)
{
    /* exp(-2^e) in Q0 for e = -2 .. 4 */
    static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int32_t fractional_bits = 31 - integer_bits;
    const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_one_quarter = el_wrap_sub(a & mask, one_quarter);
    const int32_t remainder = el_wrap_sub(a_mod_quarter_minus_one_quarter, a);
    int32_t result = el_fp_exp_on_interval(el_fp_mul_pot(a_mod_quarter_minus_one_quarter, integer_bits));
    int32_t e;
    for (e = -2; e <= 4; ++e) {
        if (integer_bits > e && (remainder & (int32_t)((uint32_t)1 << (fractional_bits + e)))) {
            result = el_srdhm(result, multipliers[e + 2]);
        }
    }
    if (integer_bits > 5 && a < -((int32_t)1 << (36 - integer_bits))) {
        result = 0; /* exp(x) for x < -32 */
    }
    return a == 0 ? INT32_MAX : result;
}

/* The Newton-Raphson reciprocal shared by the two 1/(1+x) forms below: x in Q0 [0, 1) -> 1 / (1 + x) in Q2, from
 * gemmlowp's 48/17 - 32/17 * d start and three iterations. */
static inline int32_t el_fp_reciprocal_q2(int32_t a)
{
    const int32_t constant_48_over_17 = 1515870810;      /* Q2 */
    const int32_t constant_neg_32_over_17 = -1010580540; /* Q2 */
    const int32_t one_q2 = (int32_t)1 << 29;
    const int32_t half_denominator = el_rounding_half_sum(a, INT32_MAX);
    int32_t x = el_wrap_add(constant_48_over_17, el_srdhm(half_denominator, constant_neg_32_over_17));
    int32_t i;
    for (i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = el_srdhm(half_denominator, x);
        const int32_t one_minus_half_denominator_times_x = el_wrap_sub(one_q2, half_denominator_times_x);
        x = el_wrap_add(x, el_fp_mul_pot(el_srdhm(x, one_minus_half_denominator_times_x), 2));
    }
    return x;
}

/* 1 / (1 + a) for a in [0, 1), Q0 -> Q0: gemmlowp one_over_one_plus_x_for_x_in_0_1. */
static inline int32_t el_fp_one_over_one_plus_x(int32_t a)
{
    return el_fp_mul_pot(el_fp_reciprocal_q2(a), 1);
}

/* (1 - a) / (1 + a) for a in [0, 1), Q0 -> Q0: gemmlowp one_minus_x_over_one_plus_x_for_x_in_0_1. */
static inline int32_t el_fp_one_minus_x_over_one_plus_x(int32_t a)
{
    return el_fp_mul_pot(el_wrap_sub(el_fp_reciprocal_q2(a), (int32_t)1 << 29), 2);
}

/* logistic(a) = 1 / (1 + exp(-a)), Q`integer_bits` -> Q0: gemmlowp logistic. */
static inline int32_t el_fp_logistic(int32_t a, int32_t integer_bits)
{
    const int32_t abs_input = a > 0 ? a : el_wrap_sub(0, a);
    const int32_t if_positive = el_fp_one_over_one_plus_x(
        el_fp_exp_on_negative_values(el_wrap_sub(0, abs_input), integer_bits));
    if (a == 0) {
        return (int32_t)1 << 30;
    }
    return a > 0 ? if_positive : el_wrap_sub(INT32_MAX, if_positive);
}

/* tanh(a), Q`integer_bits` -> Q0: gemmlowp tanh, (1 - exp(-2|a|)) / (1 + exp(-2|a|)) with the sign of a. The
 * doubling is exact: the same raw read as Q(integer_bits + 1). */
static inline int32_t el_fp_tanh(int32_t a, int32_t integer_bits)
{
    const int32_t n = a < 0 ? a : el_wrap_sub(0, a);
    const int32_t t = el_fp_one_minus_x_over_one_plus_x(el_fp_exp_on_negative_values(n, integer_bits + 1));
    if (a == 0) {
        return 0;
    }
    return a < 0 ? el_wrap_sub(0, t) : t;
}

/* TFLite GetReciprocal: for x > 0 in Q`integer_digits`, the Q0 raw of 1 / (x / 2^num_bits_over_unit), i.e. the
 * reciprocal of x normalized into [1, 2), and num_bits_over_unit. x == 0 (a sum that wrapped) shifts in zeros, as
 * the interpreter's 64-bit shift does, instead of shifting by 32. */
static inline int32_t el_fp_reciprocal(int32_t x, int32_t integer_digits, int32_t *num_bits_over_unit)
{
    const int32_t headroom_plus_one = el_clz32((uint32_t)x);
    const uint32_t shifted = headroom_plus_one < 32 ? (uint32_t)x << headroom_plus_one : 0u;
    const int32_t shifted_sum_minus_one = (int32_t)(shifted - ((uint32_t)1 << 31));
    *num_bits_over_unit = integer_digits - headroom_plus_one;
    return el_fp_one_over_one_plus_x(shifted_sum_minus_one);
}

/* ---- int16 helpers of TFLite's quantized HardSwish (reference/hard_swish.h) ------------------------------------ */

static inline int16_t el_sat_s16(int32_t v)
{
    return (int16_t)el_clamp_i32(v, INT16_MIN, INT16_MAX);
}

/* gemmlowp SaturatingRoundingDoublingHighMul (int16). */
static inline int16_t el_srdhm16(int16_t a, int16_t b)
{
    const int32_t ab = (int32_t)a * (int32_t)b;
    const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    if (a == INT16_MIN && b == INT16_MIN) {
        return INT16_MAX;
    }
    return (int16_t)((ab + nudge) / (1 << 15));
}

/* TFLite SaturatingDoublingHighMul (int16): as el_srdhm16 but rounding toward zero (SQDMULH). */
static inline int16_t el_sdhm16(int16_t a, int16_t b)
{
    if (a == INT16_MIN && b == INT16_MIN) {
        return INT16_MAX;
    }
    return (int16_t)(((int32_t)a * (int32_t)b) / (1 << 15));
}

/* gemmlowp RoundingDivideByPOT (int16), exponent in [0, 31]: gemmlowp builds the mask (1 << exponent) - 1 in 64
 * bits and narrows it to int16 (Dup), which matters only past 15. */
static inline int16_t el_rdbpot16(int16_t x, int32_t exponent)
{
    const int32_t mask = (int16_t)(((uint32_t)1 << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (int16_t)((x >> exponent) + (remainder > threshold ? 1 : 0));
}

/* TFLite SaturatingLeftShift (int16): value * 2^amount clamped to int16, amount in [0, 30], computed in int64. */
static inline int16_t el_sat_shl16(int16_t value, int32_t amount)
{
    const int64_t v = (int64_t)value * ((int64_t)1 << amount);
    return (int16_t)(v > INT16_MAX ? INT16_MAX : (v < INT16_MIN ? INT16_MIN : v));
}

#endif /* EL_FIXEDPOINT_H */
