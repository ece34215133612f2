/*
 * Row-wise int8 normalizations over [outer, axis, inner] (softmax) or [rows, cols] (layer norm), one row per
 * `PIPELINE II=reuse_factor`:
 * - softmax: TFLite reference_ops::Softmax<int8> (gemmlowp exp in Q0.31 of differences in Q5.26, the sum in Q12.19,
 *   GetReciprocal), output scale 1/256, zero point -128;
 * - isoftmax: I-BERT's integer softmax (compiler/quant/transformer.py ISoftmaxQ: a Q30 polynomial exp, an int64 sum
 *   and one 2^62 / sum division per row);
 * - layer_norm: I-BERT's integer LayerNorm with an exact integer square root (ILayerNormQ).
 */
#ifndef EL_HLS_NORM_H
#define EL_HLS_NORM_H

#include "el_arith.h"

namespace el {

/* MultiplyByQuantizedMultiplierGreaterThanOne of x - max: the difference on Q5.26. */
template <class CONFIG>
inline i32 softmax_scaled_diff(i32 diff)
{
#pragma HLS INLINE
    const i32 shifted = diff << CONFIG::input_left_shift;
    return srdhm(shifted, CONFIG::input_multiplier);
}

template <class CONFIG>
void softmax(const i8 x[], i8 y[])
{
ROWS:
    for (int r = 0; r < CONFIG::outer * CONFIG::inner; ++r) {
#pragma HLS PIPELINE II = CONFIG::reuse_factor
        const int base = (r / CONFIG::inner) * CONFIG::axis * CONFIG::inner + r % CONFIG::inner;
        i32 max = -128, sum = 0;
    MAX:
        for (int k = 0; k < CONFIG::axis; ++k) {
            const i32 v = x[base + k * CONFIG::inner];
            max = v > max ? v : max;
        }
    SUM:
        for (int k = 0; k < CONFIG::axis; ++k) {
            const i32 diff = i32(x[base + k * CONFIG::inner]) - max;
            if (diff >= CONFIG::diff_min) {
                sum += fp_mul_pot(fp_exp_on_negative_values(softmax_scaled_diff<CONFIG>(diff), 5), -12);
            }
        }
        int num_bits_over_unit;
        const i32 scale = fp_reciprocal(sum, 12, num_bits_over_unit);
        const int exponent = num_bits_over_unit + 31 - 8;
    OUTPUTS:
        for (int k = 0; k < CONFIG::axis; ++k) {
            const int at = base + k * CONFIG::inner;
            const i32 diff = i32(x[at]) - max;
            if (diff >= CONFIG::diff_min) {
                const i32 e = fp_exp_on_negative_values(softmax_scaled_diff<CONFIG>(diff), 5);
                const i32 unsat = exponent > 31 ? i32(0) : rdbpot(srdhm(scale, e), exponent);
                y[at] = sat8(unsat - 128);
            } else {
                y[at] = -128;
            }
        }
    }
}

/* exp(-d S) in Q30 for d = max - x >= 0: 2^-z times the Q15 polynomial of the fraction; 0 from diff_limit on. */
template <class CONFIG>
inline i64 isoftmax_exp_q30(i32 d)
{
#pragma HLS INLINE
    if (d >= CONFIG::diff_limit) {
        return 0;
    }
    const i64 u = i64(d) * CONFIG::exp_multiplier;
    const int z = (u >> 24).to_int();
    const i64 phi = (u & i64((1 << 24) - 1)) >> 9;
    const i64 p = i64(1 << 30) + (((i64(CONFIG::poly_a) * phi) >> 15) - CONFIG::poly_b) * phi;
    return p >> z;
}

template <class CONFIG>
void isoftmax(const i8 x[], i8 y[])
{
ROWS:
    for (int r = 0; r < CONFIG::outer * CONFIG::inner; ++r) {
#pragma HLS PIPELINE II = CONFIG::reuse_factor
        const int base = (r / CONFIG::inner) * CONFIG::axis * CONFIG::inner + r % CONFIG::inner;
        i32 max = -128;
        i64 sum = 0;
    MAX:
        for (int k = 0; k < CONFIG::axis; ++k) {
            const i32 v = x[base + k * CONFIG::inner];
            max = v > max ? v : max;
        }
    SUM:
        for (int k = 0; k < CONFIG::axis; ++k) {
            sum += isoftmax_exp_q30<CONFIG>(max - i32(x[base + k * CONFIG::inner]));
        }
        /* sum >= 2^30 (the maximum's own term): reciprocal <= 2^32 and e * reciprocal <= 2^62 */
        const i64 reciprocal = (i64(1) << 62) / sum;
    OUTPUTS:
        for (int k = 0; k < CONFIG::axis; ++k) {
            const int at = base + k * CONFIG::inner;
            const i64 e = isoftmax_exp_q30<CONFIG>(max - i32(x[at]));
            const i64 v = ((e * reciprocal + (i64(1) << 53)) >> 54) - 128;
            y[at] = v > 127 ? i8(127) : i8(v);
        }
    }
}

/* Bits of v (0 for 0). */
inline int bit_length64(u64 v)
{
#pragma HLS INLINE
    int bits = 0;
BITS:
    for (int b = 0; b < 64; ++b) {
#pragma HLS UNROLL
        if (v[b]) {
            bits = b + 1;
        }
    }
    return bits;
}

/* floor(sqrt(n)): Newton's iteration from 2^ceil(bits / 2) >= sqrt(n) until it stops decreasing (I-BERT's
 * Algorithm 4; exact). From at most twice the root it converges in well under the 64 steps the loop allows. */
inline u64 isqrt64(u64 n)
{
    if (n == 0) {
        return 0;
    }
    u64 x = u64(1) << ((bit_length64(n) + 1) / 2);
    bool done = false;
NEWTON:
    for (int step = 0; step < 64; ++step) {
        if (!done) {
            const u64 next = (x + n / x) >> 1;
            if (next >= x) {
                done = true;
            } else {
                x = next;
            }
        }
    }
    return x;
}

template <class CONFIG>
void layer_norm(const i8 x[], const rom32 weight[], const rom32 bias[], i8 y[])
{
ROWS:
    for (int r = 0; r < CONFIG::rows; ++r) {
#pragma HLS PIPELINE II = CONFIG::reuse_factor
        const int row = r * CONFIG::cols;
        i32 sum = 0;
        i64 squares = 0;
    SUM:
        for (int i = 0; i < CONFIG::cols; ++i) {
            sum += x[row + i];
        }
    SQUARES:
        for (int i = 0; i < CONFIG::cols; ++i) {
            const i64 d = i64(CONFIG::cols) * x[row + i] - sum;
            squares += d * d;
        }
        const u64 t = (u64(squares) << (2 * CONFIG::variance_shift)) + u64(CONFIG::epsilon);
        const int k = (62 - bit_length64(t)) >> 1;
        const u64 root = isqrt64(t << (2 * k));
        const i64 f = (i64(1) << 62) / (root != 0 ? i64(root) : i64(1));
        const int shift = CONFIG::norm_shift - k > 0 ? CONFIG::norm_shift - k : 0;
    OUTPUTS:
        for (int i = 0; i < CONFIG::cols; ++i) {
            const i32 d = i32(CONFIG::cols * x[row + i]) - sum;
            const i64 magnitude = (i64(d < 0 ? i32(-d) : d) * f) >> shift;
            const i64 z = d < 0 ? i64(-magnitude) : magnitude;
            const i64 acc = ((z * i64(weight[i])) >> CONFIG::weight_shift) + bias[i];
            const i64 out = CONFIG::output_offset + ((acc + (1 << 7)) >> 8);
            y[row + i] = out > 127 ? i8(127) : (out < -128 ? i8(-128) : i8(out));
        }
    }
}

} // namespace el

#endif
