/* int8 reductions over any set of axes (the float kernels' outer / inner walks): TFLM's int8 MEAN and SUM
 * (reference_ops::QuantizedMeanOrSum, 1/n folded into the multiplier the way TFLM folds it for the mean), and the
 * exact selections REDUCE_MAX / REDUCE_MIN. */
#include "s8.h"

/* The raw int8 sum of output o's inner walk, starting at x + off (|sum| < 2^23 * 128: no overflow). */
static int32_t inner_sum(const el_reduce_params *p, const int8_t *x, int32_t count)
{
    int32_t inner_idx[EL_MAX_DIMS] = {0};
    int32_t at = 0, sum = 0, i;
    for (i = 0; i < count; ++i) {
        sum += x[at];
        el_step(p->inner.ndim, p->inner.shape, inner_idx, p->inner.stride, &at, NULL, NULL);
    }
    return sum;
}

/* y[o] = clamp(MultiplyByQuantizedMultiplier(sum + n * input_offset, multiplier, shift) + output_offset). */
static void rescaled_sums(const el_reduce_params *p, const el_mean_q *q, int32_t multiplier, int32_t shift,
                          const int8_t *restrict x, int8_t *restrict y)
{
    const int32_t outputs = el_product(p->outer.ndim, p->outer.shape);
    const int32_t count = el_product(p->inner.ndim, p->inner.shape);
    const uint32_t recentre = (uint32_t)count * (uint32_t)q->input_offset;
    int32_t outer_idx[EL_MAX_DIMS] = {0};
    int32_t off = 0, o;
    for (o = 0; o < outputs; ++o) {
        const int32_t sum = inner_sum(p, x + off, count);
        y[o] = (int8_t)el_offset_clamp(el_mbqm((int32_t)((uint32_t)sum + recentre), multiplier, shift),
                                       q->output_offset, INT8_MIN, INT8_MAX);
        el_step(p->outer.ndim, p->outer.shape, outer_idx, p->outer.stride, &off, NULL, NULL);
    }
}

void el_mean_s8(const el_reduce_params *p, const el_mean_q *q, const int8_t *restrict x, int8_t *restrict y)
{
    const int32_t count = el_product(p->inner.ndim, p->inner.shape);
    /* k = min(floor(log2 n), 32, 31 + shift); M_n = (M << k) / n truncating; s_n = shift - k. */
    const int32_t log2_count = 31 - el_clz32((uint32_t)count);
    const int32_t k = log2_count < 31 + q->shift ? log2_count : 31 + q->shift;
    rescaled_sums(p, q, (int32_t)(((int64_t)q->multiplier << k) / count), q->shift - k, x, y);
}

void el_sum_s8(const el_reduce_params *p, const el_mean_q *q, const int8_t *restrict x, int8_t *restrict y)
{
    rescaled_sums(p, q, q->multiplier, q->shift, x, y);
}

/* The largest (is_max) or smallest int8 value of each inner walk: a selection, exact in any dtype (TFLM's
 * REDUCE_MAX / REDUCE_MIN on int8 with equal in/out quantization). */
static void select_extreme(const el_reduce_params *p, int is_max, const int8_t *restrict x, int8_t *restrict y)
{
    const int32_t outputs = el_product(p->outer.ndim, p->outer.shape);
    const int32_t count = el_product(p->inner.ndim, p->inner.shape);
    int32_t outer_idx[EL_MAX_DIMS] = {0};
    int32_t off = 0, o, i;
    for (o = 0; o < outputs; ++o) {
        int32_t inner_idx[EL_MAX_DIMS] = {0};
        int32_t at = 0;
        int8_t best = is_max ? INT8_MIN : INT8_MAX;
        for (i = 0; i < count; ++i) {
            const int8_t v = x[off + at];
            if (is_max ? v > best : v < best) best = v;
            el_step(p->inner.ndim, p->inner.shape, inner_idx, p->inner.stride, &at, NULL, NULL);
        }
        y[o] = best;
        el_step(p->outer.ndim, p->outer.shape, outer_idx, p->outer.stride, &off, NULL, NULL);
    }
}

void el_reduce_max_s8(const el_reduce_params *p, const int8_t *restrict x, int8_t *restrict y)
{
    select_extreme(p, 1, x, y);
}

void el_reduce_min_s8(const el_reduce_params *p, const int8_t *restrict x, int8_t *restrict y)
{
    select_extreme(p, 0, x, y);
}
