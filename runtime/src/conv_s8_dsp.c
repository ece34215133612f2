/*
 * DSP fast paths of the int8 convolutions on NCHW inputs and OIHW weights (s8_dsp.h: how they are selected, and why
 * their accumulators are the portable kernels' bits). CMSIS-NN's techniques (ARM-software/CMSIS-NN):
 *
 * - Partial im2col: the windows of two output pixels are gathered, with the input offset added, into two int16
 *   columns ordered like the weights (c, ky, kx); each pair of output channels then runs against both columns, a
 *   2x2 tile in which every weight word and every column word loaded feeds two SMLADs (two 16-bit MACs each).
 *   Scratch is a stack buffer of 2 * EL_DSP_MAX_TAPS int16 (4 KiB by default), CMSIS-NN's two-column bound; a
 *   convolution with more taps per output than that runs the portable loop.
 * - Depthwise, 3-wide: one word of four input bytes x0..x3, split by SXTAB16 into (x0, x2) and (x1, x3), feeds two
 *   adjacent outputs: out0 += x0 w0 + x2 w2 (SMLAD) + x1 w1 (SMLABB), out1 += x1 w0 + x3 w2 (SMLAD) + x2 w1 (SMLATB)
 *   (stride 1), or one output per word (any stride). Each input plane is first copied into a stack buffer of
 *   EL_DSP_DW_PLANE bytes (4 KiB by default) with its padding filled with the zero point, so that border windows run
 *   the same loop; a larger padded plane runs the portable loop.
 */
#include "s8_dsp.h"

#if EL_S8_DSP

#ifndef EL_DSP_MAX_TAPS
#define EL_DSP_MAX_TAPS 1024
#endif

/* Where tap k of a column is stored. SXTAB16 splits a weight word w0 w1 w2 w3 into the halfword pairs (w0, w2) and
 * (w1, w3); storing every full quad of the column as x0 x2 x1 x3 makes the quad's two words the matching pairs, so
 * the inner loop needs no repacking. The tail after the last full quad (k >= k4) stays in place. */
static inline int32_t slot(int32_t k, int32_t k4)
{
    return k < k4 ? k ^ ((((k >> 1) ^ k) & 1) * 3) : k;
}

/* The column of output pixel (oy, ox) reading input group xg: x + x_off per tap in weight order, and 0 for taps in
 * the padding. Padding stands for the input zero point, whose x + x_off is 0: its products are the zero terms the
 * portable kernel skips. */
static void im2col(const el_conv2d_params *p, const int8_t *xg, int32_t cin_g, int32_t oy, int32_t ox, int32_t x_off,
                   int32_t k4, int16_t *col)
{
    const int32_t plane = p->in_h * p->in_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    const int32_t ix0 = ox * p->stride_w - p->pad_left;
    int32_t c, ky, kx, k = 0;
    for (c = 0; c < cin_g; ++c) {
        const int8_t *xc = xg + c * plane;
        for (ky = 0; ky < p->kernel_h; ++ky) {
            const int32_t iy = iy0 + ky * p->dilation_h;
            const int in_row = iy >= 0 && iy < p->in_h;
            for (kx = 0; kx < p->kernel_w; ++kx, ++k) {
                const int32_t ix = ix0 + kx * p->dilation_w;
                const int inside = in_row && ix >= 0 && ix < p->in_w;
                col[slot(k, k4)] = (int16_t)(inside ? xc[iy * p->in_w + ix] + x_off : 0);
            }
        }
    }
}

/* acc {w0.c0, w0.c1, w1.c0, w1.c1} += the dot products over K taps of weight rows w0, w1 (int8, + w_off) with the
 * columns c0, c1. */
