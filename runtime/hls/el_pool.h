/*
 * int8 pooling and reductions: MAX_POOL2D (TFLite MaxPool: the maximum of the in-bounds taps, clamped to the PoolQ
 * range), AVG_POOL2D (TFLite AveragePool: the raw sum of the in-bounds taps divided by their count, rounding half
 * away from zero, clamped), MEAN (TFLM QuantizedMeanOrSum with 1/n folded into the multiplier, which the compiler
 * computes since n is static) and REDUCE_MAX over any axes, through index tables the compiler writes.
 * Pools loop over output pixels (`PIPELINE II=reuse_factor`); pool2d_stream reads a channels-last frame through the
 * same line buffer as conv2d_stream.
 */
#ifndef EL_HLS_POOL_H
#define EL_HLS_POOL_H

#include "el_conv.h"

namespace el {

/* TFLite's (acc > 0 ? acc + n / 2 : acc - n / 2) / n, C division truncating toward zero. */
inline i32 rounded_div(i32 acc, i32 n)
{
#pragma HLS INLINE
    const i32 half = n / 2;
    const i32 nudged = acc > 0 ? i32(acc + half) : i32(acc - half);
    return nudged / n;
}

/* The input position of tap k of the window of output (oy, ox), and whether it lies inside the image. */
template <class CONFIG>
inline bool pool_tap(int oy, int ox, int k, int &iy, int &ix)
{
#pragma HLS INLINE
    iy = oy * CONFIG::stride_h - CONFIG::pad_top + (k / CONFIG::kernel_w) * CONFIG::dilation_h;
    ix = ox * CONFIG::stride_w - CONFIG::pad_left + (k % CONFIG::kernel_w) * CONFIG::dilation_w;
    return iy >= 0 && iy < CONFIG::in_h && ix >= 0 && ix < CONFIG::in_w;
}

/* The pooled value of a window's taps (`inside` marks the in-bounds ones), clamped. */
template <class CONFIG>
inline i8 pool_window(const i8 taps[CONFIG::kernel_h * CONFIG::kernel_w],
                      const bool inside[CONFIG::kernel_h * CONFIG::kernel_w])
{
#pragma HLS INLINE
    i32 best = -128, total = 0, count = 0;
TAPS:
    for (int k = 0; k < CONFIG::kernel_h * CONFIG::kernel_w; ++k) {
        if (inside[k]) {
            best = taps[k] > best ? i32(taps[k]) : best;
            total += taps[k];
            ++count;
        }
    }
    const i32 value = CONFIG::is_max ? best : rounded_div(total, count);
    return i8(clamp32(value, CONFIG::act_min, CONFIG::act_max));
}

template <class CONFIG>
void pool2d(const i8 x[], i8 y[])
{
PLANES:
    for (int n = 0; n < CONFIG::planes; ++n) {
    PIXELS:
        for (int p = 0; p < CONFIG::out_h * CONFIG::out_w; ++p) {
#pragma HLS PIPELINE II = CONFIG::reuse_factor
            i8 taps[CONFIG::kernel_h * CONFIG::kernel_w];
            bool inside[CONFIG::kernel_h * CONFIG::kernel_w];
        GATHER:
            for (int k = 0; k < CONFIG::kernel_h * CONFIG::kernel_w; ++k) {
                int iy, ix;
                inside[k] = pool_tap<CONFIG>(p / CONFIG::out_w, p % CONFIG::out_w, k, iy, ix);
                taps[k] = inside[k] ? x[(n * CONFIG::in_h + iy) * CONFIG::in_w + ix] : i8(0);
            }
            y[n * CONFIG::out_h * CONFIG::out_w + p] = pool_window<CONFIG>(taps, inside);
        }
    }
}

/* planes = batch x channels; the frame streams channels-last, batch by batch. */
template <class CONFIG>
void pool2d_stream(hls::stream<i8> &xs, hls::stream<i8> &ys)
{
    i8 lines[CONFIG::span_h][CONFIG::in_w * CONFIG::channels];
BATCH:
    for (int n = 0; n < CONFIG::planes / CONFIG::channels; ++n) {
        int next_oy = 0;
    ROWS:
        for (int iy = 0; iy < CONFIG::in_h; ++iy) {
        READ:
            for (int j = 0; j < CONFIG::in_w * CONFIG::channels; ++j) {
#pragma HLS PIPELINE II = 1
                lines[iy % CONFIG::span_h][j] = xs.read();
            }
        TRIGGERED:
            for (int t = 0; t < CONFIG::rows_per_trigger; ++t) {
                if (next_oy < CONFIG::out_h && trigger_row<CONFIG>(next_oy) == iy) {
                PIXELS:
                    for (int ox = 0; ox < CONFIG::out_w; ++ox) {
                    CHANNELS:
                        for (int c = 0; c < CONFIG::channels; ++c) {
#pragma HLS PIPELINE II = CONFIG::reuse_factor
                            i8 taps[CONFIG::kernel_h * CONFIG::kernel_w];
                            bool inside[CONFIG::kernel_h * CONFIG::kernel_w];
                        GATHER:
                            for (int k = 0; k < CONFIG::kernel_h * CONFIG::kernel_w; ++k) {
                                int iy, ix;
                                inside[k] = pool_tap<CONFIG>(next_oy, ox, k, iy, ix);
                                taps[k] = inside[k] ? lines[iy % CONFIG::span_h][ix * CONFIG::channels + c] : i8(0);
                            }
                            ys.write(pool_window<CONFIG>(taps, inside));
                        }
                    }
                    ++next_oy;
                }
            }
        }
    }
}

/* MEAN over the middle of [outer, reduced, inner]: the sum re-centred (wrapping), times M_n, shift s_n. */
template <class CONFIG>
inline i8 mean_of(i32 sum)
{
#pragma HLS INLINE
    const i32 centred = sum + i32(CONFIG::recentre);
    return offset_clamp(mbqm(centred, CONFIG::multiplier, CONFIG::shift), CONFIG::output_offset, -128, 127);
}

/* Output o reduces x[base[o] + offset[r]] over r: any set of axes (the compiler's index tables). */
template <class CONFIG>
void mean(const i8 x[], const int base[], const int offset[], i8 y[])
{
OUTPUTS:
    for (int o = 0; o < CONFIG::outer * CONFIG::inner; ++o) {
#pragma HLS PIPELINE II = CONFIG::reuse_factor
        i32 sum = 0;
    REDUCED:
        for (int r = 0; r < CONFIG::reduced; ++r) {
            sum += x[base[o] + offset[r]];
        }
        y[o] = mean_of<CONFIG>(sum);
    }
}

/* MEAN over H and W of a channels-last frame (global average pooling): one running sum per channel. */
template <class CONFIG>
void mean_stream(hls::stream<i8> &xs, hls::stream<i8> &ys)
{
    i32 sums[CONFIG::inner];
OUTER:
    for (int o = 0; o < CONFIG::outer; ++o) {
    CLEAR:
        for (int c = 0; c < CONFIG::inner; ++c) {
            sums[c] = 0;
        }
    PIXELS:
        for (int r = 0; r < CONFIG::reduced; ++r) {
        CHANNELS:
            for (int c = 0; c < CONFIG::inner; ++c) {
#pragma HLS PIPELINE II = 1
                sums[c] += i32(xs.read());
            }
        }
    WRITE:
        for (int c = 0; c < CONFIG::inner; ++c) {
#pragma HLS PIPELINE II = CONFIG::reuse_factor
            ys.write(mean_of<CONFIG>(sums[c]));
        }
    }
}

template <class CONFIG>
void reduce_max(const i8 x[], const int base[], const int offset[], i8 y[])
{
OUTPUTS:
    for (int o = 0; o < CONFIG::outer * CONFIG::inner; ++o) {
#pragma HLS PIPELINE II = CONFIG::reuse_factor
        i8 best = -128;
    REDUCED:
        for (int r = 0; r < CONFIG::reduced; ++r) {
            const i8 v = x[base[o] + offset[r]];
            best = v > best ? v : best;
        }
        y[o] = best;
    }
}

} // namespace el

#endif
