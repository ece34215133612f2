/*
 * int8 convolution over NCHW inputs and OIHW weights, TFLite reference_integer_ops::ConvPerChannel and
 * DepthwiseConvPerChannel: for every output, acc = bias[o] + sum over the in-bounds taps of
 * (x + input_offset) * (w + weight_offset), then either stored (int32, the _s32 forms) or requantized per output
 * channel in the same loop (the fused forms). Padding taps are skipped: they stand for the input zero point, whose
 * offset product is zero.
 *
 * All arithmetic is uint32_t, so sums wrap modulo 2^32 exactly like the interpreter's int64 sums wrapped to int32;
 * modular sums do not depend on their order or grouping, which is what lets the pointwise and depthwise kernels fold
 * the input offset into a per-channel constant and still give the generic kernel's bits.
 */
#include <string.h>

#include "s8_dsp.h"

/* Pointwise tiles: this many outputs of one channel accumulate side by side (on the stack, not in the arena). */
#define EL_TILE 16

static void conv_generic(const el_conv2d_params *p, const el_dot_q *q, const int8_t *restrict x,
                         const int8_t *restrict w, const int32_t *restrict bias, const el_sink *out)
{
#if EL_S8_DSP
    if (el_conv_im2col_dsp(p, q, x, w, bias, out)) {
        return;
    }
#endif
    const int32_t cin_g = p->in_channels / p->groups;
    const int32_t cout_g = p->out_channels / p->groups;
    const int32_t plane = p->in_h * p->in_w;
    const int32_t taps = p->kernel_h * p->kernel_w;
    const uint32_t x_off = (uint32_t)q->input_offset;
    const uint32_t w_off = (uint32_t)q->weight_offset;
    int32_t n, o, oy, ox, c, ky, kx, i = 0;
    for (n = 0; n < p->batch; ++n) {
        for (o = 0; o < p->out_channels; ++o) {
            const int8_t *xg = x + (n * p->in_channels + (o / cout_g) * cin_g) * plane;
            const int8_t *wo = w + o * cin_g * taps;
            const uint32_t b = bias ? (uint32_t)bias[o] : 0u;
            for (oy = 0; oy < p->out_h; ++oy) {
                const int32_t iy0 = oy * p->stride_h - p->pad_top;
                int32_t ky_lo, ky_hi;
                el_tap_range(iy0, p->kernel_h, p->dilation_h, p->in_h, &ky_lo, &ky_hi);
                for (ox = 0; ox < p->out_w; ++ox) {
                    const int32_t ix0 = ox * p->stride_w - p->pad_left;
                    int32_t kx_lo, kx_hi;
                    uint32_t acc = b;
                    el_tap_range(ix0, p->kernel_w, p->dilation_w, p->in_w, &kx_lo, &kx_hi);
                    for (c = 0; c < cin_g; ++c) {
                        const int8_t *xc = xg + c * plane;
                        const int8_t *wc = wo + c * taps;
                        for (ky = ky_lo; ky < ky_hi; ++ky) {
                            const int32_t row = (iy0 + ky * p->dilation_h) * p->in_w + ix0;
                            const int8_t *wr = wc + ky * p->kernel_w;
                            for (kx = kx_lo; kx < kx_hi; ++kx) {
                                acc += ((uint32_t)xc[row + kx * p->dilation_w] + x_off) * ((uint32_t)wr[kx] + w_off);
                            }
                        }
                    }
                    el_put(out, i++, o, acc);
                }
            }
        }
    }
}

/* Kernel 1x1, stride 1, no padding, one group: each output plane is a weighted sum of the input planes, pixel for
 * pixel. sum_c (x + xo)(w + wo) = xo * sum_c (w + wo) + sum_c x (w + wo): the first term is one constant per output
 * channel, and the tile loop is a plain multiply-accumulate over contiguous pixels. */