static void tile_2x2(const int8_t *w0, const int8_t *w1, const int16_t *c0, const int16_t *c1, int32_t K, int32_t k4,
                     int32_t w_off, int32_t acc[4])
{
    const int32_t w_pair = (int32_t)el_offset_pair(w_off);
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    int32_t k;
    for (k = 0; k < k4; k += 4) {
        const uint32_t wa = el_read32(w0 + k), wb = el_read32(w1 + k);
        const int32_t wa02 = __sxtab16(w_pair, (int32_t)wa), wa13 = __sxtab16(w_pair, (int32_t)el_ror8(wa));
        const int32_t wb02 = __sxtab16(w_pair, (int32_t)wb), wb13 = __sxtab16(w_pair, (int32_t)el_ror8(wb));
        const int32_t x0e = (int32_t)el_read32(c0 + k), x0o = (int32_t)el_read32(c0 + k + 2);
        const int32_t x1e = (int32_t)el_read32(c1 + k), x1o = (int32_t)el_read32(c1 + k + 2);
        a00 = __smlad(wa02, x0e, a00);
        a00 = __smlad(wa13, x0o, a00);
        a01 = __smlad(wa02, x1e, a01);
        a01 = __smlad(wa13, x1o, a01);
        a10 = __smlad(wb02, x0e, a10);
        a10 = __smlad(wb13, x0o, a10);
        a11 = __smlad(wb02, x1e, a11);
        a11 = __smlad(wb13, x1o, a11);
    }
    for (; k < K; ++k) {
        const uint32_t va = (uint32_t)(w0[k] + w_off), vb = (uint32_t)(w1[k] + w_off);
        a00 = (int32_t)((uint32_t)a00 + va * (uint32_t)c0[k]);
        a01 = (int32_t)((uint32_t)a01 + va * (uint32_t)c1[k]);
        a10 = (int32_t)((uint32_t)a10 + vb * (uint32_t)c0[k]);
        a11 = (int32_t)((uint32_t)a11 + vb * (uint32_t)c1[k]);
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

int el_conv_im2col_dsp(const el_conv2d_params *p, const el_dot_q *q, const int8_t *x, const int8_t *w,
                       const int32_t *bias, const el_sink *out)
{
    const int32_t cin_g = p->in_channels / p->groups;
    const int32_t cout_g = p->out_channels / p->groups;
    const int32_t K = cin_g * p->kernel_h * p->kernel_w;
    const int32_t k4 = K & ~3;
    const int32_t stride = (K + 1) & ~1;  /* column 1 starts on a 4-byte boundary */
    const int32_t plane = p->in_h * p->in_w;
    const int32_t npix = p->out_h * p->out_w;
    int16_t cols[2 * EL_DSP_MAX_TAPS];
    int32_t n, g, pix, o;
    if (K > EL_DSP_MAX_TAPS || !el_offset_fits16(q->input_offset) || !el_offset_fits16(q->weight_offset)) {
        return 0;
    }
    for (n = 0; n < p->batch; ++n) {
        for (g = 0; g < p->groups; ++g) {
            const int8_t *xg = x + (n * p->in_channels + g * cin_g) * plane;
            const int32_t o_end = (g + 1) * cout_g;
            for (pix = 0; pix < npix; pix += 2) {
                /* An odd last pixel runs against itself as the second column; that result is not stored. */
                const int two = pix + 1 < npix;
                const int16_t *c1 = two ? cols + stride : cols;
                im2col(p, xg, cin_g, pix / p->out_w, pix % p->out_w, q->input_offset, k4, cols);
                if (two) {
                    im2col(p, xg, cin_g, (pix + 1) / p->out_w, (pix + 1) % p->out_w, q->input_offset, k4,
                           cols + stride);
                }
                for (o = g * cout_g; o < o_end; o += 2) {
                    /* Likewise an odd last channel is its own second row. */
                    const int pair = o + 1 < o_end;
                    const int32_t o1 = pair ? o + 1 : o;
                    const int32_t b0 = bias ? bias[o] : 0, b1 = bias ? bias[o1] : 0;
                    const int32_t y0 = (n * p->out_channels + o) * npix + pix;
                    int32_t acc[4];
                    acc[0] = b0;
                    acc[1] = b0;
                    acc[2] = b1;
                    acc[3] = b1;
                    tile_2x2(w + o * K, w + o1 * K, cols, c1, K, k4, q->weight_offset, acc);
                    el_put(out, y0, o, (uint32_t)acc[0]);
                    if (two) {
                        el_put(out, y0 + 1, o, (uint32_t)acc[1]);
                    }
                    if (pair) {
                        el_put(out, y0 + npix, o1, (uint32_t)acc[2]);
                        if (two) {
                            el_put(out, y0 + npix + 1, o1, (uint32_t)acc[3]);
                        }
                    }
                }
            }
        }
    }
    return 1;
}

/* Two int16 values in one word, lo in the bottom halfword. */
static inline int32_t halves(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16));
}

#define EL_DSP_DW_MAX_ROWS 8
#ifndef EL_DSP_DW_PLANE
#define EL_DSP_DW_PLANE 4096
#endif

