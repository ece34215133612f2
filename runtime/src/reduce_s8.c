/* int8 MEAN over any set of axes (the float kernels' outer / inner walks), TFLM's int8 MEAN:
 * reference_ops::QuantizedMeanOrSum (mean branch) with 1/n folded into the multiplier the way TFLM folds it. */
#include "s8.h"

void el_mean_s8(const el_reduce_params *p, const el_mean_q *q, const int8_t *restrict x, int8_t *restrict y)
{
    const int32_t outputs = el_product(p->outer.ndim, p->outer.shape);
    const int32_t count = el_product(p->inner.ndim, p->inner.shape);
    /* k = min(floor(log2 n), 32, 31 + shift); M_n = (M << k) / n truncating; s_n = shift - k. */
    const int32_t log2_count = 31 - el_clz32((uint32_t)count);
    const int32_t k = log2_count < 31 + q->shift ? log2_count : 31 + q->shift;
    const int32_t multiplier = (int32_t)(((int64_t)q->multiplier << k) / count);
    const int32_t shift = q->shift - k;
    const uint32_t recentre = (uint32_t)count * (uint32_t)q->input_offset;
    int32_t outer_idx[EL_MAX_DIMS] = {0};
    int32_t off = 0, o, i;
    for (o = 0; o < outputs; ++o) {
        int32_t inner_idx[EL_MAX_DIMS] = {0};
        int32_t at = 0, sum = 0; /* |sum| < 2^23 * 128: no overflow */
        for (i = 0; i < count; ++i) {
            sum += x[off + at];
            el_step(p->inner.ndim, p->inner.shape, inner_idx, p->inner.stride, &at, NULL, NULL);
        }
        y[o] = (int8_t)el_offset_clamp(el_mbqm((int32_t)((uint32_t)sum + recentre), multiplier, shift),
                                       q->output_offset, INT8_MIN, INT8_MAX);
        el_step(p->outer.ndim, p->outer.shape, outer_idx, p->outer.stride, &off, NULL, NULL);
    }
}

/* int8 max over the reduced axes: a selection, exact in any dtype (TFLM's REDUCE_MAX on int8 with equal in/out
 * quantization). */
void el_reduce_max_s8(const el_reduce_params *p, const int8_t *restrict x, int8_t *restrict y)
{
    const int32_t outputs = el_product(p->outer.ndim, p->outer.shape);
    const int32_t count = el_product(p->inner.ndim, p->inner.shape);
    int32_t outer_idx[EL_MAX_DIMS] = {0};
    int32_t off = 0, o, i;
    for (o = 0; o < outputs; ++o) {
        int32_t inner_idx[EL_MAX_DIMS] = {0};
        int32_t at = 0;
        int8_t best = INT8_MIN;
        for (i = 0; i < count; ++i) {
            if (x[off + at] > best) best = x[off + at];
            el_step(p->inner.ndim, p->inner.shape, inner_idx, p->inner.stride, &at, NULL, NULL);
        }
        y[o] = best;
        el_step(p->outer.ndim, p->outer.shape, outer_idx, p->outer.stride, &off, NULL, NULL);
    }
}