static void conv_1x1(const el_conv2d_params *p, const el_dot_q *q, const int8_t *restrict x,
                     const int8_t *restrict w, const int32_t *restrict bias, const el_sink *out)
{
#if EL_S8_DSP
    if (el_conv_im2col_dsp(p, q, x, w, bias, out)) {
        return;
    }
#endif
    const int32_t plane = p->out_h * p->out_w;
    const int32_t cin = p->in_channels;
    const uint32_t x_off = (uint32_t)q->input_offset;
    const uint32_t w_off = (uint32_t)q->weight_offset;
    int32_t n, o, c, p0, t;
    for (n = 0; n < p->batch; ++n) {
        const int8_t *xn = x + n * cin * plane;
        for (o = 0; o < p->out_channels; ++o) {
            const int8_t *wo = w + o * cin;
            const int32_t y0 = (n * p->out_channels + o) * plane;
            uint32_t base = bias ? (uint32_t)bias[o] : 0u;
            for (c = 0; c < cin; ++c) {
                base += x_off * ((uint32_t)wo[c] + w_off);
            }
            for (p0 = 0; p0 < plane; p0 += EL_TILE) {
                const int32_t len = plane - p0 < EL_TILE ? plane - p0 : EL_TILE;
                uint32_t acc[EL_TILE];
                for (t = 0; t < len; ++t) {
                    acc[t] = base;
                }
                for (c = 0; c < cin; ++c) {
                    const uint32_t wv = (uint32_t)wo[c] + w_off;
                    const int8_t *xc = xn + c * plane + p0;
                    for (t = 0; t < len; ++t) {
                        acc[t] += (uint32_t)xc[t] * wv;
                    }
                }
                for (t = 0; t < len; ++t) {
                    el_put(out, y0 + p0 + t, o, acc[t]);
                }
            }
        }
    }
}

/* The outputs i in [0, out) whose whole window [i * stride - pad, + span) lies in [0, size): [*lo, *hi). */
static void interior(int32_t pad, int32_t stride, int32_t span, int32_t size, int32_t out, int32_t *lo,
                     int32_t *hi)
{
    const int32_t first = pad > 0 ? (pad + stride - 1) / stride : 0;
    const int32_t last_start = size - span + pad;
    int32_t end = last_start < 0 ? 0 : last_start / stride + 1;
    if (end > out) {
        end = out;
    }
    *lo = first < end ? first : end;
    *hi = end;
}

/* groups == in_channels: output channel o reads input plane o / multiplier alone. Windows entirely inside the image
 * (the bulk of any feature map) run the full kernel with no bounds and the input offset folded into one constant
 * per channel, xo * sum(w + wo); border windows sum their in-bounds taps with the offset, as the generic kernel. */
static void conv_depthwise(const el_conv2d_params *p, const el_dot_q *q, const int8_t *restrict x,
                           const int8_t *restrict w, const int32_t *restrict bias, const el_sink *out)
{
#if EL_S8_DSP
    if (el_conv_depthwise_dsp(p, q, x, w, bias, out)) {
        return;
    }
#endif
    const int32_t multiplier = p->out_channels / p->in_channels;
    const int32_t plane = p->in_h * p->in_w;
    const int32_t taps = p->kernel_h * p->kernel_w;
    const int32_t kh = p->kernel_h, kw = p->kernel_w, dh = p->dilation_h, dw = p->dilation_w;
    const uint32_t x_off = (uint32_t)q->input_offset;
    const uint32_t w_off = (uint32_t)q->weight_offset;
    int32_t oy_lo, oy_hi, ox_lo, ox_hi;
    int32_t n, o, oy, ox, ky, kx, t, i = 0;
    interior(p->pad_top, p->stride_h, (kh - 1) * dh + 1, p->in_h, p->out_h, &oy_lo, &oy_hi);
    interior(p->pad_left, p->stride_w, (kw - 1) * dw + 1, p->in_w, p->out_w, &ox_lo, &ox_hi);
    for (n = 0; n < p->batch; ++n) {
        for (o = 0; o < p->out_channels; ++o) {
            const int8_t *xc = x + (n * p->in_channels + o / multiplier) * plane;
            const int8_t *wo = w + o * taps;
            const uint32_t b = bias ? (uint32_t)bias[o] : 0u;
            uint32_t folded = b;
            for (t = 0; t < taps; ++t) {
                folded += x_off * ((uint32_t)wo[t] + w_off);
            }
            for (oy = 0; oy < p->out_h; ++oy) {
                const int32_t iy0 = oy * p->stride_h - p->pad_top;
                const int inner_row = oy >= oy_lo && oy < oy_hi;
                int32_t ky_lo, ky_hi;
                el_tap_range(iy0, kh, dh, p->in_h, &ky_lo, &ky_hi);
                for (ox = 0; ox < p->out_w; ++ox) {
                    const int32_t ix0 = ox * p->stride_w - p->pad_left;
                    uint32_t acc;
                    if (inner_row && ox >= ox_lo && ox < ox_hi) {
                        acc = folded;
                        for (ky = 0; ky < kh; ++ky) {
                            const int8_t *xr = xc + (iy0 + ky * dh) * p->in_w + ix0;
                            const int8_t *wr = wo + ky * kw;
                            for (kx = 0; kx < kw; ++kx) {
                                acc += (uint32_t)xr[kx * dw] * ((uint32_t)wr[kx] + w_off);
                            }
                        }
                    } else {
                        int32_t kx_lo, kx_hi;
                        acc = b;
                        el_tap_range(ix0, kw, dw, p->in_w, &kx_lo, &kx_hi);
                        for (ky = ky_lo; ky < ky_hi; ++ky) {
                            const int32_t row = (iy0 + ky * dh) * p->in_w + ix0;
                            const int8_t *wr = wo + ky * kw;
                            for (kx = kx_lo; kx < kx_hi; ++kx) {
                                acc += ((uint32_t)xc[row + kx * dw] + x_off) * ((uint32_t)wr[kx] + w_off);
                            }
                        }
                    }
                    el_put(out, i++, o, acc);
                }
            }
        }
    }
}

