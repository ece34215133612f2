/*
 * int8 elementwise kernels: REQUANTIZE (per tensor or per channel), ADD / SUB (TFLite AddElementwise: both inputs
 * shifted left by left_shift and rescaled, summed or subtracted, rescaled), MUL, MAXIMUM / MINIMUM (exact), the
 * RELU / CLAMP bounds, and lookup tables: every other int8 -> int8 pointwise function (SIGMOID, TANH, HARDSWISH,
 * GELU) is one 256-entry ROM indexed by x + 128, which the compiler fills from the reference interpreter.
 *
 * Binary operands broadcast through an odometer over the output's (merged) dims: `shape`, and the strides `sa`, `sb`
 * with which a and b advance (0 on a broadcast dim), at most 6 dims, set by the compiler.
 */
#ifndef EL_HLS_ELEMENTWISE_H
#define EL_HLS_ELEMENTWISE_H

#include "el_arith.h"
#include "hls_stream.h"

namespace el {

const int MAX_DIMS = 6;

/* x (int8 or int32) to int8; channel of element i is (i / inner) % channels. */
template <class CONFIG, class X>
inline i8 requantize_one(X x, int i, const rom32 multiplier[], const int shift[])
{
#pragma HLS INLINE
    const int c = CONFIG::per_channel ? (i / CONFIG::inner) % CONFIG::channels : 0;
    return requant(i32(x), CONFIG::input_offset, multiplier[c], shift[c], CONFIG::output_offset, CONFIG::act_min,
                   CONFIG::act_max);
}

template <class CONFIG, class X>
void requantize(const X x[], const rom32 multiplier[], const int shift[], i8 y[])
{
ELEMENTS:
    for (int i = 0; i < CONFIG::count; ++i) {
#pragma HLS PIPELINE II = CONFIG::reuse_factor
        y[i] = requantize_one<CONFIG>(x[i], i, multiplier, shift);
    }
}

template <class CONFIG, class X>
void requantize_stream(hls::stream<X> &xs, const rom32 multiplier[], const int shift[], hls::stream<i8> &ys)
{
ELEMENTS:
    for (int i = 0; i < CONFIG::count; ++i) {
#pragma HLS PIPELINE II = CONFIG::reuse_factor
        ys.write(requantize_one<CONFIG>(xs.read(), i, multiplier, shift));
    }
}

/* TFLite AddFunc's input half: offset, shifted left (wrapping), rescaled. */
inline i32 add_input(i8 v, i32 offset, int left_shift, i32 multiplier, int shift)
{
#pragma HLS INLINE
    const i32 shifted = i32(i32(v) + offset) << left_shift;
    return mbqm(shifted, multiplier, shift);
}

enum BinaryOp { ADD, SUB, MUL, MAXIMUM, MINIMUM };

template <class CONFIG>
inline i8 binary_one(i8 a, i8 b)
{
#pragma HLS INLINE
    if (CONFIG::op == MAXIMUM) {
        return a > b ? a : b;
    }
    if (CONFIG::op == MINIMUM) {
        return a < b ? a : b;
    }
    if (CONFIG::op == MUL) {
        const i32 product = (i32(a) + CONFIG::input1_offset) * (i32(b) + CONFIG::input2_offset);
        return offset_clamp(mbqm(product, CONFIG::output_multiplier, CONFIG::output_shift), CONFIG::output_offset,
                            CONFIG::act_min, CONFIG::act_max);
    }
    const i32 sa = add_input(a, CONFIG::input1_offset, CONFIG::left_shift, CONFIG::input1_multiplier,
                             CONFIG::input1_shift);
    const i32 sb = add_input(b, CONFIG::input2_offset, CONFIG::left_shift, CONFIG::input2_multiplier,
                             CONFIG::input2_shift);
    const i32 raw = CONFIG::op == SUB ? i32(sa - sb) : i32(sa + sb);
    return offset_clamp(mbqm(raw, CONFIG::output_multiplier, CONFIG::output_shift), CONFIG::output_offset,
                        CONFIG::act_min, CONFIG::act_max);
}

template <class CONFIG, class A, class B>
void binary(const A a[], const B b[], const int shape[], const int sa[], const int sb[], i8 y[])
{
    int idx[MAX_DIMS] = {0, 0, 0, 0, 0, 0};
    int oa = 0, ob = 0;
ELEMENTS:
    for (int i = 0; i < CONFIG::count; ++i) {
#pragma HLS PIPELINE II = CONFIG::reuse_factor
        y[i] = binary_one<CONFIG>(i8(a[oa]), i8(b[ob]));
        bool carry = true;
    STEP:
        for (int d = MAX_DIMS - 1; d >= 0; --d) {
            if (carry && d < CONFIG::ndim) {
                ++idx[d];
                oa += sa[d];
                ob += sb[d];
                if (idx[d] == shape[d]) {
                    idx[d] = 0;
                    oa -= sa[d] * shape[d];
                    ob -= sb[d] * shape[d];
                } else {
                    carry = false;
                }
            }
        }
    }
}

/* Same shapes and the same stream order: element i of a with element i of b. */
template <class CONFIG>
void binary_stream(hls::stream<i8> &as, hls::stream<i8> &bs, hls::stream<i8> &ys)
{
ELEMENTS:
    for (int i = 0; i < CONFIG::count; ++i) {
#pragma HLS PIPELINE II = CONFIG::reuse_factor
        const i8 a = as.read();
        const i8 b = bs.read();
        ys.write(binary_one<CONFIG>(a, b));
    }
}

template <class CONFIG>
void clamp(const i8 x[], i8 y[])
{
ELEMENTS:
    for (int i = 0; i < CONFIG::count; ++i) {
#pragma HLS PIPELINE II = CONFIG::reuse_factor
        y[i] = x[i] < CONFIG::act_min ? i8(CONFIG::act_min) : (x[i] > CONFIG::act_max ? i8(CONFIG::act_max) : x[i]);
    }
}

template <class CONFIG>
void clamp_stream(hls::stream<i8> &xs, hls::stream<i8> &ys)
{
ELEMENTS:
    for (int i = 0; i < CONFIG::count; ++i) {
#pragma HLS PIPELINE II = CONFIG::reuse_factor
        const i8 x = xs.read();
        ys.write(x < CONFIG::act_min ? i8(CONFIG::act_min) : (x > CONFIG::act_max ? i8(CONFIG::act_max) : x));
    }
}

template <class CONFIG>
void table(const i8 x[], const rom8 values[256], i8 y[])
{
ELEMENTS:
    for (int i = 0; i < CONFIG::count; ++i) {
#pragma HLS PIPELINE II = CONFIG::reuse_factor
        y[i] = i8(values[x[i].to_int() + 128]);
    }
}

template <class CONFIG>
void table_stream(hls::stream<i8> &xs, const rom8 values[256], hls::stream<i8> &ys)
{
ELEMENTS:
    for (int i = 0; i < CONFIG::count; ++i) {
#pragma HLS PIPELINE II = CONFIG::reuse_factor
        ys.write(i8(values[xs.read().to_int() + 128]));
    }
}

} // namespace el

#endif
