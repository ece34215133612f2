/* QUANTIZE and DEQUANTIZE: the float32 <-> int8 edges of an integer region, in graphs lowered with int_only=False.
 * They compute in float, so they are float kernels: an integer-only model calls neither. */
#include <math.h>

#include "internal.h"

/* TFLite AffineQuantize, as the interpreter's QUANTIZE: q = clamp(round(x / scale) + zero_point, -128, 127), a
 * float32 division, rounding half away from zero exactly (a - floorf(a) is exact, where floorf(a + 0.5f) would
 * round 0.49999997f up). TFLite leaves non-finite inputs undefined; here, as in the interpreter, x / scale is
 * clamped to [-512, 512] in float before it becomes an integer (beyond that every zero point in [-128, 127]
 * saturates), so huge values and infinities saturate to the end of their sign, and NaN gives the zero point (the
 * code of real 0): docs/quantization.md. */
void el_quantize_f32_s8(const el_unary_params *p, float scale, int32_t zero_point, const float *x, int8_t *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) {
        const float s = x[i] / scale;
        int32_t v = zero_point;
        if (s == s) { /* not NaN */
            const float a = fabsf(s) > 512.0f ? 512.0f : fabsf(s);
            const int32_t r = (int32_t)(a - floorf(a) >= 0.5f ? floorf(a) + 1.0f : floorf(a));
            v += s < 0.0f ? -r : r;
        }
        y[i] = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
    }
}

/* x = (q - zero_point) * scale in float32: one exact integer conversion and one rounded product. */
void el_dequantize_s8_f32(const el_unary_params *p, float scale, int32_t zero_point, const int8_t *x, float *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = (float)(x[i] - zero_point) * scale;
}
