/* 2-d convolution, direct form (no im2col buffer: the arena holds only what the memory plan placed there). */
#include <string.h>

#include "internal.h"

/* The output columns [*lo, *hi) whose tap at kernel column k lands inside the input row (the rest read padding). */
static void valid_columns(const el_conv2d_params *p, int32_t k, int32_t *lo, int32_t *hi)
{
    const int32_t first = p->pad_left - k * p->dilation_w;              /* ox * stride >= first */
    const int32_t last = p->in_w - 1 + p->pad_left - k * p->dilation_w; /* ox * stride <= last */
    *lo = first <= 0 ? 0 : (first + p->stride_w - 1) / p->stride_w;
    *hi = last < 0 ? 0 : last / p->stride_w + 1;
    if (*hi > p->out_w) *hi = p->out_w;
}

/* Each output plane accumulates tap by tap, so the innermost loop runs along a contiguous output row and
 * vectorizes. Every output still sums its products in the order c, then ky, then kx (the OIHW weight order),
 * starting from +0.0 and skipping padding, then adds the bias: the same float operations, in the same order, as
 * one dot product per output, hence the same bits. */
void el_conv2d_f32(const el_conv2d_params *p, const el_activation_f32 *act, const float *restrict x,
                   const float *restrict w, const float *restrict bias, float *restrict y)
{
    const int32_t cin_g = p->in_channels / p->groups;
    const int32_t cout_g = p->out_channels / p->groups;
    const int32_t plane = p->in_h * p->in_w;
    const int32_t out_plane = p->out_h * p->out_w;
    const int32_t taps = p->kernel_h * p->kernel_w;
    int32_t n, o, oy, ox, c, ky, kx, i;
    for (n = 0; n < p->batch; ++n) {
        for (o = 0; o < p->out_channels; ++o) {
            const float *xg = x + (n * p->in_channels + (o / cout_g) * cin_g) * plane;
            const float *wo = w + o * cin_g * taps;
            float *yo = y + (n * p->out_channels + o) * out_plane;
            for (i = 0; i < out_plane; ++i) yo[i] = 0.0f;
            for (c = 0; c < cin_g; ++c) {
                for (ky = 0; ky < p->kernel_h; ++ky) {
                    for (kx = 0; kx < p->kernel_w; ++kx) {
                        const float wv = wo[(c * p->kernel_h + ky) * p->kernel_w + kx];
                        int32_t lo, hi;
                        valid_columns(p, kx, &lo, &hi);
                        for (oy = 0; oy < p->out_h; ++oy) {
                            const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dilation_h;
                            const float *xr;
                            float *yr = yo + oy * p->out_w;
                            if (iy < 0 || iy >= p->in_h) continue;
                            xr = xg + c * plane + iy * p->in_w - p->pad_left + kx * p->dilation_w;
                            if (p->stride_w == 1) {
                                for (ox = lo; ox < hi; ++ox) yr[ox] += xr[ox] * wv;
                            } else {
                                for (ox = lo; ox < hi; ++ox) yr[ox] += xr[ox * p->stride_w] * wv;
                            }
                        }
                    }
                }
            }
            for (i = 0; i < out_plane; ++i) yo[i] = el_activate(act, bias ? yo[i] + bias[o] : yo[i]);
        }
    }
}

/* Plane by plane through el_conv2d_f32 itself (one channel, one group), so every output sums the same products in
 * the same order as the out-of-place kernel. Plane j's output lands on bytes [j * out_plane, (j + 1) * out_plane),
 * all at or below plane j's input: only planes already read are overwritten. */
void el_depthwise_conv2d_inplace_f32(const el_conv2d_params *p, const el_activation_f32 *act, float *xy,
                                     const float *restrict w, const float *restrict bias, float *restrict scratch)
{
    const int32_t in_plane = p->in_h * p->in_w;
    const int32_t out_plane = p->out_h * p->out_w;
    const int32_t taps = p->kernel_h * p->kernel_w;
    const el_conv2d_params one = el_single_plane(p);
    int32_t n, c;
    for (n = 0; n < p->batch; ++n) {
        for (c = 0; c < p->in_channels; ++c) {
            const int32_t plane = n * p->in_channels + c;
            el_conv2d_f32(&one, act, xy + plane * in_plane, w + c * taps, bias ? bias + c : NULL, scratch);
            memcpy(xy + plane * out_plane, scratch, (size_t)out_plane * sizeof(float));
        }
    }
}
