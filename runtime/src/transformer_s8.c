/*
 * Integer-only transformer nonlinearities on int8 (edgelower.h, "int8 transformer nonlinearities"): softmax with
 * I-BERT's i-exp or I-ViT's Shiftmax polynomial, I-BERT's i-GELU, and I-BERT's LayerNorm with an exact integer
 * square root. compiler/quant/transformer.py is the numpy twin: every constant below is named there, and the tests
 * hold the two to the same bits. Products that can pass 2^31 are int64; right shifts of negative values are
 * arithmetic (fixedpoint.h states the same assumption). All three run in place (y == x): a row's statistics are
 * read before its first output is written, and each output replaces the input it is computed from.
 */
#include "fixedpoint.h"

#define EXP_INPUT_BITS 24 /* d * exp_multiplier is (x_max - x) / ln2 in Q24 */
#define EXP_POLY_BITS 15  /* the fraction phi of that, and the polynomial coefficients: Q15 */
#define ERF_BITS 20       /* |x| / sqrt(2) in Q20 */
#define ERF_POLY_BITS 14  /* the clipped distance to -b in Q14; erf in Q28 */
#define NORM_BITS 24      /* y / sqrt(var) in Q24 (folded into norm_shift) */
#define BIAS_BITS 8       /* the LayerNorm affine result in 1/256 output steps */

uint32_t el_isqrt_u64(uint64_t n)
{
    uint64_t x, y, v = n;
    int32_t bits = 0;
    if (n == 0) {
        return 0;
    }
    while (v) {
        ++bits;
        v >>= 1;
    }
    /* 2^ceil(bits/2) >= sqrt(n); from there the Newton iterates fall strictly to floor(sqrt(n)), after which the
     * next is not smaller. x + n / x <= 2^33. */
    x = (uint64_t)1 << ((bits + 1) / 2);
    for (;;) {
        y = (x + n / x) >> 1;
        if (y >= x) {
            return (uint32_t)x;
        }
        x = y;
    }
}

/* exp(-d * S) in Q30 for d = x_max - x >= 0; 0 from diff_limit on, where it is below 2^-31. */
static int32_t exp_q30(const el_isoftmax_q *q, int32_t d)
{
    int32_t u, z, phi;
    if (d >= q->diff_limit) {
        return 0;
    }
    u = d * q->exp_multiplier; /* below 31 * 2^24 */
    z = u >> EXP_INPUT_BITS;   /* 0 .. 30 */
    phi = (u & ((1 << EXP_INPUT_BITS) - 1)) >> (EXP_INPUT_BITS - EXP_POLY_BITS);
    /* 2^-phi = 1 - b phi + a phi^2 in Q30, in (2^29, 2^30] */
    return ((1 << 30) + (((q->poly_a * phi) >> EXP_POLY_BITS) - q->poly_b) * phi) >> z;
}

void el_isoftmax_s8(const el_softmax_params *p, const el_isoftmax_q *q, const int8_t *x, int8_t *y)
{
    int32_t o, i, k;
    for (o = 0; o < p->outer; ++o) {
        for (i = 0; i < p->inner; ++i) {
            const int32_t base = o * p->axis * p->inner + i;
            int32_t max = INT8_MIN;
            int64_t sum = 0, reciprocal;
            for (k = 0; k < p->axis; ++k) {
                if (x[base + k * p->inner] > max) max = x[base + k * p->inner];
            }
            for (k = 0; k < p->axis; ++k) sum += exp_q30(q, max - x[base + k * p->inner]);
            /* sum >= 2^30 (the maximum's own term), so reciprocal <= 2^32 and e * reciprocal <= 2^62 */
            reciprocal = ((int64_t)1 << 62) / sum;
            for (k = 0; k < p->axis; ++k) {
                const int32_t at = base + k * p->inner;
                const int64_t e = exp_q30(q, max - x[at]);
                const int64_t v = ((e * reciprocal + ((int64_t)1 << 53)) >> 54) - 128;
                y[at] = (int8_t)(v > INT8_MAX ? INT8_MAX : v);
            }
        }
    }
}

void el_igelu_s8(const el_unary_params *p, const el_igelu_q *q, const int8_t *x, int8_t *y)
{
    const int64_t half = (int64_t)1 << (q->output_shift - 1);
    int32_t i;
    for (i = 0; i < p->count; ++i) {
        const int32_t v = x[i] + q->input_offset;
        const int32_t a = v < 0 ? -v : v;
        int32_t m = (a < q->erf_limit ? a : q->erf_limit) * q->erf_multiplier; /* |v| S / sqrt 2, Q20 */
        int32_t t, erf, g;
        if (m > q->erf_clip) m = q->erf_clip;
        t = (q->erf_clip - m) >> (ERF_BITS - ERF_POLY_BITS);
        erf = (1 << 28) - ((t * q->erf_a) >> 15) * t; /* |erf(x / sqrt 2)| in Q28 */
        g = v * (((1 << 28) + (v > 0 ? erf : (v < 0 ? -erf : 0))) >> 8);
        y[i] = el_sat_s8(q->output_offset +
                         (int32_t)(((int64_t)g * q->output_multiplier + half) >> q->output_shift));
    }
}

/* Bits of v (0 for 0), by binary search as compiler/quant/transformer.py's bit_length. */
static int32_t bit_length_u64(uint64_t v)
{
    static const int32_t steps[6] = {32, 16, 8, 4, 2, 1};
    int32_t bits = 0, s;
    for (s = 0; s < 6; ++s) {
        if (v >> steps[s]) {
            v >>= steps[s];
            bits += steps[s];
        }
    }
    return bits + (v ? 1 : 0);
}

void el_ilayer_norm_s8(const el_layer_norm_params *p, const el_ilayer_norm_q *q, const int8_t *x,
                       const int32_t *weight, const int32_t *bias, int8_t *y)
{
    const int32_t cols = p->cols;
    int32_t r, i;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *xr = x + r * cols;
        int8_t *yr = y + r * cols;
        int32_t sum = 0, k, shift;
        int64_t squares = 0, f;
        uint64_t t;
        uint32_t root;
        for (i = 0; i < cols; ++i) sum += xr[i];
        for (i = 0; i < cols; ++i) {
            const int64_t d = (int64_t)cols * xr[i] - sum; /* cols * (x - mean) */
            squares += d * d;
        }
        /* T < 2^62 by the compiler's choice of variance_shift; T << 2k lies in [2^60, 2^62), its root in
         * [2^30, 2^31) */
        t = ((uint64_t)squares << (2 * q->variance_shift)) + (uint64_t)q->epsilon;
        k = (62 - bit_length_u64(t)) >> 1;
        root = el_isqrt_u64(t << (2 * k));
        f = ((int64_t)1 << 62) / (root ? (int64_t)root : 1);
        /* a row of y = 0 only may have k > norm_shift; its z is 0 whatever the shift */
        shift = q->norm_shift - k > 0 ? q->norm_shift - k : 0;
        for (i = 0; i < cols; ++i) {
            const int32_t d = cols * xr[i] - sum;
            const int64_t magnitude = ((int64_t)(d < 0 ? -d : d) * f) >> shift; /* |y| / sqrt(var), Q24 */
            const int64_t z = d < 0 ? -magnitude : magnitude;
            const int64_t acc = ((z * weight[i]) >> q->weight_shift) + bias[i];
            yr[i] = el_sat_s8(q->output_offset + (int32_t)((acc + (1 << (BIAS_BITS - 1))) >> BIAS_BITS));
        }
    }
}