int el_conv_depthwise_dsp(const el_conv2d_params *p, const el_dot_q *q, const int8_t *x, const int8_t *w,
                          const int32_t *bias, const el_sink *out)
{
    const int32_t kh = p->kernel_h, dh = p->dilation_h, sh = p->stride_h, sw = p->stride_w;
    const int32_t multiplier = p->out_channels / p->in_channels;
    const int32_t plane = p->in_h * p->in_w;
    const int32_t x_off = q->input_offset, w_off = q->weight_offset;
    const int32_t x_pair = (int32_t)el_offset_pair(x_off);
    /* The padded plane: the input with the padding every window reaches, and on the right what the last word read
     * (4 bytes from the last window's start) reaches. */
    const int32_t bottom = (p->out_h - 1) * sh + (kh - 1) * dh + 1 - p->pad_top - p->in_h;
    const int32_t right = (p->out_w - 1) * sw + 4 - p->pad_left - p->in_w;
    const int32_t hp = p->pad_top + p->in_h + (bottom > 0 ? bottom : 0);
    const int32_t wp = p->pad_left + p->in_w + (right > 0 ? right : 0);
    int8_t padded[EL_DSP_DW_PLANE];
    int32_t w02[EL_DSP_DW_MAX_ROWS], w1[EL_DSP_DW_MAX_ROWS];
    int32_t n, c, m, oy, ox, ky, row;
    if (p->kernel_w != 3 || p->dilation_w != 1 || kh > EL_DSP_DW_MAX_ROWS || hp * wp > EL_DSP_DW_PLANE
        || x_off < -127 || x_off > 128 || !el_offset_fits16(w_off)) {
        return 0;
    }
    for (n = 0; n < p->batch; ++n) {
        for (c = 0; c < p->in_channels; ++c) {
            /* Padding holds the input zero point -x_off (an int8 by the check above), whose x + x_off is 0: its
             * products are the zero terms the portable kernel skips, so every window runs the full kernel. */
            memset(padded, -x_off, (size_t)(hp * wp));
            for (row = 0; row < p->in_h; ++row) {
                memcpy(padded + (p->pad_top + row) * wp + p->pad_left, x + (n * p->in_channels + c) * plane
                       + row * p->in_w, (size_t)p->in_w);
            }
            for (m = 0; m < multiplier; ++m) {
                const int32_t o = c * multiplier + m;
                const int8_t *wo = w + o * kh * 3;
                const int32_t b = bias ? bias[o] : 0;
                int32_t i = (n * p->out_channels + o) * p->out_h * p->out_w;
                for (ky = 0; ky < kh; ++ky) {
                    w02[ky] = halves(wo[3 * ky] + w_off, wo[3 * ky + 2] + w_off);
                    w1[ky] = wo[3 * ky + 1] + w_off;
                }
                for (oy = 0; oy < p->out_h; ++oy) {
                    const int8_t *window = padded + oy * sh * wp;
                    ox = 0;
                    if (sw == 1) {
                        for (; ox + 1 < p->out_w; ox += 2) {
                            int32_t acc0 = b, acc1 = b;
                            for (ky = 0; ky < kh; ++ky) {
                                const uint32_t word = el_read32(window + ky * dh * wp + ox);
                                const int32_t x02 = __sxtab16(x_pair, (int32_t)word);
                                const int32_t x13 = __sxtab16(x_pair, (int32_t)el_ror8(word));
                                acc0 = __smlad(x02, w02[ky], acc0);
                                acc0 = __smlabb(x13, w1[ky], acc0);
                                acc1 = __smlad(x13, w02[ky], acc1);
                                acc1 = __smlatb(x02, w1[ky], acc1);
                            }
                            el_put(out, i++, o, (uint32_t)acc0);
                            el_put(out, i++, o, (uint32_t)acc1);
                        }
                    }
                    for (; ox < p->out_w; ++ox) {
                        /* One window per word: x0 x1 x2 are its taps, x3 is not used. */
                        int32_t acc = b;
                        for (ky = 0; ky < kh; ++ky) {
                            const uint32_t word = el_read32(window + ky * dh * wp + ox * sw);
                            acc = __smlad(__sxtab16(x_pair, (int32_t)word), w02[ky], acc);
                            acc = __smlabb(__sxtab16(x_pair, (int32_t)el_ror8(word)), w1[ky], acc);
                        }
                        el_put(out, i++, o, (uint32_t)acc);
                    }
                }
            }
        }
    }
    return 1;
}

#else
/* ISO C forbids an empty translation unit; on cores without the DSP extension this file declares only this. */
typedef int el_conv_s8_dsp_unused;
#endif
