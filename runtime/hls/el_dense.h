/*
 * int8 fully connected and batched matmul (TFLite FullyConnected[PerChannel], BatchMatMul), templated over their
 * config structs (backends/hls/configs.py: LinearConfig, MatmulConfig): acc = bias + sum of (x + input_offset) *
 * (w + weight_offset) in ap_int<32>, stored or requantized by output channel (the output's last index).
 * One output row (out_features or n results) per `PIPELINE II=reuse_factor`, its products unrolled and shared.
 */
#ifndef EL_HLS_DENSE_H
#define EL_HLS_DENSE_H

#include "el_conv.h"

namespace el {

template <class CONFIG, class Y>
void linear(const i8 x[], const rom8 w[], const rom32 bias[], const rom32 multiplier[], const int shift[], Y y[])
{
ROWS:
    for (int r = 0; r < CONFIG::rows; ++r) {
#pragma HLS PIPELINE II = CONFIG::reuse_factor
    OUTPUTS:
        for (int o = 0; o < CONFIG::out_features; ++o) {
            i32 acc = bias[o];
        INPUTS:
            for (int i = 0; i < CONFIG::in_features; ++i) {
                acc += conv_product<CONFIG>(x[r * CONFIG::in_features + i], w[o * CONFIG::in_features + i]);
            }
            store<CONFIG>(acc, o, multiplier, shift, y[r * CONFIG::out_features + o]);
        }
    }
}

/* Rows arrive in C order, in_features values each; out_features results leave per row. */
template <class CONFIG, class Y>
void linear_stream(hls::stream<i8> &xs, const rom8 w[], const rom32 bias[], const rom32 multiplier[], const int shift[],
                   hls::stream<Y> &ys)
{
    i8 row[CONFIG::in_features];
ROWS:
    for (int r = 0; r < CONFIG::rows; ++r) {
    READ:
        for (int i = 0; i < CONFIG::in_features; ++i) {
#pragma HLS PIPELINE II = 1
            row[i] = xs.read();
        }
    OUTPUTS:
        for (int o = 0; o < CONFIG::out_features; ++o) {
#pragma HLS PIPELINE II = CONFIG::reuse_factor
            i32 acc = bias[o];
        INPUTS:
            for (int i = 0; i < CONFIG::in_features; ++i) {
                acc += conv_product<CONFIG>(row[i], w[o * CONFIG::in_features + i]);
            }
            Y out;
            store<CONFIG>(acc, o, multiplier, shift, out);
            ys.write(out);
        }
    }
}

/* [batch..., m, k] @ [batch..., k, n]; a_offset / b_offset hold where each (broadcast) batch entry starts. */
template <class CONFIG, class A, class B, class Y>
void matmul(const A a[], const B b[], const int a_offset[], const int b_offset[], const rom32 multiplier[],
            const int shift[], Y y[])
{
BATCH:
    for (int t = 0; t < CONFIG::batch; ++t) {
    ROWS:
        for (int i = 0; i < CONFIG::m; ++i) {
#pragma HLS PIPELINE II = CONFIG::reuse_factor
        COLUMNS:
            for (int j = 0; j < CONFIG::n; ++j) {
                i32 acc = 0;
            INNER:
                for (int k = 0; k < CONFIG::k; ++k) {
                    acc += conv_product<CONFIG>(a[a_offset[t] + i * CONFIG::k + k], b[b_offset[t] + k * CONFIG::n + j]);
                }
                store<CONFIG>(acc, j, multiplier, shift, y[(t * CONFIG::m + i) * CONFIG::n + j]);
            }
        }
    }
}

} // namespace el

#endif
