/* int8 comparisons and arg-extremes: exact on int8 values of one quantization (select.h). */
#include "select.h"

COMPARE_ROW(int8_t)

void el_compare_s8(const el_broadcast_params *p, int32_t predicate, const int8_t *a, const int8_t *b, uint8_t *y)
{
    COMPARE_BODY(int8_t)
}

ARG_EXTREME(el_argmax_s8, int8_t, v > best)
ARG_EXTREME(el_argmin_s8, int8_t, v < best)
