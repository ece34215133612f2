/* Helpers shared by the kernel files; not part of the public API. */
#ifndef EL_INTERNAL_H
#define EL_INTERNAL_H

#include "edgelower.h"

/* max/min that return NaN when either side is NaN (numpy and PyTorch semantics; fmaxf would drop the NaN). */
static inline float el_maxf(float a, float b)
{
    return (a != a || a > b) ? a : b;
}

static inline float el_minf(float a, float b)
{
    return (a != a || a < b) ? a : b;
}

/* relu6(x + 3) / 6, NaN-propagating. x + 3 is exact on [-6, -1.5] (Sterbenz), where it could cancel. */
static inline float el_hardsigmoidf(float x)
{
    return el_minf(el_maxf(x + 3.0f, 0.0f), 6.0f) / 6.0f;
}

/* A fused activation applied to one result: the same expression as the standalone activation kernel, so fused
 * and unfused code give the same bits. */
static inline float el_activate(const el_activation_f32 *act, float v)
{
    if (!act) {
        return v;
    }
    switch (act->kind) {
    case EL_ACT_RELU:
        return v < 0.0f ? 0.0f : v;
    case EL_ACT_CLAMP:
        return el_minf(el_maxf(v, act->min), act->max);
    case EL_ACT_HARDSWISH:
        return v * el_hardsigmoidf(v);
    default:
        return v;
    }
}

/* The geometry of one plane of a depthwise convolution (one channel, one group), which the in-place kernels run
 * plane by plane through the out-of-place kernel. */
static inline el_conv2d_params el_single_plane(const el_conv2d_params *p)
{
    el_conv2d_params one = *p;
    one.batch = 1;
    one.in_channels = 1;
    one.out_channels = 1;
    one.groups = 1;
    return one;
}

static inline int32_t el_product(int32_t ndim, const int32_t *shape)
{
    int32_t n = 1;
    int32_t d;
    for (d = 0; d < ndim; ++d) {
        n *= shape[d];
    }
    return n;
}

/* Advances the row-major odometer `idx` over dims [0, ndim) of `shape` by one step, moving the element offsets
 * *oa and *ob by their operands' strides (stride_b may be NULL for one operand). Offsets are integers, never
 * out-of-range pointers, so stepping past the last row is well defined. */
static inline void el_step(int32_t ndim, const int32_t *shape, int32_t *idx, const int32_t *stride_a,
                           int32_t *oa, const int32_t *stride_b, int32_t *ob)
{
    int32_t d;
    for (d = ndim - 1; d >= 0; --d) {
        *oa += stride_a[d];
        if (stride_b) {
            *ob += stride_b[d];
        }
        if (++idx[d] < shape[d]) {
            return;
        }
        idx[d] = 0;
        *oa -= stride_a[d] * shape[d];
        if (stride_b) {
            *ob -= stride_b[d] * shape[d];
        }
    }
}

#endif /* EL_INTERNAL_H */
