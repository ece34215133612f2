/*
 * DSP fast path of the int8 fully connected kernel (s8_dsp.h: how it is selected, and why its accumulators are the
 * portable kernel's bits). Input row and weight rows are both int8 and contiguous along in_features: SXTAB16 splits
 * each word of either into the halfword pairs (v0, v2) and (v1, v3) with the offset added, the pairs of the two
 * operands match, and two SMLADs make four MACs. Each input word loaded serves two output features.
 */
#include "s8_dsp.h"

#if EL_S8_DSP

int el_linear_dsp(const el_linear_params *p, const el_dot_q *q, const int8_t *x, const int8_t *w,
                  const int32_t *bias, const el_sink *out)
{
    const int32_t K = p->in_features, k4 = K & ~3;
    const int32_t x_off = q->input_offset, w_off = q->weight_offset;
    const int32_t x_pair = (int32_t)el_offset_pair(x_off), w_pair = (int32_t)el_offset_pair(w_off);
    int32_t r, o, k;
    if (!el_offset_fits16(x_off) || !el_offset_fits16(w_off)) {
        return 0;
    }
    for (r = 0; r < p->rows; ++r) {
        const int8_t *xr = x + r * K;
        for (o = 0; o < p->out_features; o += 2) {
            /* An odd last feature runs as its own partner; the partner's result is not stored. */
            const int pair = o + 1 < p->out_features;
            const int32_t o1 = pair ? o + 1 : o;
            const int8_t *wa = w + o * K, *wb = w + o1 * K;
            int32_t a0 = bias ? bias[o] : 0, a1 = bias ? bias[o1] : 0;
            for (k = 0; k < k4; k += 4) {
                const uint32_t xv = el_read32(xr + k), va = el_read32(wa + k), vb = el_read32(wb + k);
                const int32_t x02 = __sxtab16(x_pair, (int32_t)xv), x13 = __sxtab16(x_pair, (int32_t)el_ror8(xv));
                a0 = __smlad(x02, __sxtab16(w_pair, (int32_t)va), a0);
                a0 = __smlad(x13, __sxtab16(w_pair, (int32_t)el_ror8(va)), a0);
                a1 = __smlad(x02, __sxtab16(w_pair, (int32_t)vb), a1);
                a1 = __smlad(x13, __sxtab16(w_pair, (int32_t)el_ror8(vb)), a1);
            }
            for (; k < K; ++k) {
                const uint32_t xv = (uint32_t)(xr[k] + x_off);
                a0 = (int32_t)((uint32_t)a0 + xv * (uint32_t)(wa[k] + w_off));
                a1 = (int32_t)((uint32_t)a1 + xv * (uint32_t)(wb[k] + w_off));
            }
            el_put(out, r * p->out_features + o, o, (uint32_t)a0);
            if (pair) {
                el_put(out, r * p->out_features + o1, o1, (uint32_t)a1);
            }
        }
    }
    return 1;
}

#else
/* ISO C forbids an empty translation unit; on cores without the DSP extension this file declares only this. */
typedef int el_dense_s8_dsp_unused;
#endif
