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
