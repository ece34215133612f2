/*
 * int8 fully connected and batched matmul: TFLite reference_integer_ops::FullyConnected / FullyConnectedPerChannel
 * and reference_ops::BatchMatMul (int8). acc = bias + sum over the contraction dim of (x + input_offset) *
 * (w + weight_offset) in uint32_t (modulo 2^32, the interpreter's wrapped int64 sum), stored as int32 or
 * requantized in the same loop, channel = the output's last index.
 */
#include "s8_dsp.h"

static void linear(const el_linear_params *p, const el_dot_q *q, const int8_t *restrict x,
                   const int8_t *restrict w, const int32_t *restrict bias, const el_sink *out)
{
#if EL_S8_DSP
    if (el_linear_dsp(p, q, x, w, bias, out)) {
        return;
    }
#endif
    const uint32_t x_off = (uint32_t)q->input_offset;
    const uint32_t w_off = (uint32_t)q->weight_offset;
    int32_t r, o, i;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *xr = x + r * p->in_features;
        for (o = 0; o < p->out_features; ++o) {
            const int8_t *wo = w + o * p->in_features;
            uint32_t acc = bias ? (uint32_t)bias[o] : 0u;
            for (i = 0; i < p->in_features; ++i) {
                acc += ((uint32_t)xr[i] + x_off) * ((uint32_t)wo[i] + w_off);
            }
            el_put(out, r * p->out_features + o, o, acc);
        }
    }
}

void el_linear_s8_s32(const el_linear_params *p, const el_dot_q *q, const int8_t *restrict x,
                      const int8_t *restrict w, const int32_t *restrict bias, int32_t *restrict y)
{
    const el_sink out = {NULL, y, NULL};
    linear(p, q, x, w, bias, &out);
}

void el_linear_s8(const el_linear_params *p, const el_dot_q *q, const el_requant *rq, const int8_t *restrict x,
                  const int8_t *restrict w, const int32_t *restrict bias, int8_t *restrict y)
{
    const el_sink out = {rq, NULL, y};
    linear(p, q, x, w, bias, &out);
}

/* One [m, k] @ [k, n] product into results [first, first + m * n) of `out`. */
static void matmul_one(int32_t m, int32_t k, int32_t n, const el_dot_q *q, const int8_t *restrict a,
                       const int8_t *restrict b, const el_sink *out, int32_t first)
{
    const uint32_t a_off = (uint32_t)q->input_offset;
    const uint32_t b_off = (uint32_t)q->weight_offset;
    int32_t i, j, t;
    for (i = 0; i < m; ++i) {
        for (j = 0; j < n; ++j) {
            uint32_t acc = 0u;
            for (t = 0; t < k; ++t) {
                acc += ((uint32_t)a[i * k + t] + a_off) * ((uint32_t)b[t * n + j] + b_off);
            }
            el_put(out, first + i * n + j, j, acc);
        }
    }
}

static void matmul(const el_matmul_params *p, const el_dot_q *q, const int8_t *restrict a,
                   const int8_t *restrict b, const el_sink *out)
{
    const el_broadcast_params *bt = &p->batch;
    const int32_t count = el_product(bt->ndim, bt->shape);
    int32_t idx[EL_MAX_DIMS] = {0};
    int32_t oa = 0, ob = 0, r;
    for (r = 0; r < count; ++r) {
        matmul_one(p->m, p->k, p->n, q, a + oa, b + ob, out, r * p->m * p->n);
        el_step(bt->ndim, bt->shape, idx, bt->stride_a, &oa, bt->stride_b, &ob);
    }
}

void el_matmul_s8_s32(const el_matmul_params *p, const el_dot_q *q, const int8_t *restrict a,
                      const int8_t *restrict b, int32_t *restrict y)
{
    const el_sink out = {NULL, y, NULL};
    matmul(p, q, a, b, &out);
}

void el_matmul_s8(const el_matmul_params *p, const el_dot_q *q, const el_requant *rq, const int8_t *restrict a,
                  const int8_t *restrict b, int8_t *restrict y)
{
    const el_sink out = {rq, NULL, y};
    matmul(p, q, a, b, &out);
}
