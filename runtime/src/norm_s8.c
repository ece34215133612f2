/*
 * int8 softmax, TFLite reference_ops::Softmax (int8 input, int8 output), along any axis of [outer, axis, inner]:
 * differences to the maximum at or above diff_min are rescaled to Q5.26 (beta and the input scale folded into the
 * multiplier), exponentiated with gemmlowp's exp_on_negative_values, summed in Q12.19, and each exp is multiplied by
 * the sum's fixed-point reciprocal and brought to scale 1/256, zero point -128. Runs in place: every input is read
 * (max and sum) before the first output is written, and each output replaces the input it was computed from.
 */
#include "s8.h"

/* input_diff on Q5.26: TFLite MultiplyByQuantizedMultiplierGreaterThanOne (the shift is a left shift). */
static inline int32_t scaled_diff(const el_softmax_q *q, int32_t diff)
{
    return el_srdhm(el_wrap_shl(diff, q->input_left_shift), q->input_multiplier);
}

void el_softmax_s8(const el_softmax_params *p, const el_softmax_q *q, const int8_t *x, int8_t *y)
{
    int32_t o, i, k;
    for (o = 0; o < p->outer; ++o) {
        for (i = 0; i < p->inner; ++i) {
            const int32_t base = o * p->axis * p->inner + i;
            int32_t max = INT8_MIN, sum = 0, num_bits_over_unit, scale, exponent;
            for (k = 0; k < p->axis; ++k) {
                if (x[base + k * p->inner] > max) max = x[base + k * p->inner];
            }
            for (k = 0; k < p->axis; ++k) {
                const int32_t diff = x[base + k * p->inner] - max;
                if (diff >= q->diff_min) {
                    const int32_t e = el_fp_exp_on_negative_values(scaled_diff(q, diff), 5);
                    sum = el_wrap_add(sum, el_fp_mul_pot(e, -12)); /* Q0 -> Q12 */
                }
            }
            scale = el_fp_reciprocal(sum, 12, &num_bits_over_unit);
            exponent = num_bits_over_unit + 31 - 8;
            for (k = 0; k < p->axis; ++k) {
                const int32_t at = base + k * p->inner;
                const int32_t diff = x[at] - max;
                if (diff >= q->diff_min) {
                    const int32_t e = el_fp_exp_on_negative_values(scaled_diff(q, diff), 5);
                    /* An int32 divided by 2^32 or more rounds to 0 (a row of over 2^11 maxima: TFLite aborts). */
                    const int32_t unsat = exponent > 31 ? 0 : el_rdbpot(el_srdhm(scale, e), exponent);
                    y[at] = el_sat_s8(unsat - 128);
                } else {
                    y[at] = INT8_MIN;
                }
            }
        }
    }
}
