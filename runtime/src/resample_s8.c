/* int8 resampling over NCHW planes: adaptive pooling (TFLite AveragePool's rounding) and TFLite's integer bilinear
 * resize (reference_ops::ResizeBilinearInteger). */
#include "s8.h"

static void window(int32_t i, int32_t in, int32_t out, int32_t *start, int32_t *end)
{
    *start = (int32_t)(((int64_t)i * in) / out);
    *end = (int32_t)(((int64_t)(i + 1) * in + out - 1) / out);
}

void el_adaptive_max_pool2d_s8(const el_resample_params *p, const int8_t *restrict x, int8_t *restrict y)
{
    int32_t n, oy, ox, iy, ix, y0, y1, x0, x1;
    for (n = 0; n < p->planes; ++n) {
        const int8_t *xp = x + n * p->in_h * p->in_w;
        for (oy = 0; oy < p->out_h; ++oy) {
            window(oy, p->in_h, p->out_h, &y0, &y1);
            for (ox = 0; ox < p->out_w; ++ox) {
                int8_t m = INT8_MIN;
                window(ox, p->in_w, p->out_w, &x0, &x1);
                for (iy = y0; iy < y1; ++iy) {
                    for (ix = x0; ix < x1; ++ix) {
                        if (xp[iy * p->in_w + ix] > m) m = xp[iy * p->in_w + ix];
                    }
                }
                *y++ = m;
            }
        }
    }
}

void el_adaptive_avg_pool2d_s8(const el_resample_params *p, int32_t act_min, int32_t act_max,
                               const int8_t *restrict x, int8_t *restrict y)
{
    int32_t n, oy, ox, iy, ix, y0, y1, x0, x1;
    for (n = 0; n < p->planes; ++n) {
        const int8_t *xp = x + n * p->in_h * p->in_w;
        for (oy = 0; oy < p->out_h; ++oy) {
            window(oy, p->in_h, p->out_h, &y0, &y1);
            for (ox = 0; ox < p->out_w; ++ox) {
                int32_t acc = 0, count;
                window(ox, p->in_w, p->out_w, &x0, &x1);
                for (iy = y0; iy < y1; ++iy) {
                    for (ix = x0; ix < x1; ++ix) acc += xp[iy * p->in_w + ix];
                }
                count = (y1 - y0) * (x1 - x0);
                acc = (acc > 0 ? acc + count / 2 : acc - count / 2) / count;
                *y++ = (int8_t)el_clamp_i32(acc, act_min, act_max);
            }
        }
    }
}

/* ComputeInterpolationValuesInteger: the Q10 source of output position i and its two input indices. */
static void taps(int32_t i, int32_t scale_10, int32_t half_pixel, int32_t size, int32_t *s, int32_t *lo,
                 int32_t *hi)
{
    *s = half_pixel ? i * scale_10 + scale_10 / 2 - (1 << 9) : i * scale_10;
    *lo = *s / (1 << 10) > 0 ? *s / (1 << 10) : 0;
    *hi = (*s + (1 << 10) - 1) / (1 << 10) < size - 1 ? (*s + (1 << 10) - 1) / (1 << 10) : size - 1;
}

void el_resize_bilinear_s8(const el_resample_params *p, const el_resize_bilinear_q *q, const int8_t *restrict x,
                           int8_t *restrict y)
{
    int32_t n, oy, ox, sy, y0, y1, sx, x0, x1;
    for (n = 0; n < p->planes; ++n) {
        const int8_t *xp = x + n * p->in_h * p->in_w;
        for (oy = 0; oy < p->out_h; ++oy) {
            int64_t wy1, wy0;
            taps(oy, q->height_scale_10, q->half_pixel_centers, p->in_h, &sy, &y0, &y1);
            wy1 = sy - (1 << 10) * y0;
            wy0 = (1 << 10) - wy1;
            for (ox = 0; ox < p->out_w; ++ox) {
                int64_t wx1, wx0, sum;
                taps(ox, q->width_scale_10, q->half_pixel_centers, p->in_w, &sx, &x0, &x1);
                wx1 = sx - (1 << 10) * x0;
                wx0 = (1 << 10) - wx1;
                sum = xp[y0 * p->in_w + x0] * wy0 * wx0 + xp[y1 * p->in_w + x0] * wy1 * wx0 +
                      xp[y0 * p->in_w + x1] * wy0 * wx1 + xp[y1 * p->in_w + x1] * wy1 * wx1;
                *y++ = (int8_t)((sum + (sum > 0 ? (1 << 19) : -(1 << 19))) / (1 << 20));
            }
        }
    }
}
