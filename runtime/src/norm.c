/* Softmax, log-softmax, layer and batch normalization. All may run in place (y == x): every pass reads an
 * element before, or in the same step as, it is written.
 *
 * Statistics accumulate in float32, sequentially along the normalized elements. Softmax subtracts the maximum
 * so expf never overflows; layer norm takes the variance in a second pass over (x - mean), which cannot go
 * negative as the one-pass E[x^2] - E[x]^2 can. Normalization multiplies by a per-row 1 / sqrtf(var + eps) (per
 * channel: weight / sqrtf(var + eps)), one rounding more than dividing, for one division per row or channel
 * instead of one per element. */
#include <math.h>

#include "internal.h"

void el_softmax_f32(const el_softmax_params *p, const float *x, float *y)
{
    int32_t o, i, k;
    for (o = 0; o < p->outer; ++o) {
        for (i = 0; i < p->inner; ++i) {
            const int32_t base = o * p->axis * p->inner + i;
            float m = -INFINITY, s = 0.0f;
            for (k = 0; k < p->axis; ++k) m = el_maxf(m, x[base + k * p->inner]);
            for (k = 0; k < p->axis; ++k) {
                const float e = expf(x[base + k * p->inner] - m);
                y[base + k * p->inner] = e;
                s += e;
            }
            for (k = 0; k < p->axis; ++k) y[base + k * p->inner] /= s;
        }
    }
}

void el_log_softmax_f32(const el_softmax_params *p, const float *x, float *y)
{
    int32_t o, i, k;
    for (o = 0; o < p->outer; ++o) {
        for (i = 0; i < p->inner; ++i) {
            const int32_t base = o * p->axis * p->inner + i;
            float m = -INFINITY, s = 0.0f, log_s;
            for (k = 0; k < p->axis; ++k) m = el_maxf(m, x[base + k * p->inner]);
            for (k = 0; k < p->axis; ++k) s += expf(x[base + k * p->inner] - m);
            log_s = logf(s);
            for (k = 0; k < p->axis; ++k) y[base + k * p->inner] = (x[base + k * p->inner] - m) - log_s;
        }
    }
}

void el_layer_norm_f32(const el_layer_norm_params *p, float eps, const float *x, const float *weight,
                       const float *bias, float *y)
{
    int32_t r, i;
    for (r = 0; r < p->rows; ++r) {
        const float *xr = x + r * p->cols;
        float *yr = y + r * p->cols;
        float sum = 0.0f, sq = 0.0f, mean, inv;
        for (i = 0; i < p->cols; ++i) sum += xr[i];
        mean = sum / (float)p->cols;
        for (i = 0; i < p->cols; ++i) sq += (xr[i] - mean) * (xr[i] - mean);
        inv = 1.0f / sqrtf(sq / (float)p->cols + eps);
        for (i = 0; i < p->cols; ++i) {
            float v = (xr[i] - mean) * inv;
            if (weight) v *= weight[i];
            if (bias) v += bias[i];
            yr[i] = v;
        }
    }
}

void el_batch_norm_f32(const el_batch_norm_params *p, float eps, const float *x, const float *mean,
                       const float *var, const float *weight, const float *bias, float *y)
{
    int32_t n, c, i;
    for (n = 0; n < p->batch; ++n) {
        for (c = 0; c < p->channels; ++c) {
            const int32_t base = (n * p->channels + c) * p->inner;
            const float scale = weight[c] / sqrtf(var[c] + eps);
            for (i = 0; i < p->inner; ++i) y[base + i] = (x[base + i] - mean[c]) * scale + bias[c];
        }
    }
}
