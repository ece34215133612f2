/* 2-d convolution, direct form (no im2col buffer: the arena holds only what the memory plan placed there). */
#include <string.h>

#include "internal.h"

void el_conv2d_f32(const el_conv2d_params *p, const el_activation_f32 *act, const float *restrict x,
                   const float *restrict w, const float *restrict bias, float *restrict y)
{
    const int32_t cin_g = p->in_channels / p->groups;
    const int32_t cout_g = p->out_channels / p->groups;
    const int32_t plane = p->in_h * p->in_w;
    const int32_t taps = p->kernel_h * p->kernel_w;
    int32_t n, o, oy, ox, c, ky, kx;
    for (n = 0; n < p->batch; ++n) {
        for (o = 0; o < p->out_channels; ++o) {
            const float *xg = x + (n * p->in_channels + (o / cout_g) * cin_g) * plane;
            const float *wo = w + o * cin_g * taps;
            for (oy = 0; oy < p->out_h; ++oy) {
                for (ox = 0; ox < p->out_w; ++ox) {
                    const int32_t iy0 = oy * p->stride_h - p->pad_top;
                    const int32_t ix0 = ox * p->stride_w - p->pad_left;
                    float acc = 0.0f;
                    /* Accumulation order: c, then ky, then kx (the OIHW weight order); padding adds nothing. */
                    for (c = 0; c < cin_g; ++c) {
                        for (ky = 0; ky < p->kernel_h; ++ky) {
                            const int32_t iy = iy0 + ky * p->dilation_h;
                            const float *xr, *wr;
                            if (iy < 0 || iy >= p->in_h) continue;
                            xr = xg + c * plane + iy * p->in_w;
                            wr = wo + c * taps + ky * p->kernel_w;
                            for (kx = 0; kx < p->kernel_w; ++kx) {
                                const int32_t ix = ix0 + kx * p->dilation_w;
                                if (ix >= 0 && ix < p->in_w) acc += xr[ix] * wr[kx];
                            }
                        }
                    }
                    *y++ = el_activate(act, bias ? acc + bias[o] : acc);
                }
            }
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
    el_conv2d_params one = *p;
    int32_t n, c;
    one.batch = 1;
    one.in_channels = 1;
    one.out_channels = 1;
    one.groups = 1;
    for (n = 0; n < p->batch; ++n) {
        for (c = 0; c < p->in_channels; ++c) {
            const int32_t plane = n * p->in_channels + c;
            el_conv2d_f32(&one, act, xy + plane * in_plane, w + c * taps, bias ? bias + c : NULL, scratch);
            memcpy(xy + plane * out_plane, scratch, (size_t)out_plane * sizeof(float));
        }
    }
}
