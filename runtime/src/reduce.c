/* Reductions over any set of axes: the generator splits the input's dims into an outer walk (kept dims, in
 * output order) and an inner walk (reduced dims), each with the input's strides. */
#include <math.h>

#include "internal.h"

typedef enum { RED_SUM, RED_MAX, RED_MIN } reduce_op;

/* Folds one output's inner walk, in row-major order of the reduced dims, in float32. */
static float fold(const el_walk *w, reduce_op op, const float *x)
{
    const int32_t count = el_product(w->ndim, w->shape);
    int32_t idx[EL_MAX_DIMS] = {0};
    int32_t off = 0, i;
    float acc = op == RED_MAX ? -INFINITY : op == RED_MIN ? INFINITY : 0.0f;
    for (i = 0; i < count; ++i) {
        acc = op == RED_MAX ? el_maxf(acc, x[off]) : op == RED_MIN ? el_minf(acc, x[off]) : acc + x[off];
        el_step(w->ndim, w->shape, idx, w->stride, &off, NULL, NULL);
    }
    return acc;
}

/* y[o] = fold(o) / divisor; dividing by 1 is exact, so sum and max pass 1. */
static void reduce(const el_reduce_params *p, reduce_op op, float divisor, const float *restrict x,
                   float *restrict y)
{
    const int32_t count = el_product(p->outer.ndim, p->outer.shape);
    int32_t idx[EL_MAX_DIMS] = {0};
    int32_t off = 0, o;
    for (o = 0; o < count; ++o) {
        y[o] = fold(&p->inner, op, x + off) / divisor;
        el_step(p->outer.ndim, p->outer.shape, idx, p->outer.stride, &off, NULL, NULL);
    }
}

void el_sum_f32(const el_reduce_params *p, const float *restrict x, float *restrict y)
{
    reduce(p, RED_SUM, 1.0f, x, y);
}

/* The sum divided by the number of reduced elements (a division, not a multiply by its reciprocal). */
void el_mean_f32(const el_reduce_params *p, const float *restrict x, float *restrict y)
{
    reduce(p, RED_SUM, (float)el_product(p->inner.ndim, p->inner.shape), x, y);
}

void el_reduce_max_f32(const el_reduce_params *p, const float *restrict x, float *restrict y)
{
    reduce(p, RED_MAX, 1.0f, x, y);
}

void el_reduce_min_f32(const el_reduce_params *p, const float *restrict x, float *restrict y)
{
    reduce(p, RED_MIN, 1.0f, x, y);
}
