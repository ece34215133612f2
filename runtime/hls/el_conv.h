/*
 * int8 convolution over NCHW tensors with OIHW weights (TFLite ConvPerChannel / DepthwiseConvPerChannel), templated
 * over a per-layer config struct (backends/hls/configs.py: Conv2dConfig). For every output,
 * acc = bias[o] + sum over the in-bounds taps of (x + input_offset) * (w + weight_offset) in ap_int<32> (wrapping like
 * the C runtime's uint32 sums), then stored as the int32 accumulator or requantized per output channel (the fused
 * form). Padding taps are skipped: they stand for the input zero point, whose offset product is zero.
 *
 * Both forms loop over output pixels with `PIPELINE II=reuse_factor`: one pixel's out_channels x taps products are
 * unrolled and shared reuse_factor-fold, which is what the resource estimate counts.
 * - conv2d: arrays in C order (io_parallel).
 * - conv2d_stream: one frame channels-last through hls::stream (io_stream), with a line buffer holding the window's
 *   span of input rows; an output row is computed as soon as the last input row it needs has arrived.
 */
#ifndef EL_HLS_CONV_H
#define EL_HLS_CONV_H

#include "el_arith.h"
#include "hls_stream.h"

namespace el {

/* The accumulator as it is (int32 outputs), or requantized through the layer's pair for channel c. */
template <class CONFIG>
inline void store(i32 acc, int, const rom32[], const int[], i32 &y)
{
#pragma HLS INLINE
    y = acc;
}

template <class CONFIG>
inline void store(i32 acc, int c, const rom32 multiplier[], const int shift[], i8 &y)
{
#pragma HLS INLINE
    const int k = CONFIG::per_channel ? c : 0;
    y = requant(acc, CONFIG::rq_input_offset, multiplier[k], shift[k], CONFIG::output_offset, CONFIG::act_min,
                CONFIG::act_max);
}

/* (x + input_offset) * (w + weight_offset): both factors fit 10 bits, the product 19. */
template <class CONFIG, class X, class W>
inline i32 conv_product(X x, W w)
{
#pragma HLS INLINE
    const ap_int<10> xv = ap_int<10>(x) + CONFIG::input_offset;
    const ap_int<10> wv = ap_int<10>(w) + CONFIG::weight_offset;
    return i32(xv * wv);
}

template <class CONFIG, class Y>
void conv2d(const i8 x[], const rom8 w[], const rom32 bias[], const rom32 multiplier[], const int shift[], Y y[])
{
    const int cin_g = CONFIG::in_channels / CONFIG::groups;
    const int cout_g = CONFIG::out_channels / CONFIG::groups;
    const int taps = CONFIG::kernel_h * CONFIG::kernel_w;
BATCH:
    for (int n = 0; n < CONFIG::batch; ++n) {
    PIXELS:
        for (int p = 0; p < CONFIG::out_h * CONFIG::out_w; ++p) {
#pragma HLS PIPELINE II = CONFIG::reuse_factor
            const int oy = p / CONFIG::out_w, ox = p % CONFIG::out_w;
        CHANNELS:
            for (int o = 0; o < CONFIG::out_channels; ++o) {
                i32 acc = bias[o];
            TAPS:
                for (int k = 0; k < cin_g * taps; ++k) {
                    const int c = k / taps, ky = (k % taps) / CONFIG::kernel_w, kx = k % CONFIG::kernel_w;
                    const int iy = oy * CONFIG::stride_h - CONFIG::pad_top + ky * CONFIG::dilation_h;
                    const int ix = ox * CONFIG::stride_w - CONFIG::pad_left + kx * CONFIG::dilation_w;
                    if (iy >= 0 && iy < CONFIG::in_h && ix >= 0 && ix < CONFIG::in_w) {
                        const int ci = (o / cout_g) * cin_g + c;
                        acc += conv_product<CONFIG>(x[((n * CONFIG::in_channels + ci) * CONFIG::in_h + iy) *
                                                      CONFIG::in_w + ix],
                                                    w[o * cin_g * taps + k]);
                    }
                }
                store<CONFIG>(acc, o, multiplier, shift,
                              y[((n * CONFIG::out_channels + o) * CONFIG::out_h + oy) * CONFIG::out_w + ox]);
            }
        }
    }
}

/* The input row after which output row oy can be computed: the last row of its window, inside the image. */
template <class CONFIG>
inline int trigger_row(int oy)
{
#pragma HLS INLINE
    const int last = oy * CONFIG::stride_h - CONFIG::pad_top + (CONFIG::kernel_h - 1) * CONFIG::dilation_h;
    return last < 0 ? 0 : (last >= CONFIG::in_h ? CONFIG::in_h - 1 : last);
}

template <class CONFIG, class Y>
void conv2d_stream(hls::stream<i8> &xs, const rom8 w[], const rom32 bias[], const rom32 multiplier[], const int shift[],
                   hls::stream<Y> &ys)
{
    const int cin_g = CONFIG::in_channels / CONFIG::groups;
    const int cout_g = CONFIG::out_channels / CONFIG::groups;
    const int taps = CONFIG::kernel_h * CONFIG::kernel_w;
    const int row = CONFIG::in_w * CONFIG::in_channels;
    i8 lines[CONFIG::span_h][CONFIG::in_w * CONFIG::in_channels];
BATCH:
    for (int n = 0; n < CONFIG::batch; ++n) {
        int next_oy = 0;
    ROWS:
        for (int iy = 0; iy < CONFIG::in_h; ++iy) {
        READ:
            for (int j = 0; j < row; ++j) {
#pragma HLS PIPELINE II = 1
                lines[iy % CONFIG::span_h][j] = xs.read();
            }
        TRIGGERED:
            for (int t = 0; t < CONFIG::rows_per_trigger; ++t) {
                if (next_oy < CONFIG::out_h && trigger_row<CONFIG>(next_oy) == iy) {
                    const int oy = next_oy;
                PIXELS:
                    for (int ox = 0; ox < CONFIG::out_w; ++ox) {
#pragma HLS PIPELINE II = CONFIG::reuse_factor
                    CHANNELS:
                        for (int o = 0; o < CONFIG::out_channels; ++o) {
                            i32 acc = bias[o];
                        TAPS:
                            for (int k = 0; k < cin_g * taps; ++k) {
                                const int c = k / taps, ky = (k % taps) / CONFIG::kernel_w, kx = k % CONFIG::kernel_w;
                                const int sy = oy * CONFIG::stride_h - CONFIG::pad_top + ky * CONFIG::dilation_h;
                                const int sx = ox * CONFIG::stride_w - CONFIG::pad_left + kx * CONFIG::dilation_w;
                                if (sy >= 0 && sy < CONFIG::in_h && sx >= 0 && sx < CONFIG::in_w) {
                                    const int ci = (o / cout_g) * cin_g + c;
                                    acc += conv_product<CONFIG>(lines[sy % CONFIG::span_h][sx * CONFIG::in_channels + ci],
                                                                w[o * cin_g * taps + k]);
                                }
                            }
                            Y out;
                            store<CONFIG>(acc, o, multiplier, shift, out);
                            ys.write(out);
                        }
                    }
                    ++next_oy;
                }
            }
        }
    }
}

} // namespace el

#endif