void el_conv2d_s8_s32(const el_conv2d_params *p, const el_dot_q *q, const int8_t *restrict x,
                      const int8_t *restrict w, const int32_t *restrict bias, int32_t *restrict y)
{
    const el_sink out = {NULL, y, NULL};
    conv_generic(p, q, x, w, bias, &out);
}

void el_conv2d_s8(const el_conv2d_params *p, const el_dot_q *q, const el_requant *rq, const int8_t *restrict x,
                  const int8_t *restrict w, const int32_t *restrict bias, int8_t *restrict y)
{
    const el_sink out = {rq, NULL, y};
    conv_generic(p, q, x, w, bias, &out);
}

void el_conv2d_1x1_s8_s32(const el_conv2d_params *p, const el_dot_q *q, const int8_t *restrict x,
                          const int8_t *restrict w, const int32_t *restrict bias, int32_t *restrict y)
{
    const el_sink out = {NULL, y, NULL};
    conv_1x1(p, q, x, w, bias, &out);
}

void el_conv2d_1x1_s8(const el_conv2d_params *p, const el_dot_q *q, const el_requant *rq,
                      const int8_t *restrict x, const int8_t *restrict w, const int32_t *restrict bias,
                      int8_t *restrict y)
{
    const el_sink out = {rq, NULL, y};
    conv_1x1(p, q, x, w, bias, &out);
}

void el_depthwise_conv2d_s8_s32(const el_conv2d_params *p, const el_dot_q *q, const int8_t *restrict x,
                                const int8_t *restrict w, const int32_t *restrict bias, int32_t *restrict y)
{
    const el_sink out = {NULL, y, NULL};
    conv_depthwise(p, q, x, w, bias, &out);
}

void el_depthwise_conv2d_s8(const el_conv2d_params *p, const el_dot_q *q, const el_requant *rq,
                            const int8_t *restrict x, const int8_t *restrict w, const int32_t *restrict bias,
                            int8_t *restrict y)
{
    const el_sink out = {rq, NULL, y};
    conv_depthwise(p, q, x, w, bias, &out);
}

/* Plane by plane through the depthwise kernel itself (one channel, one group), so every output is the out-of-place
 * kernel's. Plane j's output lands on bytes [j * out_plane, (j + 1) * out_plane), all at or below plane j's input:
 * only planes already read are overwritten. Per-channel requantization pairs follow their channel. */
void el_depthwise_conv2d_inplace_s8(const el_conv2d_params *p, const el_dot_q *q, const el_requant *rq, int8_t *xy,
                                    const int8_t *restrict w, const int32_t *restrict bias, int8_t *restrict scratch)
{
    const int32_t in_plane = p->in_h * p->in_w;
    const int32_t out_plane = p->out_h * p->out_w;
    const int32_t taps = p->kernel_h * p->kernel_w;
    const el_conv2d_params one = el_single_plane(p);
    el_requant channel = *rq;
    int32_t n, c;
    for (n = 0; n < p->batch; ++n) {
        for (c = 0; c < p->in_channels; ++c) {
            const int32_t plane = n * p->in_channels + c;
            const el_sink out = {&channel, NULL, scratch};
            if (rq->per_channel) {
                channel.multiplier = rq->multiplier + c;
                channel.shift = rq->shift + c;
            }
            conv_depthwise(&one, q, xy + plane * in_plane, w + c * taps, bias ? bias + c : NULL, &out);
            memcpy(xy + plane * out_plane, scratch, (size_t)out_plane);
        }
    }
}
