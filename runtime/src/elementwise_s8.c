/*
 * int8 elementwise arithmetic: REQUANTIZE (TFLite reference_ops::Requantize, per tensor or per channel), ADD and SUB
 * (reference_integer_ops::AddFunc, and the same with the scaled second input subtracted, as TFLite's SubFunc), MUL
 * (reference_integer_ops::MulElementwise). Binary kernels broadcast through el_broadcast_params like the float ones
 * and may run in place (y equal to an input of the output's shape): each element is read before it is written.
 */
#include "s8.h"

void el_requantize_s32_s8(const el_channel_params *p, const el_requant *rq, const int32_t *restrict x,
                          int8_t *restrict y)
{
    int32_t o, c, i, k = 0;
    for (o = 0; o < p->outer; ++o) {
        for (c = 0; c < p->channels; ++c) {
            for (i = 0; i < p->inner; ++i, ++k) {
                y[k] = el_requant_apply(rq, c, x[k]);
            }
        }
    }
}

void el_requantize_s8(const el_channel_params *p, const el_requant *rq, const int8_t *x, int8_t *y)
{
    int32_t o, c, i, k = 0;
    for (o = 0; o < p->outer; ++o) {
        for (c = 0; c < p->channels; ++c) {
            for (i = 0; i < p->inner; ++i, ++k) {
                y[k] = el_requant_apply(rq, c, x[k]);
            }
        }
    }
}

/* TFLite AddFunc's two halves: an input offset, shifted left by left_shift (modulo 2^32, as TFLite's int32 multiply
 * by 1 << left_shift on values that fit), rescaled by its multiplier. */
static inline int32_t scaled_input(int32_t v, int32_t offset, int32_t left_shift, int32_t multiplier, int32_t shift)
{
    return el_mbqm(el_wrap_shl(el_wrap_add(v, offset), left_shift), multiplier, shift);
}

static inline int8_t add_one(const el_add_q *q, int32_t a, int32_t b, int sub)
{
    const int32_t sa = scaled_input(a, q->input1_offset, q->left_shift, q->input1_multiplier, q->input1_shift);
    const int32_t sb = scaled_input(b, q->input2_offset, q->left_shift, q->input2_multiplier, q->input2_shift);
    const int32_t raw = sub ? el_wrap_sub(sa, sb) : el_wrap_add(sa, sb);
    return (int8_t)el_offset_clamp(el_mbqm(raw, q->output_multiplier, q->output_shift), q->output_offset, q->act_min,
                                   q->act_max);
}

static inline int8_t mul_one(const el_mul_q *q, int32_t a, int32_t b)
{
    const uint32_t product = ((uint32_t)a + (uint32_t)q->input1_offset) * ((uint32_t)b + (uint32_t)q->input2_offset);
    return (int8_t)el_offset_clamp(el_mbqm((int32_t)product, q->output_multiplier, q->output_shift),
                                   q->output_offset, q->act_min, q->act_max);
}

typedef enum { OP_ADD, OP_SUB, OP_MUL } binary_s8;

/* One output row of n elements; operands advance by sa, sb (0 on a broadcast dim). */
static void binary_row(binary_s8 op, const void *q, int32_t n, const int8_t *a, int32_t sa, const int8_t *b,
                       int32_t sb, int8_t *y)
{
    int32_t i;
    switch (op) {
    case OP_ADD:
        for (i = 0; i < n; ++i) y[i] = add_one((const el_add_q *)q, a[i * sa], b[i * sb], 0);
        break;
    case OP_SUB:
        for (i = 0; i < n; ++i) y[i] = add_one((const el_add_q *)q, a[i * sa], b[i * sb], 1);
        break;
    case OP_MUL:
        for (i = 0; i < n; ++i) y[i] = mul_one((const el_mul_q *)q, a[i * sa], b[i * sb]);
        break;
    }
}

static void broadcast(const el_broadcast_params *p, binary_s8 op, const void *q, const int8_t *a, const int8_t *b,
                      int8_t *y)
{
    const int32_t last = p->ndim - 1;
    const int32_t n = p->shape[last];
    const int32_t rows = el_product(last, p->shape);
    int32_t idx[EL_MAX_DIMS] = {0};
    int32_t oa = 0, ob = 0, r;
    for (r = 0; r < rows; ++r) {
        binary_row(op, q, n, a + oa, p->stride_a[last], b + ob, p->stride_b[last], y + r * n);
        el_step(last, p->shape, idx, p->stride_a, &oa, p->stride_b, &ob);
    }
}

void el_add_s8(const el_broadcast_params *p, const el_add_q *q, const int8_t *a, const int8_t *b, int8_t *y)
{
    broadcast(p, OP_ADD, q, a, b, y);
}

void el_sub_s8(const el_broadcast_params *p, const el_add_q *q, const int8_t *a, const int8_t *b, int8_t *y)
{
    broadcast(p, OP_SUB, q, a, b, y);
}

void el_mul_s8(const el_broadcast_params *p, const el_mul_q *q, const int8_t *a, const int8_t *b, int8_t *y)
{
    broadcast(p, OP_MUL, q, a, b, y);
}

/* MAXIMUM and MINIMUM of int8 values with one quantization in and out: exact comparisons (TFLite's int8
 * MaximumMinimum), broadcast like the others. */
static void compare_row(int maximum, int32_t n, const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *y)
{
    int32_t i;
    if (maximum) {
        for (i = 0; i < n; ++i) y[i] = a[i * sa] > b[i * sb] ? a[i * sa] : b[i * sb];
    } else {
        for (i = 0; i < n; ++i) y[i] = a[i * sa] < b[i * sb] ? a[i * sa] : b[i * sb];
    }
}

static void compare(const el_broadcast_params *p, int maximum, const int8_t *a, const int8_t *b, int8_t *y)
{
    const int32_t last = p->ndim - 1;
    const int32_t n = p->shape[last];
    const int32_t rows = el_product(last, p->shape);
    int32_t idx[EL_MAX_DIMS] = {0};
    int32_t oa = 0, ob = 0, r;
    for (r = 0; r < rows; ++r) {
        compare_row(maximum, n, a + oa, p->stride_a[last], b + ob, p->stride_b[last], y + r * n);
        el_step(last, p->shape, idx, p->stride_a, &oa, p->stride_b, &ob);
    }
}

void el_maximum_s8(const el_broadcast_params *p, const int8_t *a, const int8_t *b, int8_t *y)
{
    compare(p, 1, a, b, y);
}

void el_minimum_s8(const el_broadcast_params *p, const int8_t *a, const int8_t *b, int8_t *y)
{
    compare(p, 0, a, b, y);
}
