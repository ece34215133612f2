/*
 * int8 activations. Clamp is exact; HARDSWISH mirrors TFLite reference_ops::HardSwish (int8, 16-bit fixed point);
 * SIGMOID and TANH mirror reference_integer_ops::Logistic and ::Tanh, whose outputs have TFLite's fixed
 * quantization (scale 1/256, zero point -128; scale 1/128, zero point 0). All run in place (y == x).
 */
#include "s8.h"

void el_clamp_s8(const el_unary_params *p, int32_t lo, int32_t hi, const int8_t *x, int8_t *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = (int8_t)el_clamp_i32(x[i], lo, hi);
}

/* TFLite HardSwish: x on a 2^7-finer int16 scale; the output-scaled x times a "relu-ish" factor in [0, 1] (x
 * rescaled so that 3 maps to 2^15, saturated to [-1, 1], mapped to [0, 1]); then the output shift and zero point. */
static int8_t hardswish_one(const el_hardswish_q *q, int32_t x)
{
    const int16_t input_value = (int16_t)el_wrap_add(x, q->input_offset);
    const int16_t hires = (int16_t)(input_value * (1 << 7));
    const int16_t preshift = el_srdhm16(hires, (int16_t)q->output_multiplier_fixedpoint_int16);
    const int32_t reluish_exponent = q->reluish_multiplier_exponent;
    int16_t reluish = hires;
    int16_t out;
    if (reluish_exponent > 0) {
        reluish = el_sat_shl16(reluish, reluish_exponent - 1);
    }
    reluish = el_srdhm16(reluish, (int16_t)q->reluish_multiplier_fixedpoint_int16);
    if (reluish_exponent > 0) {
        reluish = el_sat_shl16(reluish, 1);
    }
    if (reluish_exponent < 0) {
        reluish = el_rdbpot16(reluish, -reluish_exponent);
    }
    reluish = (int16_t)((reluish + (1 << 15)) >> 1);
    out = el_rdbpot16(el_sdhm16(reluish, preshift), -q->output_multiplier_exponent);
    out = (int16_t)(out + q->output_offset);
    return el_sat_s8(out);
}

void el_hardswish_s8(const el_unary_params *p, const el_hardswish_q *q, const int8_t *x, int8_t *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = hardswish_one(q, x[i]);
}

/* The input on gemmlowp's Q4.27 scale, or saturation: -1 (below -radius), +1 (above +radius), 0 (inside). */
static int32_t to_q4(const el_logistic_q *q, int32_t x, int *saturated)
{
    const int32_t input = el_wrap_add(x, q->input_offset);
    *saturated = input <= -q->input_range_radius ? -1 : (input >= q->input_range_radius ? 1 : 0);
    return *saturated ? 0 : el_mbqm(input, q->input_multiplier, q->input_left_shift);
}

void el_sigmoid_s8(const el_unary_params *p, const el_logistic_q *q, const int8_t *x, int8_t *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) {
        int saturated;
        const int32_t in_q4 = to_q4(q, x[i], &saturated);
        if (saturated) {
            y[i] = saturated < 0 ? INT8_MIN : INT8_MAX;
        } else {
            /* Q0 logistic -> scale 1/256: divide by 2^(31 - 8), then the output zero point -128. */
            y[i] = el_sat_s8(el_rdbpot(el_fp_logistic(in_q4, 4), 23) - 128);
        }
    }
}

void el_tanh_s8(const el_unary_params *p, const el_logistic_q *q, const int8_t *x, int8_t *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) {
        int saturated;
        const int32_t in_q4 = to_q4(q, x[i], &saturated);
        if (saturated) {
            y[i] = saturated < 0 ? INT8_MIN : INT8_MAX;
        } else {
            /* Q0 tanh -> scale 1/128: divide by 2^(31 - 7). */
            y[i] = el_sat_s8(el_rdbpot(el_fp_tanh(in_q4, 4), 24));
        }
    }
}

void el_lookup_s8(const el_unary_params *p, const int8_t *table, const int8_t *x, int8_t *y)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) y[i] = table[x[i] + 128];
}
