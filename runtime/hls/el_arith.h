/*
 * TFLite's int8 fixed-point arithmetic in ap_int, bit for bit: the HLS twin of runtime/src/fixedpoint.h (C99) and
 * compiler/quant/arith.py + fixedpoint.py (numpy). Every kernel in this folder requantizes through these helpers.
 *
 * Widths are explicit. Where the C runtime computes in uint32_t so that a sum wraps modulo 2^32, the result is
 * assigned to an ap_int<32> (assignment truncates: the same two's complement wrap). Where C computes in int64 without
 * overflow, ap_int's growing widths are exact. `>>` on a signed ap_int is arithmetic, `<<` on an ap_int<32> keeps 32
 * bits (wraps), division truncates toward zero, as in C. Everything is inline: HLS flattens it into the caller's
 * pipeline.
 */
#ifndef EL_HLS_ARITH_H
#define EL_HLS_ARITH_H

#include "ap_int.h"

namespace el {

typedef ap_int<8> i8;
typedef ap_int<16> i16;
typedef ap_int<32> i32;
typedef ap_int<64> i64;
typedef ap_uint<64> u64;

/* ROM element types: weights, biases, multipliers and tables are plain C integers, which compile fast however many
 * there are and which HLS stores at their width. */
typedef signed char rom8;
typedef int rom32;

static const int I32_MIN = -2147483647 - 1;
static const int I32_MAX = 2147483647;

inline i32 clamp32(i32 v, i32 lo, i32 hi)
{
#pragma HLS INLINE
    return v < lo ? lo : (v > hi ? hi : v);
}

inline i8 sat8(i32 v)
{
#pragma HLS INLINE
    return i8(clamp32(v, -128, 127));
}

/* gemmlowp SaturatingRoundingDoublingHighMul: the high 32 bits of 2ab rounded to nearest, INT32_MIN^2 saturating.
 * |ab| <= 2^62, so the nudged product fits 64 bits; the division by 2^31 truncates toward zero. */
inline i32 srdhm(i32 a, i32 b)
{
#pragma HLS INLINE
    const i64 ab = i64(a) * i64(b);
    const i64 total = ab + (ab >= 0 ? i64(1 << 30) : i64(1 - (1 << 30)));
    const i64 high = total >= 0 ? i64(total >> 31) : i64(-((-total) >> 31));
    return (a == I32_MIN && b == I32_MIN) ? i32(I32_MAX) : i32(high);
}

/* gemmlowp RoundingDivideByPOT: x / 2^exponent, ties away from zero; exponent in [0, 31]. */
inline i32 rdbpot(i32 x, int exponent)
{
#pragma HLS INLINE
    const i32 mask = i32(i32(1) << exponent) - 1;
    const i32 remainder = x & mask;
    const i32 threshold = i32(mask >> 1) + (x < 0 ? 1 : 0);
    return i32(x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLite MultiplyByQuantizedMultiplier (double rounding); the left shift wraps modulo 2^32 like the runtime's. */
inline i32 mbqm(i32 x, i32 multiplier, int shift)
{
#pragma HLS INLINE
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    const i32 shifted = x << left;
    return rdbpot(srdhm(shifted, multiplier), right);
}

/* clamp(v + offset) with the sum wrapped to int32: the epilogue of every int8 kernel. */
inline i8 offset_clamp(i32 v, i32 offset, i32 lo, i32 hi)
{
#pragma HLS INLINE
    const i32 sum = v + offset;
    return i8(clamp32(sum, lo, hi));
}

/* One accumulator (plus the record's input offset, wrapped) to int8 through one (multiplier, shift) pair. */
inline i8 requant(i32 acc, i32 input_offset, i32 multiplier, int shift, i32 output_offset, i32 lo, i32 hi)
{
#pragma HLS INLINE
    const i32 v = acc + input_offset;
    return offset_clamp(mbqm(v, multiplier, shift), output_offset, lo, hi);
}

/* ---- gemmlowp FixedPoint<int32, k>: raw r in Qk stands for r / 2^(31 - k) ------------------------------------ */

/* SaturatingRoundingMultiplyByPOT<exponent>. */
inline i32 fp_mul_pot(i32 x, int exponent)
{
#pragma HLS INLINE
    if (exponent == 0) {
        return x;
    }
    if (exponent < 0) {
        return rdbpot(x, -exponent);
    }
    const i32 threshold = i32(i32(1) << (31 - exponent)) - 1;
    if (x > threshold) {
        return I32_MAX;
    }
    if (x < -threshold) {
        return I32_MIN;
    }
    return x << exponent;
}

/* gemmlowp RoundingHalfSum: (a + b) / 2, ties away from zero. */
inline i32 rounding_half_sum(i32 a, i32 b)
{
#pragma HLS INLINE
    const i64 sum = i64(a) + i64(b);
    const i64 nudged = sum + (sum >= 0 ? 1 : -1);
    return i32(nudged / 2);
}

/* exp(a) for a in [-1/4, 0), Q0 -> Q0: a Taylor expansion around -1/8. */
inline i32 fp_exp_on_interval(i32 a)
{
#pragma HLS INLINE
    const i32 constant_term = 1895147668;
    const i32 constant_1_over_3 = 715827883;
    const i32 x = a + i32(1 << 28);
    const i32 x2 = srdhm(x, x);
    const i32 x3 = srdhm(x2, x);
    const i32 x4 = srdhm(x2, x2);
    const i32 x4_over_4 = rdbpot(x4, 2);
    const i32 inner = x4_over_4 + x3;
    const i32 poly_sum = srdhm(inner, constant_1_over_3) + x2;
    const i32 poly = rdbpot(poly_sum, 1);
    const i32 xp = x + poly;
    return i32(constant_term + srdhm(constant_term, xp));
}

/* exp(a) for a <= 0, Q`integer_bits` -> Q0 (gemmlowp exp_on_negative_values), integer_bits in [0, 30]. */
inline i32 fp_exp_on_negative_values(i32 a, int integer_bits)
{
#pragma HLS INLINE
    static const int multipliers[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int fractional_bits = 31 - integer_bits;
    const i32 one_quarter = i32(1) << (fractional_bits - 2);
    const i32 mask = one_quarter - 1;
    const i32 a_mod_quarter_minus_one_quarter = i32(a & mask) - one_quarter;
    const i32 remainder = a_mod_quarter_minus_one_quarter - a;
    i32 result = fp_exp_on_interval(fp_mul_pot(a_mod_quarter_minus_one_quarter, integer_bits));
BARREL:
    for (int e = -2; e <= 4; ++e) {
#pragma HLS UNROLL
        if (integer_bits > e && (remainder & i32(i32(1) << (fractional_bits + e))) != 0) {
            result = srdhm(result, multipliers[e + 2]);
        }
    }
    if (integer_bits > 5 && a < -i32(i32(1) << (36 - integer_bits))) {
        result = 0;
    }
    return a == 0 ? i32(I32_MAX) : result;
}

/* 1 / (1 + a) for a in [0, 1), Q0 -> Q0 (gemmlowp one_over_one_plus_x_for_x_in_0_1): Newton-Raphson in Q2. */
inline i32 fp_one_over_one_plus_x(i32 a)
{
#pragma HLS INLINE
    const i32 constant_48_over_17 = 1515870810;
    const i32 constant_neg_32_over_17 = -1010580540;
    const i32 one_q2 = i32(1) << 29;
    const i32 half_denominator = rounding_half_sum(a, I32_MAX);
    i32 x = constant_48_over_17 + srdhm(half_denominator, constant_neg_32_over_17);
NEWTON:
    for (int i = 0; i < 3; ++i) {
#pragma HLS UNROLL
        const i32 one_minus = one_q2 - srdhm(half_denominator, x);
        x = x + fp_mul_pot(srdhm(x, one_minus), 2);
    }
    return fp_mul_pot(x, 1);
}

/* Leading zero bits of x read as uint32 (32 for 0). */
inline int clz32(i32 x)
{
#pragma HLS INLINE
    const ap_uint<32> u = x;
    int n = 32;
CLZ:
    for (int b = 0; b < 32; ++b) {
#pragma HLS UNROLL
        if (u[b]) {
            n = 31 - b;
        }
    }
    return n;
}

/* TFLite GetReciprocal: the Q0 reciprocal of x > 0 (Q`integer_digits`) normalized into [1, 2), and the bits over
 * unit. A wrapped sum of 0 shifts in zeros, as the runtime and the interpreter do. */
inline i32 fp_reciprocal(i32 x, int integer_digits, int &num_bits_over_unit)
{
#pragma HLS INLINE
    const int headroom_plus_one = clz32(x);
    const ap_uint<32> u = x;
    const ap_uint<32> shifted = headroom_plus_one < 32 ? ap_uint<32>(u << headroom_plus_one) : ap_uint<32>(0);
    const i32 shifted_minus_one = i32(shifted - (ap_uint<32>(1) << 31));
    num_bits_over_unit = integer_digits - headroom_plus_one;
    return fp_one_over_one_plus_x(shifted_minus_one);
}

} // namespace el

#endif
