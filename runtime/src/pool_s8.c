/* int8 pooling over NCHW planes: TFLite reference_integer_ops::MaxPool. Only in-bounds input positions are read. */
#include "s8.h"

void el_max_pool2d_s8(const el_pool2d_params *p, int32_t act_min, int32_t act_max, const int8_t *restrict x,
                      int8_t *restrict y)
{
    int32_t n, oy, ox, ky, kx;
    for (n = 0; n < p->planes; ++n) {
        const int8_t *xp = x + n * p->in_h * p->in_w;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            int32_t ky_lo, ky_hi;
            el_tap_range(iy0, p->kernel_h, p->dilation_h, p->in_h, &ky_lo, &ky_hi);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int32_t kx_lo, kx_hi, m = INT8_MIN;
                el_tap_range(ix0, p->kernel_w, p->dilation_w, p->in_w, &kx_lo, &kx_hi);
                for (ky = ky_lo; ky < ky_hi; ++ky) {
                    const int32_t row = (iy0 + ky * p->dilation_h) * p->in_w + ix0;
                    for (kx = kx_lo; kx < kx_hi; ++kx) {
                        const int32_t v = xp[row + kx * p->dilation_w];
                        if (v > m) m = v;
                    }
                }
                *y++ = (int8_t)el_clamp_i32(m, act_min, act_max);
            }
        }
    }
}

/* Integer division rounding half away from zero: TFLite's (acc > 0 ? acc + n / 2 : acc - n / 2) / n. */
static inline int32_t rounded_div(int32_t acc, int32_t n)
{
    return (acc > 0 ? acc + n / 2 : acc - n / 2) / n;
}

void el_avg_pool2d_s8(const el_pool2d_params *p, int32_t act_min, int32_t act_max, const int8_t *restrict x,
                      int8_t *restrict y)
{
    int32_t n, oy, ox, iy, ix;
    for (n = 0; n < p->planes; ++n) {
        const int8_t *xp = x + n * p->in_h * p->in_w;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            const int32_t iy_lo = y0 > 0 ? y0 : 0;
            const int32_t iy_hi = y0 + p->kernel_h < p->in_h ? y0 + p->kernel_h : p->in_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                const int32_t ix_lo = x0 > 0 ? x0 : 0;
                const int32_t ix_hi = x0 + p->kernel_w < p->in_w ? x0 + p->kernel_w : p->in_w;
                int32_t acc = 0;
                for (iy = iy_lo; iy < iy_hi; ++iy) {
                    for (ix = ix_lo; ix < ix_hi; ++ix) {
                        acc += xp[iy * p->in_w + ix];
                    }
                }
                *y++ = (int8_t)el_clamp_i32(rounded_div(acc, (iy_hi - iy_lo) * (ix_hi - ix_lo)), act_min, act_max);
            }
        }
    }
}
