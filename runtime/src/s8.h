/* Helpers shared by the int8 kernel files; not part of the public API. No float (internal.h's float helpers are
 * static inline: an int8 kernel file that does not call them contains none of their code). */
#ifndef EL_S8_H
#define EL_S8_H

#include "fixedpoint.h"
#include "internal.h"

/* Where an accumulating kernel's results go: requantized to int8 through `rq` in the loop that made them (the fused
 * form), or stored as int32 accumulators for a REQUANTIZE node to rescale (rq NULL). */
typedef struct {
    const el_requant *rq;
    int32_t *acc;
    int8_t *y;
} el_sink;

/* Result i, of channel c, from the modulo-2^32 accumulator `acc`. */
static inline void el_put(const el_sink *s, int32_t i, int32_t c, uint32_t acc)
{
    if (s->rq) {
        s->y[i] = el_requant_apply(s->rq, c, (int32_t)acc);
    } else {
        s->acc[i] = (int32_t)acc;
    }
}

/* The taps k in [0, kernel) whose input position start + k * dilation lies in [0, size): [*lo, *hi), empty when
 * *lo == *hi. */
static inline void el_tap_range(int32_t start, int32_t kernel, int32_t dilation, int32_t size, int32_t *lo,
                                int32_t *hi)
{
    const int32_t first = start >= 0 ? 0 : (dilation - 1 - start) / dilation;
    int32_t end = size - start <= 0 ? 0 : (size - start + dilation - 1) / dilation;
    if (end > kernel) {
        end = kernel;
    }
    *lo = first < end ? first : end;
    *hi = end;
}

#endif /* EL_S8_H */
