/* The comparison and arg-extreme kernels as macros over the element type, instantiated for float32 (select.c) and
 * int8 (select_s8.c, which stays free of float code). Not part of the public API. */
#ifndef EL_SELECT_H
#define EL_SELECT_H

#include <string.h>

#include "internal.h"

#define COMPARE_ROW(T)                                                                                         \
    static void compare_row_##T(int32_t predicate, int32_t n, const T *a, int32_t sa, const T *b, int32_t sb,  \
                                uint8_t *y)                                                                    \
    {                                                                                                          \
        int32_t i;                                                                                             \
        for (i = 0; i < n; ++i) {                                                                              \
            const T u = a[i * sa], v = b[i * sb];                                                              \
            int r;                                                                                             \
            switch (predicate) {                                                                               \
            case EL_LT: r = u < v; break;                                                                      \
            case EL_LE: r = u <= v; break;                                                                     \
            case EL_GT: r = u > v; break;                                                                      \
            case EL_GE: r = u >= v; break;                                                                     \
            case EL_EQ: r = u == v; break;                                                                     \
            default: r = u != v; break;                                                                        \
            }                                                                                                  \
            y[i] = (uint8_t)r;                                                                                 \
        }                                                                                                      \
    }

/* The rows of a broadcast output (innermost dim), each handed to `row` with its operands' offsets. */
#define COMPARE_BODY(T)                                                                                        \
    const int32_t last = p->ndim - 1;                                                                          \
    const int32_t n = p->shape[last];                                                                          \
    const int32_t rows = el_product(last, p->shape);                                                           \
    int32_t idx[EL_MAX_DIMS] = {0};                                                                            \
    int32_t oa = 0, ob = 0, r;                                                                                 \
    for (r = 0; r < rows; ++r) {                                                                               \
        compare_row_##T(predicate, n, a + oa, p->stride_a[last], b + ob, p->stride_b[last], y + r * n);        \
        el_step(last, p->shape, idx, p->stride_a, &oa, p->stride_b, &ob);                                      \
    }

static inline void put_index(const el_arg_params *p, void *y, int32_t at, int32_t index)
{
    if (p->index_size == 8) {
        const int64_t v = index;
        memcpy((unsigned char *)y + at * 8, &v, 8);
    } else {
        memcpy((unsigned char *)y + at * 4, &index, 4);
    }
}

/* `better(candidate, best)`: the candidate replaces the best so far. A NaN best is never replaced, so the first
 * NaN wins, as in torch and numpy. */
#define ARG_EXTREME(name, T, better)                                                                           \
    void name(const el_arg_params *p, const T *restrict x, void *restrict y)                                   \
    {                                                                                                          \
        int32_t o, in, i;                                                                                      \
        for (o = 0; o < p->outer; ++o) {                                                                       \
            for (in = 0; in < p->inner; ++in) {                                                                \
                const T *row = x + o * p->axis * p->inner + in;                                                \
                T best = row[0];                                                                               \
                int32_t at = 0;                                                                                \
                for (i = 1; i < p->axis; ++i) {                                                                \
                    const T v = row[i * p->inner];                                                             \
                    if (better) {                                                                              \
                        best = v;                                                                              \
                        at = i;                                                                                \
                    }                                                                                          \
                }                                                                                              \
                put_index(p, y, o * p->inner + in, at);                                                        \
            }                                                                                                  \
        }                                                                                                      \
    }

#endif /* EL_SELECT_H */
