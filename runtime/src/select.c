/* float32 comparisons into bool bytes and the index of the first extreme element along an axis; select_s8.c
 * instantiates the same code for int8 (select.h). */
#include "select.h"

COMPARE_ROW(float)

void el_compare_f32(const el_broadcast_params *p, int32_t predicate, const float *a, const float *b, uint8_t *y)
{
    COMPARE_BODY(float)
}

ARG_EXTREME(el_argmax_f32, float, best == best && (v > best || v != v))
ARG_EXTREME(el_argmin_f32, float, best == best && (v < best || v != v))
