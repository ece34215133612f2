/* float32 resampling over NCHW planes: PyTorch's adaptive pooling windows and its bilinear interpolation. */
#include <math.h>

#include "internal.h"

/* [start, end) of adaptive window i: floor(i * in / out), ceil((i + 1) * in / out). */
static void window(int32_t i, int32_t in, int32_t out, int32_t *start, int32_t *end)
{
    *start = (int32_t)(((int64_t)i * in) / out);
    *end = (int32_t)(((int64_t)(i + 1) * in + out - 1) / out);
}

void el_adaptive_avg_pool2d_f32(const el_resample_params *p, const float *restrict x, float *restrict y)
{
    int32_t n, oy, ox, iy, ix, y0, y1, x0, x1;
    for (n = 0; n < p->planes; ++n) {
        const float *xp = x + n * p->in_h * p->in_w;
        for (oy = 0; oy < p->out_h; ++oy) {
            window(oy, p->in_h, p->out_h, &y0, &y1);
            for (ox = 0; ox < p->out_w; ++ox) {
                float acc = 0.0f;
                window(ox, p->in_w, p->out_w, &x0, &x1);
                for (iy = y0; iy < y1; ++iy) {
                    for (ix = x0; ix < x1; ++ix) acc += xp[iy * p->in_w + ix];
                }
                *y++ = acc / (float)((y1 - y0) * (x1 - x0));
            }
        }
    }
}

void el_adaptive_max_pool2d_f32(const el_resample_params *p, const float *restrict x, float *restrict y)
{
    int32_t n, oy, ox, iy, ix, y0, y1, x0, x1;
    for (n = 0; n < p->planes; ++n) {
        const float *xp = x + n * p->in_h * p->in_w;
        for (oy = 0; oy < p->out_h; ++oy) {
            window(oy, p->in_h, p->out_h, &y0, &y1);
            for (ox = 0; ox < p->out_w; ++ox) {
                float m = -INFINITY;
                window(ox, p->in_w, p->out_w, &x0, &x1);
                for (iy = y0; iy < y1; ++iy) {
                    for (ix = x0; ix < x1; ++ix) m = el_maxf(m, xp[iy * p->in_w + ix]);
                }
                *y++ = m;
            }
        }
    }
}

/* First index, second index and the second's weight of output position i (torch's upsample_bilinear2d). */
static void source(int32_t i, int32_t in, int32_t align_corners, float step, int32_t *first, int32_t *second,
                   float *weight)
{
    float s;
    if (align_corners) {
        s = (float)i * step;
    } else {
        s = ((float)i + 0.5f) * step - 0.5f;
        if (s < 0.0f) s = 0.0f;
    }
    *first = (int32_t)s;
    if (*first > in - 1) *first = in - 1;
    *second = *first < in - 1 ? *first + 1 : *first;
    *weight = s - (float)*first;
}

void el_resize_bilinear_f32(const el_resample_params *p, int32_t align_corners, float step_h, float step_w,
                            const float *restrict x, float *restrict y)
{
    int32_t n, oy, ox, r0, r1, c0, c1;
    float wr, wc;
    for (n = 0; n < p->planes; ++n) {
        const float *xp = x + n * p->in_h * p->in_w;
        for (oy = 0; oy < p->out_h; ++oy) {
            source(oy, p->in_h, align_corners, step_h, &r0, &r1, &wr);
            for (ox = 0; ox < p->out_w; ++ox) {
                float top, bottom;
                source(ox, p->in_w, align_corners, step_w, &c0, &c1, &wc);
                top = xp[r0 * p->in_w + c0] * (1.0f - wc) + xp[r0 * p->in_w + c1] * wc;
                bottom = xp[r1 * p->in_w + c0] * (1.0f - wc) + xp[r1 * p->in_w + c1] * wc;
                *y++ = top * (1.0f - wr) + bottom * wr;
            }
        }
    }
}
