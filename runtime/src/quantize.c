/* QUANTIZE and DEQUANTIZE: the float32 <-> int8 edges of an integer region, in graphs lowered with int_only=False.
 * They compute in float, so they are float kernels: an integer-only model calls neither. */
#include <math.h>

#include "internal.h"

/* TFLite AffineQuantize, as the interpreter's QUANTIZE: q = clamp(round(x / scale) + zero_point, -128, 127), a
 * float32 division, rounding half away from zero exactly (roundf: a - floorf(a) is exact, where floorf(a + 0.5f)
 * would round 0.49999997f up). Where the interpreter's float -> int64 cast is undefined (NaN, infinities,
 * |x / scale| >= 2^63) it gives INT64_MIN on x86-64, and so -128; so does this kernel. */
void el_quantize_f32_s8(const el_unary_params *p, float scale, int32_t zero_point, const float *x, int8_t *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) {
        const float s = x[i] / scale;
        const float a = fabsf(s);
        const float r = a - floorf(a) >= 0.5f ? floorf(a) + 1.0f : floorf(a);
        int32_t v;
        if (!(r < 9223372036854775808.0f)) {
            y[i] = INT8_MIN;
            continue;
        }
        v = r > 512.0f ? 512 : (int32_t)r; /* beyond the int8 range plus any zero point, the clamp decides */
        v = s < 0.0f ? -v : v;
        y[i] = (int8_t)(v + zero_point < -128 ? -128 : (v + zero_point > 127 ? 127 : v + zero_point));
    }
}

/* x = (q - zero_point) * scale in float32: one exact integer conversion and one rounded product. */
void el_dequantize_s8_f32(const el_unary_params *p, float scale, int32_t zero_point, const int8_t *x, float *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = (float)(x[i] - zero_point) * scale;
}
