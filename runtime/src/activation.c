/* Unary elementwise kernels. All may run in place (y == x).
 *
 * Exactly rounded: relu, clamp, neg, abs, sqrt. The rest are within a few float32 ulps of the exact value,
 * written to avoid cancellation: sigmoid never overflows expf and keeps relative precision for very negative x;
 * gelu uses erfcf (0.5 * x * erfc(-x / sqrt 2)) instead of 1 + erff, and its tanh form is x * sigmoid(2u),
 * which equals 0.5 * x * (1 + tanh(u)) without the subtraction. */
#include <math.h>

#include "internal.h"

#define EL_SQRT1_2 0.70710678118654752440f
#define EL_SQRT_2_PI 0.79788456080286535588f /* sqrt(2 / pi) */

static float sigmoid(float x)
{
    const float e = expf(-fabsf(x));
    return x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

void el_relu_f32(const el_unary_params *p, const float *x, float *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

void el_clamp_f32(const el_unary_params *p, float lo, float hi, const float *x, float *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = el_minf(el_maxf(x[i], lo), hi);
}

void el_hardswish_f32(const el_unary_params *p, const float *x, float *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = x[i] * el_hardsigmoidf(x[i]);
}

void el_hardsigmoid_f32(const el_unary_params *p, const float *x, float *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = el_hardsigmoidf(x[i]);
}

void el_sigmoid_f32(const el_unary_params *p, const float *x, float *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = sigmoid(x[i]);
}

void el_tanh_f32(const el_unary_params *p, const float *x, float *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = tanhf(x[i]);
}

void el_gelu_f32(const el_unary_params *p, const float *x, float *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = 0.5f * x[i] * erfcf(-x[i] * EL_SQRT1_2);
}

void el_gelu_tanh_f32(const el_unary_params *p, const float *x, float *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) {
        const float v = x[i];
        y[i] = v * sigmoid(2.0f * EL_SQRT_2_PI * (v + 0.044715f * v * v * v));
    }
}

void el_silu_f32(const el_unary_params *p, const float *x, float *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = x[i] * sigmoid(x[i]);
}

void el_exp_f32(const el_unary_params *p, const float *x, float *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = expf(x[i]);
}

void el_log_f32(const el_unary_params *p, const float *x, float *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = logf(x[i]);
}

void el_sqrt_f32(const el_unary_params *p, const float *x, float *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = sqrtf(x[i]);
}

void el_rsqrt_f32(const el_unary_params *p, const float *x, float *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = 1.0f / sqrtf(x[i]);
}

void el_neg_f32(const el_unary_params *p, const float *x, float *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = -x[i];
}

void el_abs_f32(const el_unary_params *p, const float *x, float *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = fabsf(x[i]);
}

void el_erf_f32(const el_unary_params *p, const float *x, float *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = erff(x[i]);
}

void el_floor_f32(const el_unary_params *p, const float *x, float *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = floorf(x[i]);
}

void el_ceil_f32(const el_unary_params *p, const float *x, float *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = ceilf(x[i]);
}

/* rintf rounds half to even in the default rounding mode, as torch.round. */
void el_round_f32(const el_unary_params *p, const float *x, float *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = rintf(x[i]);
}

void el_trunc_f32(const el_unary_params *p, const float *x, float *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = truncf(x[i]);
}
