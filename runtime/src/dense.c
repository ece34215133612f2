/* Linear and batched matmul. Dot products accumulate in float32 along the contraction dim, in order. */
#include "internal.h"

void el_linear_f32(const el_linear_params *p, const el_activation_f32 *act, const float *restrict x,
                   const float *restrict w, const float *restrict bias, float *restrict y)
{
    int32_t r, o, i;
    for (r = 0; r < p->rows; ++r) {
        const float *xr = x + r * p->in_features;
        for (o = 0; o < p->out_features; ++o) {
            const float *wo = w + o * p->in_features;
            float acc = 0.0f;
            for (i = 0; i < p->in_features; ++i) acc += xr[i] * wo[i];
            *y++ = el_activate(act, bias ? acc + bias[o] : acc);
        }
    }
}

static void matmul_one(int32_t m, int32_t k, int32_t n, const float *restrict a, const float *restrict b,
                       float *restrict y)
{
    int32_t i, j, t;
    for (i = 0; i < m; ++i) {
        for (j = 0; j < n; ++j) {
            float acc = 0.0f;
            for (t = 0; t < k; ++t) acc += a[i * k + t] * b[t * n + j];
            y[i * n + j] = acc;
        }
    }
}

void el_matmul_f32(const el_matmul_params *p, const float *restrict a, const float *restrict b,
                   float *restrict y)
{
    const el_broadcast_params *bt = &p->batch;
    const int32_t count = el_product(bt->ndim, bt->shape);
    int32_t idx[EL_MAX_DIMS] = {0};
    int32_t oa = 0, ob = 0, r;
    for (r = 0; r < count; ++r) {
        matmul_one(p->m, p->k, p->n, a + oa, b + ob, y + r * p->m * p->n);
        el_step(bt->ndim, bt->shape, idx, bt->stride_a, &oa, bt->stride_b, &ob);
    }
}
