/* 2-d max and average pooling over NCHW planes. Only in-bounds input positions are read. */
#include <math.h>

#include "internal.h"

static int32_t min_i32(int32_t a, int32_t b)
{
    return a < b ? a : b;
}

static int32_t max_i32(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

void el_max_pool2d_f32(const el_pool2d_params *p, const float *restrict x, float *restrict y)
{
    int32_t n, oy, ox, ky, kx;
    for (n = 0; n < p->planes; ++n) {
        const float *xp = x + n * p->in_h * p->in_w;
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                float m = -INFINITY;
                for (ky = 0; ky < p->kernel_h; ++ky) {
                    const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dilation_h;
                    if (iy < 0 || iy >= p->in_h) continue;
                    for (kx = 0; kx < p->kernel_w; ++kx) {
                        const int32_t ix = ox * p->stride_w - p->pad_left + kx * p->dilation_w;
                        if (ix >= 0 && ix < p->in_w) m = el_maxf(m, xp[iy * p->in_w + ix]);
                    }
                }
                *y++ = m;
            }
        }
    }
}

/* The PyTorch divisor along one dim for a window starting at `start`: its extent clipped to the padded input
 * [-pad_lo, size + pad_hi) when padding counts, else to the input [0, size). */
static int32_t window_extent(int32_t start, int32_t kernel, int32_t size, int32_t pad_hi, int32_t include_pad)
{
    const int32_t end = min_i32(start + kernel, size + pad_hi);
    return include_pad ? end - start : min_i32(end, size) - max_i32(start, 0);
}

void el_avg_pool2d_f32(const el_pool2d_params *p, const float *restrict x, float *restrict y)
{
    int32_t n, oy, ox, iy, ix;
    for (n = 0; n < p->planes; ++n) {
        const float *xp = x + n * p->in_h * p->in_w;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            const int32_t rows = window_extent(y0, p->kernel_h, p->in_h, p->pad_bottom, p->count_include_pad);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                const int32_t cols = window_extent(x0, p->kernel_w, p->in_w, p->pad_right, p->count_include_pad);
                const int32_t divisor = p->divisor != 0 ? p->divisor : rows * cols;
                float acc = 0.0f;
                for (iy = max_i32(y0, 0); iy < min_i32(y0 + p->kernel_h, p->in_h); ++iy) {
                    for (ix = max_i32(x0, 0); ix < min_i32(x0 + p->kernel_w, p->in_w); ++ix) {
                        acc += xp[iy * p->in_w + ix];
                    }
                }
                *y++ = acc / (float)divisor;
            }
        }
    }
}
